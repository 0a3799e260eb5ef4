// The chaos test's writer: its own ordinary session (reconnected after every server restart) that commits
// small transactions to random watched tables at random intervals, and stamps each COMMIT as it returns.
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import type { CommitRecord, Rng, Timeline } from './chaos.js';
import type { ClusterInfo } from './cluster.js';

/**
 * A watched table: how SQL names it, and the payload a Batch uses for it (contract R13; a partition's is its
 * root's, contract R20). The writer inserts only `note`: every other column needs a default.
 */
export interface ChaosTable {
  readonly sql: string;
  readonly payload: string;
}

/** Paces an actor (this is not a wait for a condition): `ms`, or less when `signal` aborts. */
export async function pace(ms: number, signal: AbortSignal): Promise<void> {
  await delay(ms, undefined, { signal }).catch(() => {});
}

export class ChaosWriter {
  readonly commits: CommitRecord[] = [];
  /** Transactions that failed (the server restarting under them); their outcome is unknown, so unchecked. */
  failures = 0;
  /** Sessions opened: 1 plus one per reconnect. */
  sessions = 0;
  readonly #info: ClusterInfo;
  readonly #database: string;
  readonly #tables: ChaosTable[];
  readonly #timeline: Timeline;
  readonly #rng: Rng;
  readonly #stop = new AbortController();
  #client: pg.Client | null = null;
  #running: Promise<void> | null = null;

  constructor(options: {
    info: ClusterInfo;
    database: string;
    tables: readonly ChaosTable[];
    timeline: Timeline;
    rng: Rng;
  }) {
    this.#info = options.info;
    this.#database = options.database;
    this.#tables = [...options.tables];
    this.#timeline = options.timeline;
    this.#rng = options.rng;
  }

  /** Commits every 5–50 ms until stop(): modest, since four majors run this at once on two cores. */
  start(): void {
    this.#running = (async () => {
      while (!this.#stop.signal.aborted) {
        await pace(this.#rng.int(5, 50), this.#stop.signal);
        if (this.#stop.signal.aborted) break;
        const count = this.#rng.chance(0.3) ? 2 : 1;
        const tables = this.#rng.shuffle(this.#tables).slice(0, count);
        if (!(await this.commit(tables))) await pace(100, this.#stop.signal);
      }
    })();
  }

  /** The tables the random commits choose from. */
  get tables(): readonly ChaosTable[] {
    return this.#tables;
  }

  /** Adds `table` to those the random commits choose from (a partition created during the run). */
  addTable(table: ChaosTable): void {
    this.#tables.push(table);
  }

  /** Stops the random commits (the current one finishes); commit() still works afterwards. */
  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#running;
  }

  /**
   * One transaction that changes at least one row of each of `tables` (the oracle expects a wakeup for
   * every commit, so a statement that could match no row never stands alone). True once COMMIT returned.
   */
  async commit(tables: readonly ChaosTable[]): Promise<boolean> {
    const statements = ['BEGIN'];
    for (const table of tables) {
      const insert = `INSERT INTO ${table.sql} (note) SELECT 'chaos' FROM generate_series(1, ${this.#rng.int(1, 5)})`;
      const extra = this.#rng.next();
      if (extra < 0.02) statements.push(`TRUNCATE ${table.sql}`, insert);
      else if (extra < 0.17)
        statements.push(
          insert,
          `UPDATE ${table.sql} SET n = n + 1 WHERE id > (SELECT max(id) - 3 FROM ${table.sql})`,
        );
      else if (extra < 0.27)
        statements.push(
          insert,
          `DELETE FROM ${table.sql} WHERE id < (SELECT max(id) - 20 FROM ${table.sql})`,
        );
      else statements.push(insert);
    }
    statements.push('COMMIT');
    const sql = statements.join(';\n');
    try {
      const client = await this.#connected();
      const sent = this.#timeline.stamp();
      await client.query(sql);
      const done = this.#timeline.stamp();
      for (const table of tables) this.commits.push({ table: table.payload, sent, done });
      return true;
    } catch {
      this.failures += 1;
      this.#drop();
      return false;
    }
  }

  /** Ends the session. */
  async close(): Promise<void> {
    await this.stop();
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => {});
  }

  async #connected(): Promise<pg.Client> {
    if (this.#client) return this.#client;
    const client = new pg.Client({
      host: this.#info.host,
      port: this.#info.port,
      user: this.#info.superuser.user,
      password: this.#info.superuser.password,
      database: this.#database,
      connectionTimeoutMillis: 5000,
      // A server that restarts under a query ends it; this bounds anything else.
      query_timeout: 15_000,
    });
    // A session the server ends emits 'error'; the next commit() reconnects.
    client.on('error', () => this.#drop(client));
    this.sessions += 1;
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    this.#client = client;
    return client;
  }

  #drop(client = this.#client): void {
    if (client === null) return;
    if (this.#client === client) this.#client = null;
    client.end().catch(() => {});
  }
}

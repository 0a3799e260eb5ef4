// One chaos run with the no-lost-wakeup oracle, for any feed kind (contract R1–R8, R11, R12): a writer commits
// to four watched tables (and any the run adds) at random intervals while faults hit the feed at random
// moments, on a cluster of the run's own (it restarts it). Afterwards every commit must have been followed,
// at every consumer, by a Batch naming its table or by a Resync, and nothing of the feed may be left on the
// server once it is closed. test/live/chaos.test.ts runs a WalFeed through it, test/live/chaos-raw.test.ts
// a RawFeed, test/live/chaos-brokers.test.ts a bridge on Redis and NATS with BrokerFeed consumers.
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import pg from 'pg';
import type { FeedItem } from '../../src/index.js';
import {
  type CommitRecord,
  checkCoverage,
  describeFaults,
  explainUncovered,
  type FaultRecord,
  figures,
  type ItemRecord,
  Rng,
  type Stamp,
  Timeline,
} from './chaos.js';
import { type ChaosTable, ChaosWriter, pace } from './chaos-writer.js';
import { Cluster, runSql, scratchDatabase } from './cluster.js';
import { TcpProxy } from './tcp-proxy.js';
import { waitFor } from './wait.js';

/**
 * What the injector can do: end the feed's walsender or (RawFeed) its catalog connection, restart the
 * server fast or crash it, blackhole or reset the link, take every replication slot for a while; a run's
 * own faults (its `customFaults`) kill a broker.
 */
export type FaultKind =
  | 'terminate'
  | 'terminate-catalog'
  | 'restart-fast'
  | 'restart-immediate'
  | 'blackhole'
  | 'reset'
  | 'slots'
  | 'kill-redis'
  | 'kill-nats';

/** A feed the run can drive: iterate it once, close it. */
export type ChaosFeed = AsyncIterable<FeedItem> & { close(): Promise<void> };

/** Several consumers behind one producer (a bridge): the oracle checks each consumer's items. */
export interface ChaosFanout {
  readonly consumers: readonly { name: string; feed: ChaosFeed }[];
  /** Closes the consumers and the producer. */
  close(): Promise<void>;
}

/** What a run may do halfway through, with the writer at hand (a partition created and written to). */
export interface ChaosContext {
  cluster: Cluster;
  database: string;
  writer: ChaosWriter;
  timeline: Timeline;
}

/** Options the run gives a feed: the proxy, the tables, the pacing; the kind adds its own. */
export interface ChaosFeedOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  sslmode: 'verify-full' | 'prefer';
  sslrootcert?: string;
  tables: string[];
  applicationName: string;
  debounce: number;
  statusInterval: number;
  livenessTimeout: number;
  connectTimeout: number;
  backoff: { initial: number; maximum: number };
  logger: StampedLog['logger'];
}

export interface ChaosRun {
  /** The feed kind, for the report. */
  readonly name: string;
  readonly seconds: number;
  readonly seed: number;
  readonly major: number;
  readonly walLevel: 'logical' | 'replica';
  /** Extra postgresql.conf settings of the run's cluster. */
  readonly settings: Record<string, string | number>;
  readonly faults: readonly FaultKind[];
  /** Watched tables besides the four plain ones, and the SQL that creates them. */
  readonly tables?: readonly ChaosTable[];
  readonly ddl?: string;
  openFeed(options: ChaosFeedOptions): ChaosFeed | ChaosFanout;
  /** Faults the run injects itself; each resolves to its note. */
  readonly customFaults?: Partial<Record<FaultKind, () => Promise<string>>>;
  /** Whether a fault of `kind` must make `consumer` resync (default: every fault, every consumer). */
  affects?(kind: FaultKind, consumer: string): boolean;
  /** Runs once, halfway through the faults (or before the final commits if the run never got there). */
  halfway?(context: ChaosContext): Promise<void>;
  /** Lines for the report besides the oracle's figures. */
  report?(commits: readonly CommitRecord[]): string[];
}

const APPLICATION = 'pgnudge_chaos';
/** How long the feed may take to come back after a fault before the run counts it as hung. */
const RECOVERY_MS = 30_000;

const TABLES: ChaosTable[] = [
  { sql: 'public.chaos_a', payload: 'public.chaos_a' },
  { sql: 'public.chaos_b', payload: 'public.chaos_b' },
  { sql: 'public.chaos_c', payload: 'public.chaos_c' },
  // A quoted identifier, so the filter and the payload are exercised across every reconnect too.
  { sql: 'public."Chaos D"', payload: 'public.Chaos D' },
];

/** Everything the feed logged, stamped, so the injector can wait for "the link was seen dead". */
export class StampedLog {
  readonly lines: { stamp: Stamp; level: string; message: string }[] = [];
  constructor(readonly timeline: Timeline) {}
  readonly logger = {
    info: (message: string) => this.#add('info', message),
    warn: (message: string) => this.#add('warn', message),
    error: (message: string) => this.#add('error', message),
  };
  #add(level: string, message: string) {
    this.lines.push({ stamp: this.timeline.stamp(), level, message });
  }
  since(seq: number, pattern: RegExp) {
    return this.lines.filter((line) => line.stamp.seq > seq && pattern.test(line.message));
  }
}

/** Injects one fault at a time and records it; every step has a deadline. */
class Injector {
  readonly faults: FaultRecord[] = [];
  readonly #cluster: Cluster;
  readonly #proxy: TcpProxy;
  readonly #log: StampedLog;
  readonly #timeline: Timeline;
  readonly #rng: Rng;
  readonly #database: string;
  readonly #custom: NonNullable<ChaosRun['customFaults']>;

  constructor(options: {
    cluster: Cluster;
    proxy: TcpProxy;
    log: StampedLog;
    timeline: Timeline;
    rng: Rng;
    database: string;
    custom: ChaosRun['customFaults'];
  }) {
    this.#custom = options.custom ?? {};
    this.#cluster = options.cluster;
    this.#proxy = options.proxy;
    this.#log = options.log;
    this.#timeline = options.timeline;
    this.#rng = options.rng;
    this.#database = options.database;
  }

  async inject(kind: FaultKind): Promise<FaultRecord> {
    const fault: FaultRecord = { kind, stamp: this.#timeline.stamp() };
    this.faults.push(fault);
    const custom = this.#custom[kind];
    if (custom) {
      fault.note = await custom();
      return fault;
    }
    switch (kind) {
      case 'terminate':
        fault.note = `${await this.#terminate('walsender')} walsender(s) terminated`;
        break;
      case 'terminate-catalog':
        fault.note = `${await this.#terminate('client backend')} catalog session(s) terminated`;
        break;
      case 'restart-fast':
      case 'restart-immediate':
        await this.#cluster.restart(kind === 'restart-fast' ? 'fast' : 'immediate');
        break;
      case 'reset':
        fault.note = `${this.#proxy.open} link(s) reset`;
        this.#proxy.reset();
        break;
      case 'blackhole':
        fault.note = await this.#blackhole(fault.stamp);
        break;
      case 'slots':
        fault.note = await this.#takeAllSlots(fault.stamp);
        break;
      default:
        throw new Error(`the run injects ${kind} itself: give it in customFaults`);
    }
    return fault;
  }

  async #terminate(backendType: 'walsender' | 'client backend'): Promise<number> {
    const rows = await runSql(
      this.#cluster.info,
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = '${backendType}' AND application_name = '${APPLICATION}'`,
    );
    return rows.length;
  }

  /** Drops all traffic until the feed says the link is dead (liveness, or a connect timeout), then heals. */
  async #blackhole(start: Stamp): Promise<string> {
    this.#proxy.blackhole();
    try {
      const seen = await waitFor(() => this.#log.since(start.seq, /LIVENESS_TIMEOUT|CONNECT_TIMEOUT/)[0], {
        timeoutMs: 15_000,
        what: 'the feed to see the blackholed link dead',
      });
      return `seen dead after ${Math.round(seen.stamp.at - start.at)} ms (${/LIVENESS_TIMEOUT|CONNECT_TIMEOUT/.exec(seen.message)?.[0]})`;
    } catch {
      return 'NOT seen dead within 15 s';
    } finally {
      this.#proxy.restore();
    }
  }

  /**
   * Fills every free slot from ordinary sessions (one persistent slot, the rest temporary), ends the feed's
   * walsender and takes its slot too as soon as the server frees it, holds them 1–3 s while the feed is
   * refused, then releases them: the persistent one dropped by name, the temporary ones by ending their
   * sessions. One session per temporary slot: any ERROR in a session (53400 included) drops every
   * temporary slot that session holds.
   */
  async #takeAllSlots(start: Stamp): Promise<string> {
    const info = this.#cluster.info;
    const sessions: pg.Client[] = [];
    const session = async () => {
      const client = new pg.Client({
        host: info.host,
        port: info.port,
        user: info.superuser.user,
        password: info.superuser.password,
        database: this.#database,
        connectionTimeoutMillis: 5000,
        query_timeout: 10_000,
      });
      client.on('error', () => {});
      sessions.push(client);
      await client.connect();
      return client;
    };
    const persistent = `chaos_hold_${start.seq}_persistent`;
    let held = 0;
    /** Creates one slot on `client`; false when every slot is in use. */
    const take = async (client: pg.Client, temporary: boolean): Promise<boolean> => {
      const name = temporary ? `chaos_hold_${start.seq}_${held}` : persistent;
      try {
        await client.query(`SELECT pg_create_physical_replication_slot('${name}', false, ${temporary})`);
        held += 1;
        return true;
      } catch (error) {
        if ((error as { code?: string }).code === '53400') return false;
        throw error;
      }
    };
    try {
      if (await take(await session(), false)) while (await take(await session(), true)) {}
      const terminated = await this.#terminate('walsender');
      // Race the feed's reconnect for the slot its walsender leaves behind.
      const racer = await session();
      const grabbed = await waitFor(() => take(racer, true), {
        timeoutMs: 2000,
        intervalMs: 5,
        what: 'the freed slot',
      }).catch(() => false);
      const holdMs = this.#rng.int(1000, 3000);
      const holding = this.#timeline.stamp();
      await pace(holdMs, new AbortController().signal);
      const refused = this.#log.since(holding.seq, /53400/).length;
      return `${held} slot(s) held for ${holdMs} ms after ${terminated} walsender(s) terminated; ${grabbed ? 'took the freed slot' : terminated === 0 ? 'no walsender to free one' : 'the feed took the freed slot first'}; the feed was refused ${refused} time(s)`;
    } finally {
      await sessions[0]?.query(`SELECT pg_drop_replication_slot('${persistent}')`).catch(() => {});
      await Promise.all(sessions.map((client) => client.end().catch(() => {})));
    }
  }
}

/** The feed's items as the consumer pulled them, stamped. */
function consume(feed: ChaosFeed, timeline: Timeline, items: ItemRecord[]) {
  const state = { error: undefined as unknown, done: false };
  const record = (item: FeedItem) => {
    const stamp = timeline.stamp();
    if (item.type === 'resync') items.push({ stamp, type: 'resync', reason: item.reason });
    else items.push({ stamp, type: 'batch', payloads: item.events.map((event) => event.payload) });
  };
  const finished = (async () => {
    try {
      for await (const item of feed) record(item);
    } catch (error) {
      state.error = error;
    } finally {
      state.done = true;
    }
  })();
  return { state, finished };
}

function report(t: TestContext, name: string, lines: string[]) {
  for (const line of lines) {
    t.diagnostic(line);
    console.log(`chaos ${name}: ${line}`);
  }
}

/** One consumer's items, as it pulled them, and how its iteration ended. */
interface Consumed {
  readonly name: string;
  readonly feed: ChaosFeed;
  readonly items: ItemRecord[];
  readonly state: { error: unknown; done: boolean };
  readonly finished: Promise<void>;
}

/** Runs one chaos run to its end and asserts the oracle; see the file comment. */
export async function runChaos(t: TestContext, run: ChaosRun): Promise<void> {
  const { seconds, seed } = run;
  report(t, run.name, [
    `seed ${seed} (replay with PGNUDGE_CHAOS_SEED=${seed}), ${seconds} s on PostgreSQL ${run.major} at wal_level = ${run.walLevel}`,
  ]);
  const cluster = await Cluster.start({ major: run.major, walLevel: run.walLevel, settings: run.settings });
  t.after(() => cluster.stop());
  const db = await scratchDatabase(cluster.info, 'chaos');
  await cluster.sql(
    [
      ...TABLES.map(
        (table) =>
          `CREATE TABLE ${table.sql} (id bigserial PRIMARY KEY, n int NOT NULL DEFAULT 0, note text)`,
      ),
      ...(run.ddl ? [run.ddl] : []),
    ].join(';\n'),
    db.name,
  );
  const watched = [...TABLES, ...(run.tables ?? [])];
  const proxy = await TcpProxy.start({ host: cluster.info.host, port: cluster.info.port });
  t.after(() => proxy.close());

  const timeline = new Timeline();
  const log = new StampedLog(timeline);
  const info = cluster.info;
  const opened = run.openFeed({
    host: proxy.host,
    port: proxy.port,
    user: info.roles.replication.user,
    password: info.roles.replication.password,
    database: db.name,
    sslmode: info.caFile ? 'verify-full' : 'prefer',
    ...(info.caFile ? { sslrootcert: info.caFile } : {}),
    tables: watched.map((table) => table.sql),
    applicationName: APPLICATION,
    debounce: 20,
    // Short, so a blackholed link is seen dead in about two seconds.
    statusInterval: 300,
    livenessTimeout: 1500,
    connectTimeout: 3000,
    backoff: { initial: 50, maximum: 1000 },
    logger: log.logger,
  });
  const fanout: ChaosFanout =
    'consumers' in opened
      ? opened
      : { consumers: [{ name: run.name, feed: opened }], close: () => opened.close() };
  t.after(() => fanout.close());
  const consumers: Consumed[] = fanout.consumers.map(({ name, feed }) => {
    const items: ItemRecord[] = [];
    return { name, feed, items, ...consume(feed, timeline, items) };
  });
  const resyncAfter = (consumer: Consumed, seq: number) =>
    consumer.items.find((item) => item.type === 'resync' && item.stamp.seq > seq);
  await waitFor(() => consumers.every((consumer) => resyncAfter(consumer, 0)), {
    timeoutMs: 30_000,
    what: 'Resync(connected) at every consumer',
  });

  const writer = new ChaosWriter({ info, database: db.name, tables: watched, timeline, rng: new Rng(seed) });
  t.after(() => writer.close());
  const rng = new Rng(seed + 1);
  const injector = new Injector({
    cluster,
    proxy,
    log,
    timeline,
    rng,
    database: db.name,
    custom: run.customFaults,
  });
  const commits = writer.commits;
  const affects = (kind: FaultKind, consumer: Consumed) => run.affects?.(kind, consumer.name) ?? true;

  const hung = (fault: FaultRecord, late: Consumed[]) =>
    `${late.map((consumer) => consumer.name).join(', ')} did not come back within ${RECOVERY_MS} ms of fault ${fault.kind} at ${(fault.stamp.at / 1000).toFixed(3)} s (${fault.note ?? ''}); consumer errors: ${late.map((consumer) => String(consumer.state.error)).join(', ')}\nlast log lines:\n${log.lines
      .slice(-15)
      .map((line) => `  ${(line.stamp.at / 1000).toFixed(3)} ${line.level} ${line.message}`)
      .join('\n')}\n${describeFaults(injector.faults)}`;

  writer.start();
  const chaosEnds = performance.now() + seconds * 1000;
  const halfway = performance.now() + seconds * 500;
  let halfwayDone = run.halfway === undefined;
  const context: ChaosContext = { cluster, database: db.name, writer, timeline };
  // Every kind once per round, in a seeded order, so even a short run sees each of them.
  let queue: FaultKind[] = [];
  const nextFault = (quick: boolean): FaultKind => {
    if (queue.length === 0) queue = rng.shuffle(run.faults);
    const index = quick ? queue.findIndex((kind) => kind !== 'blackhole') : 0;
    if (index < 0) return rng.pick(run.faults.filter((kind) => kind !== 'blackhole'));
    return queue.splice(index, 1)[0] as FaultKind;
  };
  const injectedEveryKind = () =>
    run.faults.every((kind) => injector.faults.some((fault) => fault.kind === kind));
  // Past the deadline only to finish the first round, so a slow machine still sees every kind once.
  while (performance.now() < chaosEnds || !injectedEveryKind()) {
    await pace(rng.int(1000, 3000), new AbortController().signal);
    if (!halfwayDone && performance.now() >= halfway) {
      halfwayDone = true;
      await run.halfway?.(context);
    }
    const fault = await injector.inject(nextFault(false));
    // Now and then the next fault lands while the feed is still reconnecting, so faults also hit the
    // handshake (startup, slot creation, START_REPLICATION), not only a streaming link. Never a
    // blackhole: a link that dies silently during CREATE_REPLICATION_SLOT is waited on without limit by
    // design (the server is as silent while it waits for running transactions; see wal-feed.ts).
    const hit = new Set(consumers.filter((consumer) => affects(fault.kind as FaultKind, consumer)));
    let last = fault;
    if (rng.chance(0.25) && performance.now() < chaosEnds) {
      await pace(rng.int(0, 400), new AbortController().signal);
      last = await injector.inject(nextFault(true));
      last.note = `${last.note ? `${last.note}; ` : ''}${Math.round(last.stamp.at - fault.stamp.at)} ms after ${fault.kind}`;
      for (const consumer of consumers) if (affects(last.kind as FaultKind, consumer)) hit.add(consumer);
    }
    // Every consumer a fault hit resyncs after it (or after the second fault, which may land first).
    const late = () => [...hit].filter((consumer) => !resyncAfter(consumer, fault.stamp.seq));
    await waitFor(() => late().length === 0, { timeoutMs: RECOVERY_MS, what: 'a Resync' }).catch(() => {
      assert.fail(hung(last, late()));
    });
  }

  // No more faults: the last random commits, then one final commit per table, must all be covered.
  if (!halfwayDone) await run.halfway?.(context);
  await writer.stop();
  const finalCommit = (table: ChaosTable, what: string) =>
    waitFor(() => writer.commit([table]), { timeoutMs: 20_000, what: `${what} ${table.sql}` });
  for (const table of [...writer.tables]) await finalCommit(table, 'a final commit to');
  // The walsender may send a commit before its COMMIT returns to the writer; a Batch that arrives then
  // could be for an earlier change, so the oracle counts only Batches after it. A last commit per table,
  // not itself checked, gives every final commit such a Batch when nothing is lost.
  const checked = commits.slice();
  for (const table of [...writer.tables]) await finalCommit(table, 'an unchecked last commit to');
  const coverageOf = () => consumers.map((consumer) => checkCoverage(checked, consumer.items));
  let coverage = coverageOf();
  await waitFor(
    () => {
      coverage = coverageOf();
      return coverage.every((one) => one.uncovered.length === 0);
    },
    { timeoutMs: 20_000, intervalMs: 100, what: 'every commit to be covered at every consumer' },
  ).catch(() => {});
  await writer.close();
  await fanout.close();
  await Promise.all(consumers.map((consumer) => consumer.finished));

  // Zero footprint (contract R12): once the feed is closed the server drops its slot and ends its sessions;
  // a session it has not yet noticed is gone ends within wal_sender_timeout (5 s here).
  let left: string[] = [];
  await waitFor(
    async () => {
      const rows = await runSql<{ what: string }>(
        info,
        `SELECT 'slot ' || slot_name AS what FROM pg_replication_slots
         UNION ALL SELECT backend_type || ' ' || pid FROM pg_stat_activity WHERE application_name = '${APPLICATION}'`,
      );
      left = rows.map((row) => row.what);
      return left.length === 0;
    },
    { timeoutMs: 30_000, intervalMs: 200, what: 'nothing of the feed on the server' },
  ).catch(() => {});

  const results = consumers.map((consumer) =>
    figures({ seed, seconds, commits: checked, items: consumer.items, faults: injector.faults }),
  );
  const first = results[0] as ReturnType<typeof figures>;
  report(t, run.name, [
    `commits checked ${first.commitsChecked} (writer: ${writer.failures} transaction(s) lost to faults, ${writer.sessions} session(s)), uncovered ${results.map((result) => result.uncovered).join(' / ')}`,
    ...(run.report?.(commits) ?? []),
    `faults by kind ${JSON.stringify(first.faultsByKind)} (${injector.faults.length} in all)`,
    ...consumers.flatMap((consumer, i) => {
      const result = results[i] as ReturnType<typeof figures>;
      const who = consumers.length > 1 ? `${consumer.name}: ` : '';
      return [
        `${who}Resyncs by reason ${JSON.stringify(result.resyncsByReason)}, ${result.batches} batches`,
        `${who}worst fault → first item ${result.worstFirstItemAfterFaultMs} ms, fault → Resync ${result.worstResyncAfterFaultMs} ms; fault → Resync by kind ${JSON.stringify(result.worstResyncByKind)}`,
        `${who}commit → covering item: worst ${result.worstCoverMs} ms, p50 ${result.p50CoverMs} ms, p99 ${result.p99CoverMs} ms`,
        `${who}json ${JSON.stringify(result)}`,
      ];
    }),
  ]);
  for (const fault of injector.faults) {
    t.diagnostic(
      `${(fault.stamp.at / 1000).toFixed(3)} s ${fault.kind}${fault.note ? ` (${fault.note})` : ''}`,
    );
  }

  if (process.env.PGNUDGE_CHAOS_VERBOSE) {
    for (const line of log.lines)
      console.log(`chaos log: ${(line.stamp.at / 1000).toFixed(3)} ${line.level} ${line.message}`);
  }

  for (const [i, consumer] of consumers.entries()) {
    assert.equal(consumer.state.error, undefined, `${consumer.name} never failed: every fault was retried`);
    const uncovered = (coverage[i] as ReturnType<typeof checkCoverage>).uncovered;
    assert.deepEqual(
      uncovered,
      [],
      `${consumer.name}: ${explainUncovered(uncovered, injector.faults, consumer.items)}`,
    );
  }
  assert.deepEqual(left, [], 'nothing of the feed is left on the server once it is closed');
  assert.ok(first.commitsChecked > seconds * 5, `the writer kept writing (${first.commitsChecked} commits)`);
  assert.ok(injectedEveryKind(), `every kind of fault was injected: ${JSON.stringify(first.faultsByKind)}`);
  const unseen = injector.faults.filter((fault) => fault.note?.includes('NOT seen dead'));
  assert.deepEqual(unseen, [], 'every blackholed link was seen dead by the feed');
}

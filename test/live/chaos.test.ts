// Chaos with a no-lost-wakeup oracle (contract R1–R8, R11, R12, R20): a writer commits to four watched tables and
// a two-level partitioned table (with a partition created halfway through, then written to directly) at
// random intervals while faults hit a WalFeed at random moments — pg_terminate_backend of its walsender,
// fast and immediate server restarts, a blackholed link, a TCP reset, every replication slot taken for a
// while. Afterwards every commit must have been followed by a Batch naming its table or by a Resync, and
// the server must hold no replication slot once the feed is closed. A cluster of its own (it restarts it),
// on the runner's major. PGNUDGE_CHAOS_SECONDS (default 60) sets the length, PGNUDGE_CHAOS_SEED replays
// the writer's and the injector's choices (not their timing); PGNUDGE_CHAOS_VERBOSE=1 prints the feed's
// log. The figures are printed either way. scripts/test.mjs gives a file 180 s, so run a soak on its own:
//   npm run build:test && PGNUDGE_TEST_PG=17 PGNUDGE_CHAOS_SECONDS=1800 node --test build/test/live/chaos.test.js
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { before, type TestContext, test } from 'node:test';
import pg from 'pg';
import { type FeedItem, WalFeed } from '../../src/index.js';
import {
  checkCoverage,
  describeFaults,
  explainUncovered,
  type FaultRecord,
  figures,
  type ItemRecord,
  Rng,
  type Stamp,
  Timeline,
} from '../support/chaos.js';
import { type ChaosTable, ChaosWriter, pace } from '../support/chaos-writer.js';
import {
  Cluster,
  liveCluster,
  runSql,
  scratchDatabase,
  selectedMajors,
  serverInstall,
} from '../support/cluster.js';
import { feedConnection } from '../support/feed-probe.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait.js';

const SECONDS = Number(process.env.PGNUDGE_CHAOS_SECONDS ?? 60);
const SEED = process.env.PGNUDGE_CHAOS_SEED ? Number(process.env.PGNUDGE_CHAOS_SEED) : randomInt(2 ** 31);
if (!Number.isSafeInteger(SEED) || !(SECONDS > 0)) {
  throw new Error('PGNUDGE_CHAOS_SEED must be an integer and PGNUDGE_CHAOS_SECONDS a positive number');
}
/** Small, so "every slot taken" is a handful of sessions; the feed needs one, plus one while an old one dies. */
const MAX_SLOTS = 4;
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

/**
 * A partitioned table watched by its root (contract R20): list partitions by a bucket the column default
 * picks, bucket 1 hash-partitioned again. Its changes come from the leaves and must wake `public.chaos_p`.
 */
const PARTITIONED: ChaosTable = { sql: 'public.chaos_p', payload: 'public.chaos_p' };
const PARTITIONED_DDL = `CREATE TABLE public.chaos_p (id bigserial, bucket int NOT NULL DEFAULT floor(random() * 2)::int, n int NOT NULL DEFAULT 0, note text, PRIMARY KEY (id, bucket)) PARTITION BY LIST (bucket);
CREATE TABLE public.chaos_p_0 PARTITION OF public.chaos_p FOR VALUES IN (0);
CREATE TABLE public.chaos_p_1 PARTITION OF public.chaos_p FOR VALUES IN (1) PARTITION BY HASH (id);
CREATE TABLE public.chaos_p_1a PARTITION OF public.chaos_p_1 FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE public.chaos_p_1b PARTITION OF public.chaos_p_1 FOR VALUES WITH (MODULUS 2, REMAINDER 1)`;
/**
 * The partition created halfway through: the root's default starts sending rows to it, and the writer
 * also writes to it directly (its own default keeps those rows in its bucket). Idempotent, since a fault
 * may hide whether a try committed.
 */
const NEW_PARTITION: ChaosTable = { sql: 'public.chaos_p_2', payload: 'public.chaos_p' };
const NEW_PARTITION_DDL = `CREATE TABLE IF NOT EXISTS public.chaos_p_2 PARTITION OF public.chaos_p (bucket DEFAULT 2) FOR VALUES IN (2);
ALTER TABLE public.chaos_p ALTER COLUMN bucket SET DEFAULT floor(random() * 3)::int`;

const FAULTS = ['terminate', 'restart-fast', 'restart-immediate', 'blackhole', 'reset', 'slots'] as const;
type FaultKind = (typeof FAULTS)[number];

let major: number;
let skip: string | undefined;
before(async () => {
  if (process.env.PGNUDGE_TEST_DSN) {
    skip = 'external server: the chaos test restarts a cluster of its own';
  } else if (process.env.PGNUDGE_TEST_CLUSTER) {
    major = (await liveCluster()).major;
  } else {
    // Run on its own (a soak, past the runner's 180 s per file): boot only the cluster this test needs.
    const found = selectedMajors().find((m) => serverInstall(m) !== null);
    if (found === undefined) throw new Error('no PostgreSQL server is installed for live tests');
    major = found;
  }
});

/** Everything the feed logged, stamped, so the injector can wait for "the link was seen dead". */
class StampedLog {
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

  constructor(options: {
    cluster: Cluster;
    proxy: TcpProxy;
    log: StampedLog;
    timeline: Timeline;
    rng: Rng;
    database: string;
  }) {
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
    switch (kind) {
      case 'terminate':
        fault.note = `${await this.#terminateWalsenders()} walsender(s) terminated`;
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
    }
    return fault;
  }

  async #terminateWalsenders(): Promise<number> {
    const rows = await runSql(
      this.#cluster.info,
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'walsender' AND application_name = '${APPLICATION}'`,
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
      const terminated = await this.#terminateWalsenders();
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
function consume(feed: WalFeed, timeline: Timeline, items: ItemRecord[]) {
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

function report(t: TestContext, lines: string[]) {
  for (const line of lines) {
    t.diagnostic(line);
    console.log(`chaos: ${line}`);
  }
}

test(`chaos: ${SECONDS} s of faults, no lost wakeup, no slot left`, {
  timeout: SECONDS * 1000 + 100_000,
}, async (t) => {
  if (skip) return t.skip(skip);
  report(t, [`seed ${SEED} (replay with PGNUDGE_CHAOS_SEED=${SEED}), ${SECONDS} s on PostgreSQL ${major}`]);
  const cluster = await Cluster.start({
    major,
    settings: { max_replication_slots: MAX_SLOTS, max_wal_senders: 10 },
  });
  t.after(() => cluster.stop());
  const db = await scratchDatabase(cluster.info, 'chaos');
  await cluster.sql(
    [
      ...TABLES.map(
        (table) =>
          `CREATE TABLE ${table.sql} (id bigserial PRIMARY KEY, n int NOT NULL DEFAULT 0, note text)`,
      ),
      PARTITIONED_DDL,
    ].join(';\n'),
    db.name,
  );
  const proxy = await TcpProxy.start({ host: cluster.info.host, port: cluster.info.port });
  t.after(() => proxy.close());

  const timeline = new Timeline();
  const log = new StampedLog(timeline);
  const items: ItemRecord[] = [];
  const feed = new WalFeed({
    ...feedConnection(cluster.info, db.name),
    host: proxy.host,
    port: proxy.port,
    tables: [...TABLES, PARTITIONED].map((table) => table.sql),
    applicationName: APPLICATION,
    debounce: 20,
    // Short, so a blackholed link is seen dead in about two seconds.
    statusInterval: 300,
    livenessTimeout: 1500,
    connectTimeout: 3000,
    backoff: { initial: 50, maximum: 1000 },
    logger: log.logger,
  });
  t.after(() => feed.close());
  const consumer = consume(feed, timeline, items);
  const resyncAfter = (seq: number) => items.find((item) => item.type === 'resync' && item.stamp.seq > seq);
  await waitFor(() => resyncAfter(0), { timeoutMs: 30_000, what: 'Resync(connected)' });

  const writer = new ChaosWriter({
    info: cluster.info,
    database: db.name,
    tables: [...TABLES, PARTITIONED],
    timeline,
    rng: new Rng(SEED),
  });
  t.after(() => writer.close());
  const rng = new Rng(SEED + 1);
  const injector = new Injector({ cluster, proxy, log, timeline, rng, database: db.name });
  const commits = writer.commits;
  const figuresNow = () => figures({ seed: SEED, seconds: SECONDS, commits, items, faults: injector.faults });

  const hung = (fault: FaultRecord) =>
    `the feed did not come back within ${RECOVERY_MS} ms of fault ${fault.kind} at ${(fault.stamp.at / 1000).toFixed(3)} s (${fault.note ?? ''}); consumer error: ${String(consumer.state.error)}\nlast log lines:\n${log.lines
      .slice(-15)
      .map((line) => `  ${(line.stamp.at / 1000).toFixed(3)} ${line.level} ${line.message}`)
      .join('\n')}\n${describeFaults(injector.faults)}`;

  writer.start();
  const chaosEnds = performance.now() + SECONDS * 1000;
  const halfway = performance.now() + SECONDS * 500;
  const partition: { created: Stamp | null } = { created: null };
  /** Creates the new partition (retried through faults) and has the writer write to it directly too. */
  const createPartition = async () => {
    await waitFor(
      () =>
        runSql(cluster.info, NEW_PARTITION_DDL, db.name).then(
          () => true,
          () => false,
        ),
      {
        timeoutMs: RECOVERY_MS,
        intervalMs: 200,
        what: 'the partition created during the run',
      },
    );
    partition.created = timeline.stamp();
    writer.addTable(NEW_PARTITION);
  };
  // Every kind once per round, in a seeded order, so even a short run sees each of them.
  let queue: FaultKind[] = [];
  const nextFault = (quick: boolean): FaultKind => {
    if (queue.length === 0) queue = rng.shuffle(FAULTS);
    const index = quick ? queue.findIndex((kind) => kind !== 'blackhole') : 0;
    if (index < 0) return rng.pick(FAULTS.filter((kind) => kind !== 'blackhole'));
    return queue.splice(index, 1)[0] as FaultKind;
  };
  const injectedEveryKind = () =>
    FAULTS.every((kind) => injector.faults.some((fault) => fault.kind === kind));
  // Past the deadline only to finish the first round, so a slow machine still sees every kind once.
  while (performance.now() < chaosEnds || !injectedEveryKind()) {
    await pace(rng.int(1000, 3000), new AbortController().signal);
    if (partition.created === null && performance.now() >= halfway) await createPartition();
    const fault = await injector.inject(nextFault(false));
    // Now and then the next fault lands while the feed is still reconnecting, so faults also hit the
    // handshake (startup, slot creation, START_REPLICATION), not only a streaming link. Never a
    // blackhole: a link that dies silently during CREATE_REPLICATION_SLOT is waited on without limit by
    // design (the server is as silent while it waits for running transactions; see wal-feed.ts).
    if (rng.chance(0.25) && performance.now() < chaosEnds) {
      await pace(rng.int(0, 400), new AbortController().signal);
      const next = await injector.inject(nextFault(true));
      next.note = `${next.note ? `${next.note}; ` : ''}${Math.round(next.stamp.at - fault.stamp.at)} ms after ${fault.kind}`;
    }
    const last = injector.faults[injector.faults.length - 1] as FaultRecord;
    await waitFor(() => resyncAfter(last.stamp.seq), { timeoutMs: RECOVERY_MS, what: 'a Resync' }).catch(
      () => {
        assert.fail(hung(last));
      },
    );
  }

  // No more faults: the last random commits, then one final commit per table, must all be covered.
  if (partition.created === null) await createPartition();
  await writer.stop();
  for (const table of [...TABLES, PARTITIONED, NEW_PARTITION]) {
    await waitFor(() => writer.commit([table]), {
      timeoutMs: 20_000,
      what: `a final commit to ${table.sql}`,
    });
  }
  let coverage = checkCoverage(commits, items);
  await waitFor(
    () => {
      coverage = checkCoverage(commits, items);
      return coverage.uncovered.length === 0;
    },
    { timeoutMs: 20_000, intervalMs: 100, what: 'every commit to be covered' },
  ).catch(() => {});
  await writer.close();
  await feed.close();
  await consumer.finished;

  // Zero footprint (contract R12): once the feed is closed the server drops its slot; a session it has not yet
  // noticed is gone ends within wal_sender_timeout (5 s here).
  let slots: string[] = [];
  await waitFor(
    async () => {
      const rows = await runSql<{ slot_name: string }>(
        cluster.info,
        'SELECT slot_name FROM pg_replication_slots',
      );
      slots = rows.map((row) => row.slot_name);
      return slots.length === 0;
    },
    { timeoutMs: 30_000, intervalMs: 200, what: 'no replication slot on the server' },
  ).catch(() => {});

  const result = figuresNow();
  report(t, [
    `commits checked ${result.commitsChecked} (writer: ${writer.failures} transaction(s) lost to faults, ${writer.sessions} session(s)), uncovered ${result.uncovered}`,
    `partitioned: ${commits.filter((commit) => commit.table === PARTITIONED.payload).length} commit(s) to ${PARTITIONED.payload}, ${commits.filter((commit) => commit.table === PARTITIONED.payload && commit.sent.seq > (partition.created?.seq ?? Number.POSITIVE_INFINITY)).length} after ${NEW_PARTITION.sql} was created at ${((partition.created?.at ?? 0) / 1000).toFixed(3)} s`,
    `faults by kind ${JSON.stringify(result.faultsByKind)} (${injector.faults.length} in all)`,
    `Resyncs by reason ${JSON.stringify(result.resyncsByReason)}, ${result.batches} batches`,
    `worst fault → first item ${result.worstFirstItemAfterFaultMs} ms, fault → Resync ${result.worstResyncAfterFaultMs} ms; fault → Resync by kind ${JSON.stringify(result.worstResyncByKind)}`,
    `commit → covering item: worst ${result.worstCoverMs} ms, p50 ${result.p50CoverMs} ms, p99 ${result.p99CoverMs} ms`,
    `json ${JSON.stringify(result)}`,
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

  assert.equal(consumer.state.error, undefined, 'the feed never failed: every fault was retried');
  assert.deepEqual(coverage.uncovered, [], explainUncovered(coverage.uncovered, injector.faults, items));
  assert.deepEqual(slots, [], 'no replication slot is left on the server once the feed is closed');
  assert.ok(
    result.commitsChecked > SECONDS * 5,
    `the writer kept writing (${result.commitsChecked} commits)`,
  );
  assert.ok(injectedEveryKind(), `every kind of fault was injected: ${JSON.stringify(result.faultsByKind)}`);
  const unseen = injector.faults.filter((fault) => fault.note?.includes('NOT seen dead'));
  assert.deepEqual(unseen, [], 'every blackholed link was seen dead by the feed');
});

// How long creating a logical slot on a hot standby waits (issue 16, contract R26): the slot needs a
// running-transactions record from the primary, which the primary's background writer logs at most every
// 15 s and only after other WAL. Per major (16+), a dedicated primary and a streaming standby
// (test/support/standby.ts); a temporary test_decoding slot is created on the standby through SQL and
// dropped, and a WalFeed (test_decoding, debounce 0) connects to the standby until its Resync('connected')
// (what an application waits for), each in four situations:
//   idle        the primary committed one row just before, then nothing
//   snapshots   idle, while the primary runs pg_log_standby_snapshot() every 100 ms (what an operator can do)
//   writes      the primary commits a row every ~10 ms throughout
//   quiet       the primary has written nothing for 20 s (its last snapshot already logged)
// Prints a table; asserts nothing. Run: node scripts/bench.mjs standby-slot
//   PGNUDGE_BENCH_PG=16,17,18       the majors
//   PGNUDGE_BENCH_TRIALS=2          trials of idle, snapshots and writes (quiet runs once)
//   PGNUDGE_BENCH_DEADLINE_MS=40000 give up (and cancel the creation) after this long
import { setTimeout as delay } from 'node:timers/promises';
import type pg from 'pg';
import { WalFeed } from '../src/index.js';
import { Cluster, serverInstall } from '../test/support/cluster.js';
import { feedConnection } from '../test/support/feed-probe.js';
import { type Standby, startStandby } from '../test/support/standby.js';
import { loadAverage } from './support/measure.js';

const MAJORS = (process.env.PGNUDGE_BENCH_PG ?? '16,17,18').split(',').map(Number);
const TRIALS = Number(process.env.PGNUDGE_BENCH_TRIALS ?? 2);
const DEADLINE_MS = Number(process.env.PGNUDGE_BENCH_DEADLINE_MS ?? 40_000);
const QUIET_MS = 20_000;

type Situation = 'idle' | 'snapshots' | 'writes' | 'quiet';

/** Milliseconds the creation took, or null when it was cancelled at the deadline. */
async function createSlot(standby: Standby, situation: Situation): Promise<number | null> {
  const client = standby.client();
  await client.connect();
  try {
    const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    const started = performance.now();
    const creating = client
      .query("SELECT * FROM pg_create_logical_replication_slot('bench_standby', 'test_decoding', true)")
      .then(() => performance.now() - started);
    creating.catch(() => {});
    const timer = delay(DEADLINE_MS).then(() => null);
    const outcome =
      situation === 'snapshots'
        ? await Promise.race([standby.snapshotsWhile(creating, { timeoutMs: DEADLINE_MS }), timer])
        : await Promise.race([creating, timer]);
    if (outcome === null) {
      await standby.sql(`SELECT pg_cancel_backend(${pid})`);
      await creating.catch(() => {});
      return null;
    }
    await client.query("SELECT pg_drop_replication_slot('bench_standby')");
    return outcome;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Milliseconds from a WalFeed's start on the standby to its Resync('connected'), or null at the deadline. */
async function feedConnect(standby: Standby, situation: Situation): Promise<number | null> {
  const feed = new WalFeed({
    ...feedConnection(standby.info, 'postgres'),
    plugin: 'test_decoding',
    debounce: 0,
  });
  try {
    const started = performance.now();
    const connected = feed[Symbol.asyncIterator]()
      .next()
      .then(() => performance.now() - started);
    connected.catch(() => {});
    const timer = delay(DEADLINE_MS).then(() => null);
    return situation === 'snapshots'
      ? await Promise.race([standby.snapshotsWhile(connected, { timeoutMs: DEADLINE_MS }), timer])
      : await Promise.race([connected, timer]);
  } finally {
    await feed.close();
  }
}

type Way = (standby: Standby, situation: Situation) => Promise<number | null>;

/** Commits a row every ~10 ms on the primary until `stop()`. */
function startWriter(primary: Cluster): { stop(): Promise<number> } {
  let running = true;
  let commits = 0;
  const done = (async () => {
    const client: pg.Client = primary.client();
    await client.connect();
    try {
      while (running) {
        await client.query('INSERT INTO public.bench_writes DEFAULT VALUES');
        commits++;
        await delay(10);
      }
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      return commits;
    },
  };
}

const format = (ms: number | null) =>
  ms === null ? `>${(DEADLINE_MS / 1000).toFixed(0)} s` : `${ms.toFixed(0)}`;

console.log(`load average at start: ${loadAverage()}`);
const rows: string[][] = [];
for (const major of MAJORS) {
  if (major < 16 || serverInstall(major) === null) {
    console.log(`PostgreSQL ${major}: skipped (logical decoding on a standby needs an installed 16+)`);
    continue;
  }
  let booted = performance.now();
  const primary = await Cluster.start({ major });
  const primaryMs = performance.now() - booted;
  booted = performance.now();
  const standby = await startStandby(primary);
  const standbyMs = performance.now() - booted;
  try {
    await primary.sql(
      'CREATE TABLE public.bench_writes (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())',
    );
    await standby.waitForReplay();
    for (const [label, way] of [
      ['SQL', createSlot],
      ['feed', feedConnect],
    ] as [string, Way][]) {
      const results: Record<Situation, (number | null)[]> = {
        idle: [],
        snapshots: [],
        writes: [],
        quiet: [],
      };
      for (let trial = 0; trial < TRIALS; trial++) {
        await primary.sql('INSERT INTO public.bench_writes DEFAULT VALUES');
        await standby.waitForReplay();
        results.idle.push(await way(standby, 'idle'));
        await primary.sql('INSERT INTO public.bench_writes DEFAULT VALUES');
        await standby.waitForReplay();
        results.snapshots.push(await way(standby, 'snapshots'));
        const writer = startWriter(primary);
        results.writes.push(await way(standby, 'writes'));
        await writer.stop();
      }
      await standby.waitForReplay();
      await delay(QUIET_MS);
      results.quiet.push(await way(standby, 'quiet'));
      rows.push([
        primary.info.version,
        label,
        results.idle.map(format).join(', '),
        results.snapshots.map(format).join(', '),
        results.writes.map(format).join(', '),
        results.quiet.map(format).join(', '),
      ]);
    }
    console.log(
      `PostgreSQL ${primary.info.version}: primary booted in ${primaryMs.toFixed(0)} ms, standby ready in ${standbyMs.toFixed(0)} ms`,
    );
  } finally {
    standby.stop();
    primary.stop();
  }
}

const header = [
  'major',
  'via',
  'idle (ms)',
  'snapshots/100 ms (ms)',
  'writes/10 ms (ms)',
  `quiet ${QUIET_MS / 1000} s (ms)`,
];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
console.log(`\nlogical slot creation on a standby (${TRIALS} trials; deadline ${DEADLINE_MS} ms)`);
console.log(line(header));
for (const row of rows) console.log(line(row));
console.log(`load average at end: ${loadAverage()}`);

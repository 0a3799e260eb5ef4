// End-to-end figures for WalFeed against a real PostgreSQL it boots itself (PostgreSQL 15, which has
// both wal2json and test_decoding, so the plugins are compared on one server):
//   (a) commit → Batch latency over sequential single-row commits, at debounce 0 and the default 50;
//   (b) one 1,000,000-row transaction: COMMIT returning → every row accounted for, the client's CPU
//       seconds and peak RSS (the feed runs in a child process), the walsender's CPU seconds.
// Prints a table and writes bench/results/feed-latest.json. Asserts nothing.
//   PGNUDGE_BENCH_PG=15            the major to boot (must have the plugins wanted)
//   PGNUDGE_BENCH_COMMITS=300      single-row commits per latency run
//   PGNUDGE_BENCH_ROWS=1000000     rows in the bulk transaction
//   PGNUDGE_BENCH_REPS=3           bulk repetitions (medians are reported)
//   PGNUDGE_BENCH_CPU_PROF=<dir>   run the first bulk child of each plugin under node --cpu-prof
//   PGNUDGE_BENCH_OUT=<file>       where to write the JSON (default bench/results/feed-latest.json)
import { execFileSync, fork } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { WalFeed, type WalFeedOptions } from '../src/index.js';
import { Cluster, type ClusterInfo, runSql, scratchDatabase } from '../test/support/cluster.js';
import { feedConnection } from '../test/support/feed-probe.js';
import { withDeadline } from '../test/support/wait.js';

type Plugin = 'wal2json' | 'test_decoding';
const PLUGINS: readonly Plugin[] = ['wal2json', 'test_decoding'];

const MAJOR = Number(process.env.PGNUDGE_BENCH_PG ?? 15);
const COMMITS = Number(process.env.PGNUDGE_BENCH_COMMITS ?? 300);
const WARMUP_COMMITS = 20;
const ROWS = Number(process.env.PGNUDGE_BENCH_ROWS ?? 1_000_000);
const REPS = Number(process.env.PGNUDGE_BENCH_REPS ?? 3);
const PROFILE_DIR = process.env.PGNUDGE_BENCH_CPU_PROF;

/** Wall-clock milliseconds comparable across processes on this machine. */
const nowMs = () => performance.timeOrigin + performance.now();

// ---------------------------------------------------------------------------------------------------
// The child: one WalFeed that counts the bulk transaction's rows and reports its own resource use.

interface ChildConfig {
  options: WalFeedOptions;
  payload: string;
  rows: number;
}

type ChildMessage =
  | { type: 'live'; slot: string }
  | {
      type: 'done';
      at: number;
      cpuUserUs: number;
      cpuSystemUs: number;
      maxRssKb: number;
      liveRssBytes: number;
      batches: number;
      counted: number;
    }
  | { type: 'error'; message: string };

async function child(config: ChildConfig): Promise<void> {
  const send = (message: ChildMessage) => process.send!(message);
  const feed = new WalFeed(config.options);
  let cpuAtLive = process.cpuUsage();
  let liveRssBytes = 0;
  let counted = 0;
  let batches = 0;
  let reported = false;
  process.on('message', (message: { type: string }) => {
    if (message.type === 'quit') void feed.close();
  });
  try {
    for await (const item of feed) {
      if (item.type === 'resync') {
        if (item.reason !== 'connected')
          throw new Error(`unexpected Resync(${item.reason}) during the bench`);
        cpuAtLive = process.cpuUsage();
        liveRssBytes = process.memoryUsage().rss;
        send({ type: 'live', slot: feed.slotName! });
        continue;
      }
      batches++;
      for (const event of item.events) if (event.payload === config.payload) counted += event.count;
      if (counted >= config.rows && !reported) {
        reported = true;
        const at = nowMs();
        const cpu = process.cpuUsage(cpuAtLive);
        send({
          type: 'done',
          at,
          cpuUserUs: cpu.user,
          cpuSystemUs: cpu.system,
          maxRssKb: process.resourceUsage().maxRSS,
          liveRssBytes,
          batches,
          counted,
        });
        // Stay connected until the parent has read the walsender's CPU counters, then end.
      }
    }
  } catch (error) {
    send({ type: 'error', message: String((error as Error)?.stack ?? error) });
  }
  process.disconnect();
}

// ---------------------------------------------------------------------------------------------------
// The parent: boots the cluster, runs the latency loops in-process and the bulk runs in children.

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** utime + stime of `pid` in seconds, from /proc/<pid>/stat (fields 14 and 15). */
function processCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses; fields are counted after its ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)]!;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface LatencyFigures {
  plugin: Plugin;
  debounceMs: number;
  commits: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

interface BulkRun {
  commitToDrainedS: number;
  insertS: number;
  clientCpuS: number;
  clientUserS: number;
  clientSystemS: number;
  walsenderCpuS: number;
  clientPeakRssMiB: number;
  clientLiveRssMiB: number;
  batches: number;
}

interface BulkFigures {
  plugin: Plugin;
  rows: number;
  reps: number;
  median: BulkRun;
  runs: BulkRun[];
}

function pgClient(info: ClusterInfo, database: string): pg.Client {
  return new pg.Client({
    host: info.host,
    port: info.port,
    user: info.superuser.user,
    password: info.superuser.password,
    database,
  });
}

/** A consumer that timestamps each Batch and lets the writer wait for the next one. */
function batchClock(feed: WalFeed) {
  let waiter: ((at: number) => void) | null = null;
  let live: () => void = () => {};
  const connected = new Promise<void>((resolveLive) => {
    live = resolveLive;
  });
  const done = (async () => {
    for await (const item of feed) {
      const at = performance.now();
      if (item.type === 'resync') {
        if (item.reason === 'connected') live();
        else throw new Error(`unexpected Resync(${item.reason}) during the latency run`);
        continue;
      }
      const wake = waiter as ((at: number) => void) | null;
      waiter = null;
      wake?.(at);
    }
  })();
  return {
    connected,
    done,
    /** Resolves with the arrival time of the next Batch; call before causing it. */
    nextBatch(): Promise<number> {
      return new Promise((resolveAt) => {
        waiter = resolveAt;
      });
    },
  };
}

async function latency(
  info: ClusterInfo,
  database: string,
  plugin: Plugin,
  debounceMs: number,
): Promise<LatencyFigures> {
  const table = `lat_${plugin}_${debounceMs}`;
  await runSql(info, `CREATE TABLE public.${table} (id int)`, database);
  const feed = new WalFeed({ ...feedConnection(info, database), plugin, debounce: debounceMs });
  const consumer = batchClock(feed);
  const writer = pgClient(info, database);
  await writer.connect();
  try {
    await withDeadline(consumer.connected, 30_000, 'the latency feed to connect');
    const samples: number[] = [];
    for (let i = 0; i < WARMUP_COMMITS + COMMITS; i++) {
      await writer.query('BEGIN');
      await writer.query(`INSERT INTO public.${table} VALUES ($1)`, [i]);
      const arrival = consumer.nextBatch();
      const before = performance.now();
      await writer.query('COMMIT');
      const at = await withDeadline(arrival, 30_000, `the Batch for commit ${i}`);
      if (i >= WARMUP_COMMITS) samples.push(at - before);
    }
    samples.sort((a, b) => a - b);
    return {
      plugin,
      debounceMs,
      commits: samples.length,
      p50Ms: percentile(samples, 50),
      p99Ms: percentile(samples, 99),
      maxMs: samples[samples.length - 1]!,
    };
  } finally {
    await feed.close();
    await consumer.done.catch(() => {});
    await writer.end();
  }
}

async function bulkOnce(
  info: ClusterInfo,
  database: string,
  plugin: Plugin,
  writer: pg.Client,
  profile: boolean,
): Promise<BulkRun> {
  const table = `bulk_${plugin}`;
  await writer.query(`TRUNCATE public.${table}`);
  const config: ChildConfig = {
    options: { ...feedConnection(info, database), plugin },
    payload: `public.${table}`,
    rows: ROWS,
  };
  if (profile) mkdirSync(PROFILE_DIR!, { recursive: true });
  const proc = fork(fileURLToPath(import.meta.url), ['--child', JSON.stringify(config)], {
    execArgv: profile ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolveExit) => proc.once('exit', () => resolveExit()));
  try {
    const messages: ChildMessage[] = [];
    let notify = () => {};
    proc.on('message', (message: ChildMessage) => {
      messages.push(message);
      notify();
    });
    const expect = async <T extends ChildMessage['type']>(type: T, what: string) => {
      const found = () => messages.find((m) => m.type === type || m.type === 'error');
      await withDeadline(
        new Promise<void>((resolveFound) => {
          notify = () => found() && resolveFound();
          notify();
        }),
        600_000,
        what,
      );
      const message = found()!;
      if (message.type === 'error') throw new Error(`bench child failed: ${message.message}`);
      return message as Extract<ChildMessage, { type: T }>;
    };

    const { slot } = await expect('live', 'the bulk feed to connect');
    const [row] = await runSql<{ active_pid: number }>(
      info,
      `SELECT active_pid FROM pg_replication_slots WHERE slot_name = '${slot}'`,
    );
    const walsender = row!.active_pid;
    const walsenderBefore = processCpuSeconds(walsender);
    const insertStart = nowMs();
    await writer.query(`INSERT INTO public.${table} SELECT g FROM generate_series(1, ${ROWS}) g`);
    const committed = nowMs();
    const done = await expect('done', `the child to account for ${ROWS} rows`);
    const walsenderCpuS = processCpuSeconds(walsender) - walsenderBefore;
    if (done.counted !== ROWS) throw new Error(`the child counted ${done.counted} rows, expected ${ROWS}`);
    return {
      commitToDrainedS: (done.at - committed) / 1000,
      insertS: (committed - insertStart) / 1000,
      clientCpuS: (done.cpuUserUs + done.cpuSystemUs) / 1e6,
      clientUserS: done.cpuUserUs / 1e6,
      clientSystemS: done.cpuSystemUs / 1e6,
      walsenderCpuS,
      clientPeakRssMiB: done.maxRssKb / 1024,
      clientLiveRssMiB: done.liveRssBytes / 2 ** 20,
      batches: done.batches,
    };
  } finally {
    if (proc.connected) proc.send({ type: 'quit' });
    await withDeadline(exited, 30_000, 'the bench child to exit').catch(() => proc.kill('SIGKILL'));
  }
}

async function bulk(info: ClusterInfo, database: string, plugin: Plugin): Promise<BulkFigures> {
  await runSql(info, `CREATE TABLE public.bulk_${plugin} (id int)`, database);
  const writer = pgClient(info, database);
  await writer.connect();
  try {
    const runs: BulkRun[] = [];
    for (let rep = 0; rep < REPS; rep++) {
      runs.push(await bulkOnce(info, database, plugin, writer, PROFILE_DIR !== undefined && rep === 0));
    }
    const med = (key: keyof BulkRun) => median(runs.map((run) => run[key]));
    return {
      plugin,
      rows: ROWS,
      reps: REPS,
      median: {
        commitToDrainedS: med('commitToDrainedS'),
        insertS: med('insertS'),
        clientCpuS: med('clientCpuS'),
        clientUserS: med('clientUserS'),
        clientSystemS: med('clientSystemS'),
        walsenderCpuS: med('walsenderCpuS'),
        clientPeakRssMiB: med('clientPeakRssMiB'),
        clientLiveRssMiB: med('clientLiveRssMiB'),
        batches: med('batches'),
      },
      runs,
    };
  } finally {
    await writer.end();
  }
}

const fmt = (value: number, digits: number) => value.toFixed(digits);

function printTables(version: string, latencies: LatencyFigures[], bulks: BulkFigures[]): void {
  console.log(
    `\nPostgreSQL ${version}, TLS (verify-full) + SCRAM over 127.0.0.1, node ${process.version}, ${cpus().length} CPUs`,
  );
  console.log(
    `\n(a) commit → Batch latency, ${COMMITS} sequential single-row commits (ms): from just before COMMIT\n    is sent to the Batch reaching the consumer (the COMMIT round trip included)`,
  );
  console.log(
    `${'plugin'.padEnd(14)} ${'debounce'.padStart(8)} ${'p50'.padStart(8)} ${'p99'.padStart(8)} ${'max'.padStart(8)}`,
  );
  for (const l of latencies) {
    console.log(
      `${l.plugin.padEnd(14)} ${String(l.debounceMs).padStart(8)} ${fmt(l.p50Ms, 2).padStart(8)} ${fmt(l.p99Ms, 2).padStart(8)} ${fmt(l.maxMs, 2).padStart(8)}`,
    );
  }
  console.log(`\n(b) one ${ROWS.toLocaleString('en-US')}-row transaction, median of ${REPS} (seconds, MiB)`);
  console.log(
    `${'plugin'.padEnd(14)} ${'commit→all'.padStart(10)} ${'client CPU'.padStart(10)} ${'(user/sys)'.padStart(11)} ${'walsender'.padStart(10)} ${'peak RSS'.padStart(9)} ${'batches'.padStart(8)} ${'INSERT'.padStart(7)}`,
  );
  for (const b of bulks) {
    const m = b.median;
    console.log(
      `${b.plugin.padEnd(14)} ${fmt(m.commitToDrainedS, 2).padStart(10)} ${fmt(m.clientCpuS, 2).padStart(10)} ${`${fmt(m.clientUserS, 2)}/${fmt(m.clientSystemS, 2)}`.padStart(11)} ${fmt(m.walsenderCpuS, 2).padStart(10)} ${fmt(m.clientPeakRssMiB, 1).padStart(9)} ${String(m.batches).padStart(8)} ${fmt(m.insertS, 2).padStart(7)}`,
    );
  }
  console.log(
    '\ncommit→all: COMMIT returned → the consumer has counted every row; CPU in seconds (user+system);\n' +
      'walsender: its CPU from slot start to drained (decoding happens while the INSERT runs, too);\n' +
      'peak RSS: the feed child process (process.resourceUsage().maxRSS); INSERT: the statement itself.',
  );
}

async function main(): Promise<void> {
  const loadAtStart = loadavg().map((v) => Number(v.toFixed(2)));
  const cluster = await Cluster.start({ major: MAJOR });
  const db = await scratchDatabase(cluster.info, 'bench');
  try {
    const missing = PLUGINS.filter((plugin) => !cluster.info.plugins.includes(plugin));
    if (missing.length > 0) throw new Error(`PostgreSQL ${MAJOR} lacks ${missing.join(', ')}`);
    const latencies: LatencyFigures[] = [];
    const bulks: BulkFigures[] = [];
    for (const plugin of PLUGINS) {
      for (const debounceMs of [0, 50]) {
        latencies.push(await latency(cluster.info, db.name, plugin, debounceMs));
      }
    }
    for (const plugin of PLUGINS) bulks.push(await bulk(cluster.info, db.name, plugin));
    printTables(cluster.info.version, latencies, bulks);
    const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
    const out = process.env.PGNUDGE_BENCH_OUT ?? join(root, 'bench', 'results', 'feed-latest.json');
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(
      out,
      `${JSON.stringify(
        {
          bench: 'feed',
          date: new Date().toISOString(),
          postgres: cluster.info.version,
          node: process.version,
          cpus: cpus().length,
          cpuModel: cpus()[0]?.model ?? '',
          loadAverageAtStart: loadAtStart,
          loadAverageAtEnd: loadavg().map((v) => Number(v.toFixed(2))),
          connection: 'TCP 127.0.0.1, TLS verify-full, SCRAM-SHA-256',
          latency: latencies,
          bulk: bulks,
        },
        null,
        2,
      )}\n`,
    );
    console.log(`\nwrote ${out}`);
  } finally {
    await db.drop();
    cluster.stop();
  }
}

if (process.argv[2] === '--child') {
  await child(JSON.parse(process.argv[3]!) as ChildConfig);
} else {
  await main();
}

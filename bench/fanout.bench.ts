// Commit → consumer latency through one NOTIFY bridge (SPEC §6), for 1, 50 and 500 NotifyFeed consumers
// (one connection each) on a PostgreSQL it boots itself with max_connections = 600. The bridge is a
// `pgnudge bridge` child process; consumers run in this process. Prints a table and writes
// bench/results/fanout-latest.json. Asserts nothing. Run: node scripts/bench.mjs fanout
//   PGNUDGE_BENCH_PG=17             the major to boot
//   PGNUDGE_BENCH_WRITES=200        single-row commits per consumer count
//   PGNUDGE_BENCH_CONSUMERS=1,50,500
//   PGNUDGE_BENCH_OUT=<file>        where to write the JSON (default bench/results/fanout-latest.json)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { NotifyFeed } from '../src/index.js';
import { CliProcess, connectionUrl } from '../test/support/cli-process.js';
import { Cluster, type ClusterInfo, runSql, scratchDatabase } from '../test/support/cluster.js';
import { feedConnection } from '../test/support/feed-probe.js';
import { waitFor } from '../test/support/wait.js';

const MAJOR = Number(process.env.PGNUDGE_BENCH_PG ?? 17);
const WRITES = Number(process.env.PGNUDGE_BENCH_WRITES ?? 200);
const WARMUP_WRITES = 5;
const COUNTS = (process.env.PGNUDGE_BENCH_CONSUMERS ?? '1,50,500').split(',').map(Number);
const CHANNEL = 'pgnudge bench';
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Wall-clock milliseconds, finer than Date.now(). */
const nowMs = () => performance.timeOrigin + performance.now();

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

async function startBridge(info: ClusterInfo, database: string, home: string): Promise<CliProcess> {
  const bridge = new CliProcess(
    [
      'bridge',
      '--channel',
      CHANNEL,
      '--dsn',
      connectionUrl(info, database, info.roles.replication),
      '--debounce',
      '0',
      '-v',
    ],
    { home },
  );
  await bridge.logged(/active on channel/, 'the bridge to become active', 30_000);
  return bridge;
}

interface Consumer {
  feed: NotifyFeed;
  arrivals: number[];
}

async function openConsumers(info: ClusterInfo, database: string, count: number): Promise<Consumer[]> {
  const consumers: Consumer[] = [];
  // Connect in groups so 500 TLS + SCRAM handshakes do not all contend at once.
  for (let start = 0; start < count; start += 50) {
    const group = Array.from({ length: Math.min(50, count - start) }, () => {
      const feed = new NotifyFeed({
        ...feedConnection(info, database, info.roles.login),
        channel: CHANNEL,
        debounce: 0,
      });
      const consumer: Consumer = { feed, arrivals: [] };
      const connected = new Promise<void>((resolveConnected, reject) => {
        void (async () => {
          try {
            for await (const item of feed) {
              if (item.type === 'resync') resolveConnected();
              else consumer.arrivals.push(nowMs());
            }
          } catch (error) {
            reject(error);
          }
        })();
      });
      consumers.push(consumer);
      return connected;
    });
    await Promise.all(group);
  }
  // Every consumer has heard the bridge (its heartbeat), so no first-contact Resync lands mid-run.
  await waitFor(() => consumers.every((c) => c.feed.bridgeId !== null), {
    timeoutMs: 30_000,
    what: 'every consumer to hear the bridge',
  });
  return consumers;
}

async function measure(info: ClusterInfo, database: string, count: number) {
  const consumers = await openConsumers(info, database, count);
  const writer = new pg.Client({
    host: info.host,
    port: info.port,
    user: info.superuser.user,
    password: info.superuser.password,
    database,
  });
  await writer.connect();
  const latencies: number[] = [];
  try {
    for (let i = 0; i < WARMUP_WRITES + WRITES; i++) {
      const before = consumers.map((c) => c.arrivals.length);
      await writer.query('INSERT INTO t (v) VALUES (1)');
      const committed = nowMs();
      await waitFor(() => consumers.every((c, k) => c.arrivals.length > (before[k] ?? 0)), {
        timeoutMs: 30_000,
        intervalMs: 2,
        what: `write ${i} at all ${count} consumers`,
      });
      if (i < WARMUP_WRITES) continue;
      for (const [k, c] of consumers.entries())
        latencies.push((c.arrivals[before[k] ?? 0] ?? Number.NaN) - committed);
    }
  } finally {
    await writer.end();
    await Promise.all(consumers.map((c) => c.feed.close()));
  }
  latencies.sort((a, b) => a - b);
  return {
    consumers: count,
    writes: WRITES,
    samples: latencies.length,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies.at(-1) ?? Number.NaN,
  };
}

const loadAverageAtStart = loadavg();
const cluster = await Cluster.start({ major: MAJOR, settings: { max_connections: 600 } });
let bridge: CliProcess | null = null;
const home = mkdtempSync(join(tmpdir(), 'pgnudge-bench-home-'));
try {
  const info = cluster.info;
  const db = await scratchDatabase(info, 'bench_fanout');
  await runSql(info, 'CREATE TABLE public.t (id serial PRIMARY KEY, v int)', db.name);
  bridge = await startBridge(info, db.name, home);
  const results = [];
  for (const count of COUNTS) {
    const result = await measure(info, db.name, count);
    results.push(result);
    console.log(
      `${String(count).padStart(4)} consumers: commit → consumer p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, max ${result.maxMs.toFixed(2)} ms (${result.samples} samples)`,
    );
  }
  const out = process.env.PGNUDGE_BENCH_OUT ?? join(root, 'bench/results/fanout-latest.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        bench: 'fanout',
        date: new Date().toISOString(),
        postgres: info.version,
        node: process.version,
        cpus: cpus().length,
        cpuModel: cpus()[0]?.model.trim().split(' ').slice(0, 2).join(' '),
        loadAverageAtStart: loadAverageAtStart.map((n) => Math.round(n * 100) / 100),
        loadAverageAtEnd: loadavg().map((n) => Math.round(n * 100) / 100),
        setup:
          'one `pgnudge bridge` child (debounce 0) on TCP 127.0.0.1 with TLS verify-full and SCRAM; NotifyFeed consumers (debounce 0, LOGIN role, one connection each) in the bench process; latency = consumer receives the Batch − the writer’s INSERT commit returned',
        latency: results,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`wrote ${out}`);
} finally {
  bridge?.kill('SIGTERM');
  await bridge?.exited;
  cluster.stop();
  rmSync(home, { recursive: true, force: true });
}

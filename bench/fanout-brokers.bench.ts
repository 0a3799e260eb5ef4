// Commit → consumer latency through one bridge on Redis pub/sub and on NATS (contract R30), for 1, 100 and
// 1,000 BrokerFeed consumers, and the bridge's CPU per commit. Boots PostgreSQL, redis-server and
// nats-server itself; the bridge is one `pgnudge bridge --to redis://… --to nats://…` child, consumers run
// in this process (one broker connection each). Prints a table and writes
// bench/results/fanout-brokers-latest.json. Asserts nothing. Run: node scripts/bench.mjs fanout-brokers
//   PGNUDGE_BENCH_PG=17             the major to boot
//   PGNUDGE_BENCH_WRITES=100        single-row commits per transport and consumer count
//   PGNUDGE_BENCH_CONSUMERS=1,100,1000
//   PGNUDGE_BENCH_OUT=<file>        where to write the JSON
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BrokerFeed } from '../src/index.js';
import type { CliProcess } from '../test/support/cli-process.js';
import { Cluster, runSql, scratchDatabase } from '../test/support/cluster.js';
import { startNats } from '../test/support/nats.js';
import { startRedis } from '../test/support/redis.js';
import { measureFanout, SECRET, startBridge } from './support/fanout.js';
import { loadAverage } from './support/measure.js';

const MAJOR = Number(process.env.PGNUDGE_BENCH_PG ?? 17);
const WRITES = Number(process.env.PGNUDGE_BENCH_WRITES ?? 100);
const COUNTS = (process.env.PGNUDGE_BENCH_CONSUMERS ?? '1,100,1000').split(',').map(Number);
const CHANNEL = 'pgnudge.bench';
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLOCK_TICK = 100; // USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s

/** The CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICK;
}

const loadAverageAtStart = loadAverage();
const cluster = await Cluster.start({ major: MAJOR });
const redis = await startRedis();
const nats = await startNats();
let bridge: CliProcess | null = null;
const home = mkdtempSync(join(tmpdir(), 'pgnudge-bench-home-'));
try {
  const info = cluster.info;
  const db = await scratchDatabase(info, 'bench_brokers');
  await runSql(info, 'CREATE TABLE public.t (id int)', db.name);
  const urls = { redis: `${redis.info.url}/${CHANNEL}`, nats: `${nats.info.url}/${CHANNEL}` };
  bridge = await startBridge(info, db.name, CHANNEL, home, [urls.redis, urls.nats]);
  const pid = bridge.child.pid as number;
  const results = [];
  for (const transport of ['redis', 'nats'] as const) {
    for (const count of COUNTS) {
      const cpuBefore = cpuSeconds(pid);
      const result = await measureFanout(info, db.name, {
        channel: CHANNEL,
        table: 'public.t',
        consumers: count,
        writes: WRITES,
        make: () => new BrokerFeed({ from: urls[transport], secret: SECRET, debounce: 0 }),
      });
      // The bridge publishes to both brokers at once: its CPU per commit covers both.
      const bridgeCpuMsPerCommit = ((cpuSeconds(pid) - cpuBefore) * 1000) / (WRITES + 5);
      results.push({ transport, ...result, bridgeCpuMsPerCommit });
      console.log(
        `${transport.padEnd(5)} ${String(count).padStart(4)} consumers: commit → consumer p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, max ${result.maxMs.toFixed(2)} ms (${result.samples} samples); bridge CPU ${bridgeCpuMsPerCommit.toFixed(2)} ms/commit`,
      );
    }
  }
  const out = process.env.PGNUDGE_BENCH_OUT ?? join(root, 'bench/results/fanout-brokers-latest.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        bench: 'fanout-brokers',
        date: new Date().toISOString(),
        postgres: info.version,
        node: process.version,
        cpus: cpus().length,
        loadAverageAtStart,
        loadAverageAtEnd: loadAverage(),
        setup:
          'one `pgnudge bridge --to redis --to nats` child (debounce 0, TLS + SCRAM to PostgreSQL); BrokerFeed consumers (debounce 0, one broker connection each) in the bench process; latency = consumer receives the Batch − just before the writer sends COMMIT; bridge CPU = its user + system time over the run / commits',
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
  redis.stop();
  nats.stop();
  cluster.stop();
  rmSync(home, { recursive: true, force: true });
}

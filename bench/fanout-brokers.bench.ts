// Commit → consumer latency through one bridge on Redis pub/sub and on NATS (contract R30), for 1, 100 and
// 1,000 BrokerFeed consumers, and the bridge's CPU per commit. Boots PostgreSQL, redis-server and
// nats-server itself; the bridge is one `pgnudge bridge --to redis://… --to nats://…` child; consumers
// (one broker connection each) are spread over several child processes, as application instances would
// be, so that no one event loop checks every consumer's MAC. Every (transport, consumer count) runs once per
// repetition, the repetitions interleaved; the table gives medians. Prints a table and writes
// bench/results/fanout-brokers-latest.json. Asserts nothing. Run: node scripts/bench.mjs fanout-brokers
//   PGNUDGE_BENCH_PG=17             the major to boot
//   PGNUDGE_BENCH_WRITES=50         single-row commits per transport, consumer count and repetition
//   PGNUDGE_BENCH_CONSUMERS=1,100,1000
//   PGNUDGE_BENCH_PROCESSES=4       consumer processes (fewer when there are fewer consumers)
//   PGNUDGE_BENCH_REPEAT=3          interleaved repetitions
//   PGNUDGE_BENCH_OUT=<file>        where to write the JSON
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CliProcess } from '../test/support/cli-process.js';
import { Cluster, runSql, scratchDatabase } from '../test/support/cluster.js';
import { startNats } from '../test/support/nats.js';
import { startRedis } from '../test/support/redis.js';
import { measureSpreadFanout, type SpreadFigures } from './support/broker-consumers.js';
import { SECRET, startBridge } from './support/fanout.js';
import { loadAverage, median } from './support/measure.js';

const MAJOR = Number(process.env.PGNUDGE_BENCH_PG ?? 17);
const WRITES = Number(process.env.PGNUDGE_BENCH_WRITES ?? 50);
const PROCESSES = Number(process.env.PGNUDGE_BENCH_PROCESSES ?? 4);
const REPEAT = Number(process.env.PGNUDGE_BENCH_REPEAT ?? 3);
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
  const runs: (SpreadFigures & { transport: string; repetition: number; bridgeCpuMsPerCommit: number })[] =
    [];
  for (let repetition = 0; repetition < REPEAT; repetition++) {
    for (const transport of ['redis', 'nats'] as const) {
      for (const count of COUNTS) {
        const cpuBefore = cpuSeconds(pid);
        const result = await measureSpreadFanout(info, db.name, {
          from: urls[transport],
          secret: SECRET,
          table: 'public.t',
          consumers: count,
          processes: PROCESSES,
          writes: WRITES,
        });
        // The bridge publishes to both brokers at once: its CPU per commit covers both (warm-up included).
        const bridgeCpuMsPerCommit = ((cpuSeconds(pid) - cpuBefore) * 1000) / (WRITES + 5);
        runs.push({ transport, repetition, ...result, bridgeCpuMsPerCommit });
        console.log(
          `#${repetition + 1} ${transport.padEnd(5)} ${String(count).padStart(4)} consumers in ${result.processes} process(es): p50 ${result.p50Ms.toFixed(2)} ms, p99 ${result.p99Ms.toFixed(2)} ms, max ${result.maxMs.toFixed(2)} ms (${result.samples} samples); bridge CPU ${bridgeCpuMsPerCommit.toFixed(2)} ms/commit; consumers CPU ${result.consumersCpuMsPerCommit.toFixed(1)} ms/commit; load ${loadAverage()[0]?.toFixed(1)}`,
        );
      }
    }
  }
  const results = (['redis', 'nats'] as const).flatMap((transport) =>
    COUNTS.map((count) => {
      const mine = runs.filter((run) => run.transport === transport && run.consumers === count);
      const of = (pick: (run: (typeof runs)[number]) => number) => median(mine.map(pick));
      return {
        transport,
        consumers: count,
        processes: mine[0]?.processes ?? 0,
        repetitions: mine.length,
        p50Ms: of((run) => run.p50Ms),
        p99Ms: of((run) => run.p99Ms),
        maxMs: of((run) => run.maxMs),
        bridgeCpuMsPerCommit: of((run) => run.bridgeCpuMsPerCommit),
        consumersCpuMsPerCommit: of((run) => run.consumersCpuMsPerCommit),
      };
    }),
  );
  console.log(
    '\nmedians | transport | consumers | processes | p50 ms | p99 ms | bridge CPU ms/commit | consumers CPU ms/commit',
  );
  for (const row of results) {
    console.log(
      `| ${row.transport} | ${row.consumers} | ${row.processes} | ${row.p50Ms.toFixed(1)} | ${row.p99Ms.toFixed(1)} | ${row.bridgeCpuMsPerCommit.toFixed(2)} | ${row.consumersCpuMsPerCommit.toFixed(1)} |`,
    );
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
          'one `pgnudge bridge --to redis --to nats` child (debounce 0, TLS + SCRAM to PostgreSQL); BrokerFeed consumers (debounce 0, one broker connection each) spread evenly over up to `processes` child processes; latency = consumer receives the Batch − just before the writer sends COMMIT; bridge CPU = its user + system time over the measurement / commits; consumers CPU = all consumer processes together; medians over interleaved repetitions',
        writes: WRITES,
        latency: results,
        runs,
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

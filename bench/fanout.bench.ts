// Commit → consumer latency through one NOTIFY bridge (contract §6), for 1, 50 and 500 NotifyFeed consumers
// (one connection each) on a PostgreSQL it boots itself with max_connections = 600. The bridge is a
// `pgnudge bridge` child process; consumers run in this process (bench/support/fanout.ts). Prints a
// table and writes bench/results/fanout-latest.json. Asserts nothing. Run: node scripts/bench.mjs fanout
//   PGNUDGE_BENCH_PG=17             the major to boot
//   PGNUDGE_BENCH_WRITES=200        single-row commits per consumer count
//   PGNUDGE_BENCH_CONSUMERS=1,50,500
//   PGNUDGE_BENCH_OUT=<file>        where to write the JSON (default bench/results/fanout-latest.json)
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CliProcess } from '../test/support/cli-process.js';
import { Cluster, runSql, scratchDatabase } from '../test/support/cluster.js';
import { measureFanout, startBridge } from './support/fanout.js';
import { loadAverage } from './support/measure.js';

const MAJOR = Number(process.env.PGNUDGE_BENCH_PG ?? 17);
const WRITES = Number(process.env.PGNUDGE_BENCH_WRITES ?? 200);
const COUNTS = (process.env.PGNUDGE_BENCH_CONSUMERS ?? '1,50,500').split(',').map(Number);
const CHANNEL = 'pgnudge bench';
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

const loadAverageAtStart = loadAverage();
const cluster = await Cluster.start({ major: MAJOR, settings: { max_connections: 600 } });
let bridge: CliProcess | null = null;
const home = mkdtempSync(join(tmpdir(), 'pgnudge-bench-home-'));
try {
  const info = cluster.info;
  const db = await scratchDatabase(info, 'bench_fanout');
  await runSql(info, 'CREATE TABLE public.t (id int)', db.name);
  bridge = await startBridge(info, db.name, CHANNEL, home);
  const results = [];
  for (const count of COUNTS) {
    const result = await measureFanout(info, db.name, {
      channel: CHANNEL,
      table: 'public.t',
      consumers: count,
      writes: WRITES,
    });
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
        loadAverageAtStart,
        loadAverageAtEnd: loadAverage(),
        setup:
          'one `pgnudge bridge` child (debounce 0) on TCP 127.0.0.1 with TLS verify-full and SCRAM; NotifyFeed consumers (debounce 0, LOGIN role, one connection each) in the bench process; latency = consumer receives the Batch − just before the writer sends COMMIT',
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

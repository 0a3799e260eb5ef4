// What an idle WalFeed costs over time (issue 20: idle CPU ≤ 0.1 % of a core): a feed in a child
// process of its own, its CPU from /proc sampled in windows from connect on, beside a bare Node child
// that does nothing, so a start-up transient (compilation, the garbage collector's memory reducer)
// shows apart from the steady state. Asserts nothing.
// Run: npm run bench idle
//   PGNUDGE_BENCH_PG=15            the major to boot
//   PGNUDGE_BENCH_IDLE_WINDOWS=7   windows per child (the first holds the start-up transient)
//   PGNUDGE_BENCH_IDLE_WINDOW_S=20 one window
import { fork } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { WalFeed } from '../src/index.js';
import { Cluster, type ClusterInfo, scratchDatabase, serverInstall } from '../test/support/cluster.js';
import { pgnudgeOptions } from './contenders/pgnudge.js';
import { processCpuSeconds } from './support/measure.js';

const env = (name: string, fallback: number) => Number(process.env[`PGNUDGE_BENCH_${name}`] ?? fallback);
const WINDOWS = env('IDLE_WINDOWS', 7);
const WINDOW_S = env('IDLE_WINDOW_S', 20);
const KINDS = ['bare node', 'tcp', 'tls'] as const;
type Kind = (typeof KINDS)[number];

async function child(): Promise<void> {
  const { info, database, kind } = JSON.parse(process.argv[3]!) as {
    info: ClusterInfo;
    database: string;
    kind: Kind;
  };
  if (kind !== 'bare node') {
    const base = pgnudgeOptions({
      info,
      database,
      tables: [],
      debounceMs: 0,
      applicationName: '',
      transport: kind,
    });
    const feed = new WalFeed({ ...base, plugin: 'test_decoding' });
    const iterator = feed[Symbol.asyncIterator]();
    await iterator.next();
    process.once('disconnect', () => void feed.close());
  } else {
    // Kept alive by the IPC channel alone, as the feed's child is by its socket too.
    process.once('disconnect', () => {});
  }
  process.send!('ready');
}

async function main(): Promise<void> {
  const asked = process.env.PGNUDGE_BENCH_PG;
  const major = asked ? Number(asked) : ([15, 17, 18, 16].find((m) => serverInstall(m) !== null) ?? 15);
  // The server's default wal_sender_timeout (the harness shortens it for fault tests), so that the
  // feed's status cadence is its default 10 s.
  const cluster = await Cluster.start({ major, settings: { wal_sender_timeout: "'60s'" } });
  const db = await scratchDatabase(cluster.info, 'bench_idle');
  try {
    const procs = await Promise.all(
      KINDS.map(async (kind) => {
        const proc = fork(fileURLToPath(import.meta.url), [
          'child',
          JSON.stringify({ info: cluster.info, database: db.name, kind }),
        ]);
        await new Promise((resolve, reject) => {
          proc.once('message', resolve);
          proc.once('exit', (code) => reject(new Error(`${kind} child exited with ${code}`)));
        });
        return { kind, proc };
      }),
    );
    console.log(
      `PostgreSQL ${cluster.info.version}; CPU % of a core per ${WINDOW_S} s window from connect on (clock ticks: 1 tick = ${(100 / (WINDOW_S * 100)).toFixed(3)} %)`,
    );
    const rows: Record<Kind, number[]> = { 'bare node': [], tcp: [], tls: [] };
    let before = procs.map(({ proc }) => processCpuSeconds(proc.pid!));
    for (let w = 0; w < WINDOWS; w++) {
      await sleep(WINDOW_S * 1000);
      const now = procs.map(({ proc }) => processCpuSeconds(proc.pid!));
      for (const [i, { kind }] of procs.entries()) rows[kind].push(((now[i]! - before[i]!) / WINDOW_S) * 100);
      before = now;
    }
    for (const kind of KINDS) {
      const steady = rows[kind].slice(1);
      const mean = steady.reduce((sum, value) => sum + value, 0) / steady.length;
      console.log(
        `${kind.padEnd(9)} ${rows[kind].map((value) => value.toFixed(3).padStart(6)).join(' ')}   after the first window: ${mean.toFixed(3)} %`,
      );
    }
    for (const { proc } of procs) proc.disconnect();
  } finally {
    await db.drop();
    cluster.stop();
  }
}

if (process.argv[2] === 'child') await child();
else await main();

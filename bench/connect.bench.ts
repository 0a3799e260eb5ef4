// Where a WalFeed's connect time goes (issue 20: dial to the first next() ready, ≤ 10 ms over plain TCP
// and ≤ 25 ms over TLS on loopback), phase by phase, from the connection's own trace of each message
// it sends and reads. Each child process connects once cold (the application's first connect: code
// not yet compiled, no TLS context) and then again warm (a reconnect). Asserts nothing.
// Run: npm run bench connect
//   PGNUDGE_BENCH_PG=15            the major to boot
//   PGNUDGE_BENCH_CONNECTS=10      child processes per transport (one cold connect each)
//   PGNUDGE_BENCH_WARM=5           warm connects per child after the cold one
import { fork } from 'node:child_process';
import { createConnection } from 'node:net';
import { fileURLToPath } from 'node:url';
import { WalFeed } from '../src/index.js';
import { Cluster, type ClusterInfo, scratchDatabase, serverInstall } from '../test/support/cluster.js';
import { pgnudgeOptions } from './contenders/pgnudge.js';
import { median, nowMs } from './support/measure.js';

const CONNECTS = Number(process.env.PGNUDGE_BENCH_CONNECTS ?? 10);
const WARM = Number(process.env.PGNUDGE_BENCH_WARM ?? 5);
const TRANSPORTS = ['tcp', 'tls'] as const;
type Transport = (typeof TRANSPORTS)[number];

/**
 * The phases, in order: each ends at the first trace line after the previous phase's that matches it.
 * With SHOW and CREATE_REPLICATION_SLOT pipelined, SHOW's part is its answer's wait and the slot's
 * part what the server took beyond it.
 */
const PHASES: readonly { name: string; ends: RegExp }[] = [
  { name: 'tcp_tls_startup', ends: /< Authentication(SASL|MD5Password|CleartextPassword|Ok)\b/ },
  { name: 'auth', ends: /< ReadyForQuery/ },
  { name: 'show_wal_sender_timeout', ends: /< ReadyForQuery/ },
  { name: 'create_slot', ends: /> Query START_REPLICATION/ },
  { name: 'start_replication', ends: /< CopyBothResponse/ },
];

type Timing = Record<string, number>;

/** One feed's connect: total ms from the constructor to the first Resync, and each phase's part. */
async function timeConnect(base: Record<string, unknown>): Promise<Timing> {
  const lines: { at: number; text: string }[] = [];
  const at = (text: string) => lines.push({ at: nowMs(), text });
  const logger = { trace: at, debug: at, info: at, warn: at, error: at };
  const started = nowMs();
  // The phases come from trace lines, which only logLevel 'trace' writes.
  const feed = new WalFeed({ ...base, plugin: 'wal2json', logger, logLevel: 'trace' });
  const iterator = feed[Symbol.asyncIterator]();
  await iterator.next();
  const ready = nowMs();
  await feed.close();
  const timing: Timing = { total: ready - started };
  let from = started;
  let index = 0;
  for (const phase of PHASES) {
    while (index < lines.length && !phase.ends.test(lines[index]!.text)) index++;
    const line = lines[index++];
    if (line === undefined) break;
    timing[phase.name] = line.at - from;
    from = line.at;
  }
  timing.after_stream = ready - from;
  return timing;
}

/** Milliseconds to a TCP connection alone, the floor under every phase above. */
async function timeTcp(host: string, port: number): Promise<number> {
  const started = nowMs();
  const socket = createConnection({ host, port });
  await new Promise((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  const ms = nowMs() - started;
  socket.destroy();
  return ms;
}

async function child(): Promise<void> {
  const { info, database, transport } = JSON.parse(process.argv[3]!) as {
    info: ClusterInfo;
    database: string;
    transport: Transport;
  };
  const base = pgnudgeOptions({ info, database, tables: [], debounceMs: 0, applicationName: '', transport });
  const cold = await timeConnect({ ...base });
  const warm: Timing[] = [];
  for (let i = 0; i < WARM; i++) warm.push(await timeConnect({ ...base }));
  const tcp = await timeTcp(info.host, info.port);
  process.send!({ cold, warm, tcp });
}

function summarize(timings: readonly Timing[]): Record<string, number> {
  const keys = ['total', ...PHASES.map((phase) => phase.name), 'after_stream'];
  return Object.fromEntries(
    keys.map((key) => [
      key,
      Math.round(median(timings.map((timing) => timing[key] ?? Number.NaN)) * 100) / 100,
    ]),
  );
}

async function main(): Promise<void> {
  const asked = process.env.PGNUDGE_BENCH_PG;
  const major = asked ? Number(asked) : ([15, 17, 18, 16].find((m) => serverInstall(m) !== null) ?? 15);
  const cluster = await Cluster.start({ major });
  const db = await scratchDatabase(cluster.info, 'bench_connect');
  try {
    const results: Record<Transport, { cold: Timing[]; warm: Timing[]; tcp: number[] }> = {
      tcp: { cold: [], warm: [], tcp: [] },
      tls: { cold: [], warm: [], tcp: [] },
    };
    for (let i = 0; i < CONNECTS; i++) {
      for (const transport of TRANSPORTS) {
        const proc = fork(fileURLToPath(import.meta.url), [
          'child',
          JSON.stringify({ info: cluster.info, database: db.name, transport }),
        ]);
        const message = await new Promise<{ cold: Timing; warm: Timing[]; tcp: number }>(
          (resolve, reject) => {
            proc.once('message', resolve as (value: unknown) => void);
            proc.once('exit', (code) => reject(new Error(`connect child exited with ${code}`)));
          },
        );
        proc.kill();
        results[transport].cold.push(message.cold);
        results[transport].warm.push(...message.warm);
        results[transport].tcp.push(message.tcp);
      }
    }
    console.log(
      `PostgreSQL ${cluster.info.version}; medians over ${CONNECTS} cold connects (a fresh process each) and ${CONNECTS * WARM} warm ones; ms`,
    );
    for (const transport of TRANSPORTS) {
      const { cold, warm, tcp } = results[transport];
      console.log(`${transport} cold: ${JSON.stringify(summarize(cold))}`);
      console.log(`${transport} warm: ${JSON.stringify(summarize(warm))}`);
      console.log(`${transport} TCP connect alone: ${median(tcp).toFixed(2)}`);
    }
  } finally {
    await db.drop();
    cluster.stop();
  }
}

if (process.argv[2] === 'child') await child();
else await main();

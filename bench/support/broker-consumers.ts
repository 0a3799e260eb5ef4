// Broker consumers spread over several child processes (bench/support/broker-consumers-child.ts), and the
// commit → consumer latency measured through them: the way 1,000 application instances would not share
// one event loop. Used by bench/fanout-brokers.bench.ts.
import { type ChildProcess, fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClusterInfo } from '../../test/support/cluster.js';
import { waitFor } from '../../test/support/wait.js';
import type { ConsumersConfig, ConsumersMessage } from './broker-consumers-child.js';
import type { FanoutFigures } from './fanout.js';
import { latencySummary, nowMs, pgClient, totalCpuSeconds } from './measure.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'broker-consumers-child.js');
const WARMUP_WRITES = 5;

class ConsumersProcess {
  readonly child: ChildProcess;
  /** Arrival times by Batch index, as the child reported them. */
  readonly arrivals: number[][] = [];
  ready = false;
  error: string | undefined;

  constructor(config: ConsumersConfig) {
    this.child = fork(CHILD, [JSON.stringify(config)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (message: ConsumersMessage) => {
      if (message.type === 'ready') this.ready = true;
      else if (message.type === 'arrivals') this.arrivals[message.index] = message.at;
      else this.error = message.message;
    });
    this.child.once('exit', (code, signal) => {
      if (code !== 0) this.error ??= `a consumer process exited with ${signal ?? code}`;
    });
  }

  check(): void {
    if (this.error !== undefined) throw new Error(this.error);
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.send({ type: 'close' });
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}

export interface SpreadFigures extends FanoutFigures {
  processes: number;
  /** The consumer processes' CPU (user + system) per commit, all of them together. */
  consumersCpuMsPerCommit: number;
}

/**
 * `writes` single-row commits into `table`, each waited for at all `consumers` BrokerFeeds, spread
 * evenly over `processes` child processes (fewer when there are fewer consumers); latency is a consumer
 * receiving the Batch − the moment just before the writer sends COMMIT.
 */
export async function measureSpreadFanout(
  info: ClusterInfo,
  database: string,
  options: {
    from: string;
    secret: string;
    table: string;
    consumers: number;
    processes: number;
    writes: number;
  },
): Promise<SpreadFigures> {
  const processes = Math.min(options.processes, options.consumers);
  const children = Array.from({ length: processes }, (_, i) => {
    const count = Math.floor(options.consumers / processes) + (i < options.consumers % processes ? 1 : 0);
    return new ConsumersProcess({ from: options.from, secret: options.secret, count });
  });
  const writer = pgClient(info, database);
  const latencies: number[] = [];
  let consumersCpu = 0;
  try {
    await waitFor(
      () => {
        for (const child of children) child.check();
        return children.every((child) => child.ready);
      },
      { timeoutMs: 120_000, what: `${options.consumers} consumers in ${processes} process(es) to be ready` },
    );
    await writer.connect();
    const pids = children.map((child) => child.child.pid as number);
    let cpuBefore = 0;
    for (let i = 0; i < WARMUP_WRITES + options.writes; i++) {
      if (i === WARMUP_WRITES) cpuBefore = totalCpuSeconds(pids);
      await writer.query('BEGIN');
      await writer.query(`INSERT INTO ${options.table} (id) VALUES (1)`);
      const committed = nowMs();
      await writer.query('COMMIT');
      await waitFor(
        () => {
          for (const child of children) child.check();
          return children.every((child) => child.arrivals[i] !== undefined);
        },
        { timeoutMs: 30_000, intervalMs: 2, what: `write ${i} at all ${options.consumers} consumers` },
      );
      if (i < WARMUP_WRITES) continue;
      for (const child of children) for (const at of child.arrivals[i] ?? []) latencies.push(at - committed);
    }
    consumersCpu = totalCpuSeconds(pids) - cpuBefore;
  } finally {
    await writer.end().catch(() => {});
    await Promise.all(children.map((child) => child.close()));
  }
  const { p50, p99, max } = latencySummary(latencies);
  return {
    consumers: options.consumers,
    processes,
    writes: options.writes,
    samples: latencies.length,
    p50Ms: p50,
    p99Ms: p99,
    maxMs: max,
    consumersCpuMsPerCommit: (consumersCpu * 1000) / options.writes,
  };
}

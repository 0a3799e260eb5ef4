// Commit → consumer latency through one NOTIFY bridge (contract §6): a `pgnudge bridge` child process and
// NotifyFeed consumers (one connection each) in this process. Used by fanout.bench.ts and the comparison.
import type pg from 'pg';
import { type BrokerFeed, NotifyFeed } from '../../src/index.js';
import { CliProcess, connectionUrl } from '../../test/support/cli-process.js';
import type { ClusterInfo } from '../../test/support/cluster.js';
import { feedConnection } from '../../test/support/feed-probe.js';
import { waitFor } from '../../test/support/wait.js';
import { latencySummary, nowMs, pgClient } from './measure.js';

const WARMUP_WRITES = 5;
/** The secret the bridge and its consumers share (contract R29): every message is signed and checked. */
export const SECRET = 'fan-out bench: a secret of 32 by';

export async function startBridge(
  info: ClusterInfo,
  database: string,
  channel: string,
  home: string,
  to: readonly string[] = [],
  env: Record<string, string> = {},
): Promise<CliProcess> {
  const bridge = new CliProcess(
    [
      'bridge',
      '--channel',
      channel,
      '--dsn',
      connectionUrl(info, database, info.roles.replication),
      '--debounce',
      '0',
      ...to.flatMap((url) => ['--to', url]),
      '-v',
    ],
    { home, env: { PGNUDGE_SECRET: SECRET, ...env } },
  );
  await bridge.logged(/: active on channel/, 'the bridge to become active', 30_000);
  return bridge;
}

/** What a consumer reads through: NOTIFY (the default) or a broker. */
export type MakeFeed = () => NotifyFeed | BrokerFeed;

interface Consumer {
  feed: NotifyFeed | BrokerFeed;
  arrivals: number[];
}

async function openConsumers(
  info: ClusterInfo,
  database: string,
  channel: string,
  count: number,
  make: MakeFeed | undefined,
): Promise<Consumer[]> {
  const consumers: Consumer[] = [];
  // Connect in groups so hundreds of TLS + SCRAM handshakes do not all contend at once.
  for (let start = 0; start < count; start += 50) {
    const group = Array.from({ length: Math.min(50, count - start) }, () => {
      const feed =
        make?.() ??
        new NotifyFeed({
          ...feedConnection(info, database, info.roles.login),
          channel,
          secret: SECRET,
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

export interface FanoutFigures {
  consumers: number;
  writes: number;
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/**
 * `writes` single-row commits into `table`, each waited for at all `count` consumers; latency is a
 * consumer receiving the Batch − the moment just before the writer sends COMMIT (as in the comparison).
 */
export async function measureFanout(
  info: ClusterInfo,
  database: string,
  options: { channel: string; table: string; consumers: number; writes: number; make?: MakeFeed },
): Promise<FanoutFigures> {
  const consumers = await openConsumers(info, database, options.channel, options.consumers, options.make);
  const writer: pg.Client = pgClient(info, database);
  await writer.connect();
  const latencies: number[] = [];
  try {
    for (let i = 0; i < WARMUP_WRITES + options.writes; i++) {
      const before = consumers.map((c) => c.arrivals.length);
      await writer.query('BEGIN');
      await writer.query(`INSERT INTO ${options.table} (id) VALUES (1)`);
      const committed = nowMs();
      await writer.query('COMMIT');
      await waitFor(() => consumers.every((c, k) => c.arrivals.length > (before[k] ?? 0)), {
        timeoutMs: 30_000,
        intervalMs: 2,
        what: `write ${i} at all ${options.consumers} consumers`,
      });
      if (i < WARMUP_WRITES) continue;
      for (const [k, c] of consumers.entries())
        latencies.push((c.arrivals[before[k] ?? 0] ?? Number.NaN) - committed);
    }
  } finally {
    await writer.end();
    await Promise.all(consumers.map((c) => c.feed.close()));
  }
  const { p50, p99, max } = latencySummary(latencies);
  return {
    consumers: options.consumers,
    writes: options.writes,
    samples: latencies.length,
    p50Ms: p50,
    p99Ms: p99,
    maxMs: max,
  };
}

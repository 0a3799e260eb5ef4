// One process of the multi-process broker fan-out bench (bench/fanout-brokers.bench.ts): opens `count`
// BrokerFeed consumers (one broker connection each) and, once every one of them has received the next
// Batch, sends their arrival times to the parent in one message, so that the bench's own process stays
// idle while it measures. Times are nowMs() wall-clock milliseconds, comparable across the processes.
import { BrokerFeed } from '../../src/index.js';
import { waitFor } from '../../test/support/wait.js';
import { nowMs } from './measure.js';

/** What the bench gives a consumer process: where to subscribe, the shared secret, how many consumers. */
export interface ConsumersConfig {
  from: string;
  secret: string;
  count: number;
}

export type ConsumersMessage =
  /** Every consumer is subscribed and has heard the bridge. */
  | { type: 'ready'; pid: number }
  /** Every consumer received its `index`-th Batch; `at` holds each one's arrival time. */
  | { type: 'arrivals'; index: number; at: number[] }
  | { type: 'error'; message: string };

function send(message: ConsumersMessage): void {
  process.send?.(message);
}

const config = JSON.parse(process.argv[2] ?? '{}') as ConsumersConfig;
const arrivals: number[][] = [];
let reported = 0;
const feeds: BrokerFeed[] = [];

/** Reports every Batch index that all consumers have reached, in order. */
function flush(): void {
  while (arrivals.every((times) => times.length > reported)) {
    send({ type: 'arrivals', index: reported, at: arrivals.map((times) => times[reported] as number) });
    reported += 1;
  }
}

async function main(): Promise<void> {
  const connected: Promise<void>[] = [];
  for (let i = 0; i < config.count; i++) {
    const feed = new BrokerFeed({ from: config.from, secret: config.secret, debounce: 0 });
    const times: number[] = [];
    feeds.push(feed);
    arrivals.push(times);
    connected.push(
      new Promise<void>((resolve, reject) => {
        void (async () => {
          try {
            for await (const item of feed) {
              if (item.type === 'resync') resolve();
              else {
                times.push(nowMs());
                flush();
              }
            }
          } catch (error) {
            reject(error);
          }
        })();
      }),
    );
  }
  await Promise.all(connected);
  // Every consumer has heard the bridge (its heartbeat), so no first-contact Resync lands mid-run.
  await waitFor(() => feeds.every((feed) => feed.bridgeId !== null), {
    timeoutMs: 60_000,
    what: 'every consumer to hear the bridge',
  });
  send({ type: 'ready', pid: process.pid });
}

process.on('message', (message: { type: string }) => {
  if (message.type !== 'close') return;
  void Promise.all(feeds.map((feed) => feed.close())).finally(() => process.exit(0));
});

main().catch((error: unknown) => {
  send({ type: 'error', message: String(error) });
  process.exit(1);
});

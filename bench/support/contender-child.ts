// The child process a contender runs in: `node contender-child.js <ChildConfig JSON>`. Starts the
// contender, turns what it reports into ChildMessages, and closes it when the bench says so.
import { type IntervalHistogram, monitorEventLoopDelay } from 'node:perf_hooks';
import type { Running, Sink } from '../contenders/contender.js';
import { contenderNamed } from '../contenders/index.js';
import type { ChildConfig, ChildMessage, ParentMessage } from './child-protocol.js';
import { nowMs } from './measure.js';

const config = JSON.parse(process.argv[2]!) as ChildConfig;
const send = (message: ChildMessage) => {
  if (process.connected) process.send!(message);
};
const fail = (error: unknown) => {
  const message = String((error as Error)?.stack ?? error);
  if (!process.connected) console.error(message);
  send({ type: 'error', message });
  process.exitCode = 1;
  if (process.connected) process.disconnect();
};
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);

const contender = contenderNamed(config.contender);
/** Samples every ms: the delay of a sample is its interval less this. */
const DELAY_RESOLUTION_MS = 1;
let delays: IntervalHistogram | undefined;
let bulkSeen = false;
let bulkCounted = 0;
let bulkDone = false;
const onBulk = (rows: number) => {
  const at = nowMs();
  if (!bulkSeen) send({ type: 'bulk-first', at });
  bulkSeen = true;
  bulkCounted += rows;
  if (!bulkDone && contender.countsRows && bulkCounted >= config.bulkRows) {
    bulkDone = true;
    delays?.disable();
    // An event-loop delay measured in this process says nothing of a contender that runs in another.
    const eventLoopDelayP99Ms =
      delays && running?.pid === undefined
        ? Math.max(0, delays.percentile(99) / 1e6 - DELAY_RESOLUTION_MS)
        : null;
    send({ type: 'bulk-done', at, counted: bulkCounted, eventLoopDelayP99Ms });
  }
};
let started = 0;
let running: Running | undefined;
let readyAt: number | undefined;
const sendReady = () => {
  const at = readyAt!;
  send({ type: 'ready', at, connectMs: at - started, pid: running?.pid ?? process.pid });
};
const sink: Sink = {
  ready() {
    readyAt = nowMs();
    // pg_recvlogical reports its own pid through Running, which exists only once start() returns.
    if (running !== undefined) sendReady();
  },
  rows(table, count) {
    if (table === config.probeTable) send({ type: 'wake', at: nowMs() });
    else if (table === config.bulkTable) onBulk(count);
  },
  woke(table) {
    if (table === config.probeTable) send({ type: 'wake', at: nowMs() });
    else if (table === config.bulkTable) onBulk(0);
  },
  fail,
};

process.on('message', (message: ParentMessage) => {
  if (message.type === 'measure-drain') {
    // How long the application's own timers and I/O would wait during the drain (issue 20: p99 <= 10 ms).
    delays = monitorEventLoopDelay({ resolution: DELAY_RESOLUTION_MS });
    delays.enable();
    send({ type: 'measuring' });
    return;
  }
  if (message.type !== 'close') return;
  void (async () => {
    await running?.close();
    if (process.connected) process.disconnect();
  })().catch(fail);
});

started = nowMs();
running = await contender.start(config.target, sink);
if (readyAt !== undefined) sendReady();

// contract R16 end to end: a large transaction yields events whose counts sum to exactly its row count, with
// the client's memory bounded, once per plugin the major has. The full 1,000,000 rows run once per
// plugin (wal2json where it is installed, test_decoding on the newest selected major); the other majors
// drain 200,000, which crosses the same code paths. Four concurrent 1M-row decodes plus the rest of the
// suite once starved one major past the file deadline on a 2-core CI machine.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Batch, WalFeed } from '../../src/index.js';
import {
  type ClusterInfo,
  liveCluster,
  pluginUnavailable,
  runSql,
  scratchDatabase,
  selectedMajors,
} from '../support/cluster.js';
import { FeedProbe, feedConnection } from '../support/feed-probe.js';

const FULL_ROWS = 1_000_000;
const REDUCED_ROWS = 200_000;
/** The overall deadline stays under the runner's 180 s per file, so a failure reports its own cause. */
const DRAIN_DEADLINE_MS = 150_000;
/** A drain that stops making progress this long is stuck, not slow: fail with the count it stopped at. */
const STALL_MS = 45_000;
/** Generous: the client holds one frame and one pending entry, so growth is GC slack, not the data. */
const RSS_GROWTH_LIMIT = 150 * 1024 * 1024;
/** Batches close on debounce/maxBatchWait (≤ 1 s apart), so a drain of minutes is still few items. */
const MAX_BATCHES = 1_000;

let info: ClusterInfo;
let db: { name: string; drop(): Promise<void> };
before(async () => {
  info = await liveCluster();
  db = await scratchDatabase(info, 'feed_bulk');
});
after(async () => {
  await db?.drop();
});

for (const plugin of ['wal2json', 'test_decoding'] as const) {
  describe(`contract R16 with ${plugin}`, () => {
    test('a large transaction counts exactly its rows with bounded client memory and few batches', {
      timeout: 170_000,
    }, async (t) => {
      const skip = pluginUnavailable(info, plugin);
      if (skip) return t.skip(skip);
      const full = plugin === 'wal2json' || info.major === Math.max(...selectedMajors());
      const ROWS = full ? FULL_ROWS : REDUCED_ROWS;
      t.diagnostic(`${ROWS} rows`);
      // A narrow table of its own per plugin, so the two tests' counts can never mix.
      const table = `bulk_${plugin}`;
      const payload = `public.${table}`;
      await runSql(info, `CREATE TABLE public.${table} (id int)`, db.name);

      // Warnings say why a drain went wrong (a reconnect loses the rest of the transaction, by design).
      const warnings: string[] = [];
      const logger = {
        warn: (line: string) => warnings.push(line),
        error: (line: string) => warnings.push(line),
      };
      const feed = new WalFeed({ ...feedConnection(info, db.name), plugin, logger });
      const probe = new FeedProbe(feed);
      t.after(() => feed.close());
      await probe.resync('connected', 0, 30_000);
      const from = probe.mark();

      // Sampling, not timing: the highest RSS seen while the feed drains the transaction.
      const baseline = process.memoryUsage().rss;
      let peak = baseline;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 20);
      t.after(() => clearInterval(sampler));

      await runSql(info, `INSERT INTO public.${table} SELECT g FROM generate_series(1, ${ROWS}) g`, db.name);
      await drained(probe, payload, ROWS, from, warnings);
      clearInterval(sampler);
      peak = Math.max(peak, process.memoryUsage().rss);

      assert.equal(probe.count(payload, from), ROWS, 'counts sum to exactly the rows inserted');
      const batches = probe.items.slice(from).filter((item): item is Batch => item.type === 'batch');
      assert.deepEqual(
        probe.items.slice(from).filter((item) => item.type !== 'batch'),
        [],
        'no Resync while draining (no overflow, no reconnect)',
      );
      for (const batch of batches) {
        assert.deepEqual(
          batch.events.map((event) => event.payload),
          [payload],
          'each batch holds the one pending payload',
        );
      }
      assert.ok(
        batches.length < MAX_BATCHES,
        `${batches.length} batches: changes must coalesce, not arrive one item per row`,
      );
      const growth = peak - baseline;
      assert.ok(
        growth < RSS_GROWTH_LIMIT,
        `client RSS grew ${(growth / 2 ** 20).toFixed(1)} MiB while draining (limit ${RSS_GROWTH_LIMIT / 2 ** 20} MiB)`,
      );
      t.diagnostic(
        `${batches.length} batches; RSS growth ${(growth / 2 ** 20).toFixed(1)} MiB (baseline ${(baseline / 2 ** 20).toFixed(1)} MiB)`,
      );
    });
  });
}

/** Waits until `rows` changes are counted; fails fast, naming the count, when progress stops. */
async function drained(
  probe: FeedProbe,
  payload: string,
  rows: number,
  from: number,
  warnings: readonly string[],
): Promise<void> {
  const started = Date.now();
  let last = -1;
  let lastProgress = started;
  for (;;) {
    if (probe.error) throw probe.error;
    const have = probe.count(payload, from);
    if (have >= rows) return;
    const resync = probe.items.slice(from).find((item) => item.type === 'resync');
    if (resync) {
      throw new Error(
        `Resync(${resync.reason}) at ${have} of ${rows} changes: the rest of the transaction cannot arrive; warnings: ${warnings.join(' | ') || 'none'}`,
      );
    }
    const now = Date.now();
    if (have !== last) {
      last = have;
      lastProgress = now;
    }
    // Nothing arrives until the walsender has decoded up to the COMMIT, which on a loaded machine can
    // trail the INSERT by a long way; a stall is silence once the stream has started.
    if (have > 0 && now - lastProgress > STALL_MS)
      throw new Error(
        `drain stalled at ${have} of ${rows} changes (no progress for ${STALL_MS} ms); warnings: ${warnings.join(' | ') || 'none'}`,
      );
    if (now - started > DRAIN_DEADLINE_MS)
      throw new Error(
        `drain too slow: ${have} of ${rows} changes after ${DRAIN_DEADLINE_MS} ms; warnings: ${warnings.join(' | ') || 'none'}`,
      );
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

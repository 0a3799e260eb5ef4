// SPEC R16 end to end: a 1,000,000-row transaction yields events whose counts sum to exactly 1,000,000,
// with the client's memory bounded, once per plugin the major has. One such transaction per plugin per
// major keeps the CPU sane when CI runs all four majors at once.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Batch, WalFeed } from '../../src/index.js';
import {
  type ClusterInfo,
  liveCluster,
  pluginUnavailable,
  runSql,
  scratchDatabase,
} from '../support/cluster.js';
import { FeedProbe, feedConnection } from '../support/feed-probe.js';

const ROWS = 1_000_000;
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
  describe(`R16 with ${plugin}`, () => {
    test('a 1,000,000-row transaction counts exactly 1,000,000 with bounded client memory and few batches', {
      timeout: 240_000,
    }, async (t) => {
      const skip = pluginUnavailable(info, plugin);
      if (skip) return t.skip(skip);
      // A narrow table of its own per plugin, so the two tests' counts can never mix.
      const table = `bulk_${plugin}`;
      const payload = `public.${table}`;
      await runSql(info, `CREATE TABLE public.${table} (id int)`, db.name);

      const feed = new WalFeed({ ...feedConnection(info, db.name), plugin });
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
      await probe.counted(payload, ROWS, from, 220_000);
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

// feed.stats() and the pgnudge:* channels against a real server (contract R32): across a reconnect forced
// with pg_terminate_backend (state, reconnects, the error, bytes over both connections, WAL positions the
// server reported and confirmed), and while a bulk transaction drains (changes grow to exactly its rows).
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { after, before, describe, type TestContext, test } from 'node:test';
import { FEED_CHANNEL_NAMES, type FeedStats, NotifyFeed, type WalFeed } from '../../src/index.js';
import { runSql } from '../support/cluster.js';
import { feedConnection, openFeed } from '../support/feed-probe.js';
import { openLiveDatabase, type ScratchDatabase } from '../support/live-database.js';
import { waitFor } from '../support/wait.js';

const APPLICATION = 'pgnudge-stats';
const BULK_ROWS = 200_000;

let db: ScratchDatabase;
let info: Awaited<ReturnType<typeof openLiveDatabase>>['info'];
before(async () => {
  ({ info, db } = await openLiveDatabase(
    'stats',
    'CREATE TABLE public.t (id int); CREATE TABLE public.bulk (id int);',
  ));
});
after(() => db?.drop());

const sql = (text: string) => runSql(info, text, db.name);

/** The messages of the feed channels for `feed`, names only, in order. */
function channelNames(t: TestContext, feed: object): string[] {
  const names: string[] = [];
  for (const name of Object.values(FEED_CHANNEL_NAMES)) {
    const onMessage = (message: unknown) => {
      if ((message as { feed: unknown }).feed === feed) names.push(name);
    };
    diagnostics.subscribe(name, onMessage);
    t.after(() => diagnostics.unsubscribe(name, onMessage));
  }
  return names;
}

/** Stats of `feed` once `ready` holds for them. */
function statsWhen(feed: WalFeed | NotifyFeed, ready: (stats: FeedStats) => boolean, what: string) {
  return waitFor(
    () => {
      const stats = feed.stats();
      return ready(stats) ? stats : undefined;
    },
    { timeoutMs: 30_000, what: `${what} (stats now ${JSON.stringify(feed.stats())})` },
  );
}

const lsn = (text: string) => {
  const [high = '', low = ''] = text.split('/');
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
};

describe('feed.stats() on a real server', { timeout: 150_000 }, () => {
  test('across a reconnect forced by pg_terminate_backend', { timeout: 60_000 }, async (t) => {
    const { feed, probe } = openFeed(t, {
      ...feedConnection(info, db.name),
      applicationName: APPLICATION,
      statusInterval: 200,
    });
    const channels = channelNames(t, feed);
    assert.equal(feed.stats().state, 'idle');
    await probe.resync('connected', 0, 30_000);
    const live = await statsWhen(
      feed,
      (stats) => stats.state === 'streaming' && stats.confirmed !== null,
      'streaming with a status update sent',
    );
    assert.ok(live.bytesReceived > 0);
    assert.notEqual(live.walEnd, null);
    assert.ok(lsn(live.walEnd!) >= lsn(live.confirmed!));
    assert.equal(live.lagBytes, Number(lsn(live.walEnd!) - lsn(live.confirmed!)));

    const mark = probe.mark();
    await sql('INSERT INTO public.t VALUES (1), (2), (3)');
    await probe.counted('public.t', 3, mark);
    const before = feed.stats();
    assert.equal(before.changes, 3);
    assert.equal(before.batches, probe.items.filter((item) => item.type === 'batch').length);
    const [{ lsn: serverLsn } = { lsn: '' }] = await runSql<{ lsn: string }>(
      info,
      'SELECT pg_current_wal_lsn()::text AS lsn',
    );
    // The server reports its position in keepalives; the status updates confirm it.
    await statsWhen(
      feed,
      (stats) => stats.confirmed !== null && lsn(stats.confirmed) >= lsn(before.walEnd!),
      'the position reported before the insert confirmed',
    );

    const from = probe.mark();
    await runSql(
      info,
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE backend_type = 'walsender' AND application_name = '${APPLICATION}'`,
    );
    await probe.resync('reconnected', from, 30_000);
    const after = await statsWhen(feed, (stats) => stats.state === 'streaming', 'streaming again');
    assert.equal(after.reconnects, 1);
    assert.ok(after.failures >= 1, `${after.failures} failures`);
    // FATAL 57P01 (terminating connection due to administrator command) ends the session.
    assert.equal(after.lastError?.code, 'PGNUDGE_ERR_SERVER', JSON.stringify(after.lastError));
    assert.match(after.lastError.message, /terminat/i);
    assert.deepEqual(after.resyncs, { connected: 1, reconnected: 1, overflow: 0, failsafe: 0, bridge: 0 });
    assert.ok(after.bytesReceived > before.bytesReceived, 'the new connection’s bytes add up');
    assert.ok(after.since.getTime() >= before.since.getTime());
    await statsWhen(
      feed,
      (stats) => stats.walEnd !== null && lsn(stats.walEnd) >= lsn(serverLsn),
      'the new stream reports a WAL end at least the server’s position before the reconnect',
    );
    await feed.close();
    assert.equal(feed.stats().state, 'closed');
    assert.deepEqual(channels.slice(0, 3), ['pgnudge:connect', 'pgnudge:live', 'pgnudge:resync']);
    const reconnect = channels.indexOf('pgnudge:disconnect');
    assert.ok(reconnect > 0, `a disconnect in ${channels.join(', ')}`);
    assert.deepEqual(channels.slice(reconnect, reconnect + 5), [
      'pgnudge:disconnect',
      'pgnudge:backoff',
      'pgnudge:connect',
      'pgnudge:live',
      'pgnudge:resync',
    ]);
    assert.equal(channels.at(-1), 'pgnudge:close');
  });

  test(`a bulk transaction of ${BULK_ROWS} rows: changes grow as it drains, to exactly its rows`, {
    timeout: 120_000,
  }, async (t) => {
    // A long debounce and maxBatchWait keep the batch open: the rows show in stats before any batch does.
    const { feed, probe } = openFeed(t, {
      ...feedConnection(info, db.name),
      plugin: 'test_decoding',
      tables: ['public.bulk'],
      debounce: 20_000,
      maxBatchWait: 60_000,
    });
    await probe.resync('connected', 0, 30_000);
    const start = feed.stats();
    const samples: number[] = [];
    const sampler = setInterval(() => samples.push(feed.stats().changes), 10);
    t.after(() => clearInterval(sampler));
    await sql(`INSERT INTO public.bulk SELECT g FROM generate_series(1, ${BULK_ROWS}) g`);
    const drained = await statsWhen(feed, (stats) => stats.changes === BULK_ROWS, 'every row counted');
    clearInterval(sampler);
    assert.equal(drained.batches, start.batches, 'counted while the batch is still open');
    assert.ok(drained.bytesReceived - start.bytesReceived > BULK_ROWS * 20, 'each row’s message counted');
    for (let i = 1; i < samples.length; i++) {
      assert.ok(samples[i]! >= samples[i - 1]!, 'changes never go down');
    }
    t.diagnostic(`${new Set(samples).size} distinct counts seen while draining`);
  });

  test('a NotifyFeed: streaming while LISTEN is active, bytes counted, no WAL positions', {
    timeout: 60_000,
  }, async (t) => {
    const feed = new NotifyFeed({
      ...feedConnection(info, db.name, info.roles.login),
      channel: 'stats_test',
    });
    t.after(() => feed.close());
    const iterator = feed[Symbol.asyncIterator]();
    const first = await iterator.next();
    assert.deepEqual((first.value as { reason: string }).reason, 'connected');
    const stats = await statsWhen(feed, (s) => s.state === 'streaming', 'streaming');
    assert.ok(stats.bytesReceived > 0);
    assert.deepEqual([stats.walEnd, stats.confirmed, stats.lagBytes], [null, null, null]);
    assert.deepEqual(stats.resyncs.connected, 1);
  });
});

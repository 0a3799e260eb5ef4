// feed.stats() (contract R32) through the feed base, on hand-driven sessions and a ManualClock: the state and
// its `since` across a reconnect, a refused attempt and close(); resyncs and batches as yielded; changes
// pending, yielded and superseded; bytes over every connection; the WAL positions a stream reports (and
// replication-stream.ts's own report, over a fake walsender connection).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConnectionError, PgnudgeError } from '../../../src/errors.js';
import type { FeedItem } from '../../../src/feed/items.js';
import { startReplicationStream } from '../../../src/feed/replication-stream.js';
import type { Session } from '../../../src/feed/session.js';
import type { FeedStats } from '../../../src/feed/stats.js';
import { bindLogger } from '../../../src/logger.js';
import type { PgConnection, ReplicationHandler, StatusUpdate } from '../../../src/transport/connection.js';
import { FakeLink } from '../../support/fake-link.js';
import { handFeed, settle } from '../../support/hand-feed.js';
import { waitFor, withDeadline } from '../../support/wait.js';

const DEADLINE_MS = 2_000;
const ZERO_RESYNCS = { connected: 0, reconnected: 0, overflow: 0, failsafe: 0, bridge: 0 };
const lost = (message = 'the server closed the connection') =>
  new ConnectionError('PGNUDGE_ERR_CONNECTION', message);

/** The next item, within the deadline. */
async function nextItem(iterator: AsyncIterator<FeedItem>, what: string): Promise<FeedItem> {
  const result = await withDeadline(iterator.next(), DEADLINE_MS, what);
  assert.equal(result.done, false, what);
  return result.value as FeedItem;
}

describe('feed.stats()', () => {
  test('a new feed: idle since construction, every counter zero, no WAL positions; plain JSON', () => {
    const { feed, clock } = handFeed();
    const stats = feed.stats();
    const expected: FeedStats = {
      state: 'idle',
      since: new Date(clock.now()),
      reconnects: 0,
      failures: 0,
      lastError: null,
      resyncs: ZERO_RESYNCS,
      batches: 0,
      changes: 0,
      bytesReceived: 0,
      walEnd: null,
      confirmed: null,
      lagBytes: null,
    };
    assert.deepEqual(stats, expected);
    assert.deepEqual(JSON.parse(JSON.stringify(stats)), {
      ...expected,
      since: new Date(clock.now()).toISOString(),
    });
    assert.notEqual(feed.stats(), stats, 'a new snapshot per call');
  });

  test('state and since through a session, a lost connection, a refused attempt, a reconnect and close()', async () => {
    const { feed, body, clock, iterator } = handFeed();
    const start = clock.now();
    const first = iterator.next();
    await waitFor(() => body.sessions.length === 1, { timeoutMs: DEADLINE_MS, what: 'the first session' });
    assert.equal(feed.stats().state, 'connecting');
    assert.equal(feed.stats().since.getTime(), start);

    clock.advance(5);
    body.current.session.live();
    assert.deepEqual(
      [feed.stats().state, feed.stats().since.getTime()],
      ['streaming', start + 5],
      'streaming since the session went live',
    );
    await withDeadline(first, DEADLINE_MS, 'the connect Resync');
    body.current.link.bytesReceived = 1000;

    clock.advance(100);
    body.current.end(lost());
    await settle();
    let stats = feed.stats();
    assert.equal(stats.state, 'backoff');
    assert.equal(stats.since.getTime(), start + 105);
    assert.equal(stats.failures, 1);
    assert.deepEqual(stats.lastError, {
      code: 'PGNUDGE_ERR_CONNECTION',
      message: 'the server closed the connection',
    });
    assert.equal(stats.bytesReceived, 1000, 'the ended connection’s bytes stay counted');

    body.refuseNext = lost('connection refused');
    clock.advance(10);
    await settle();
    stats = feed.stats();
    assert.deepEqual([stats.state, stats.failures], ['backoff', 2], 'a refused attempt backs off again');
    assert.equal(stats.lastError?.message, 'connection refused');

    clock.advance(10);
    await waitFor(() => body.sessions.length === 2, { timeoutMs: DEADLINE_MS, what: 'the second session' });
    assert.equal(feed.stats().state, 'connecting');
    body.current.link.bytesReceived = 24;
    assert.equal(feed.stats().bytesReceived, 1024, 'every connection’s bytes, the open one’s included');
    body.current.session.live();
    assert.deepEqual((await nextItem(iterator, 'the reconnect Resync')).toJSON(), {
      type: 'resync',
      reason: 'reconnected',
    });
    stats = feed.stats();
    assert.deepEqual([stats.state, stats.reconnects], ['streaming', 1]);
    assert.deepEqual(stats.resyncs, { ...ZERO_RESYNCS, connected: 1, reconnected: 1 });

    clock.advance(7);
    await feed.close();
    stats = feed.stats();
    assert.deepEqual([stats.state, stats.since.getTime()], ['closed', clock.now()]);
    assert.equal(stats.bytesReceived, 1024, 'a closed feed keeps its counts');
    assert.equal(stats.lastError?.message, 'connection refused', 'close() is no error');
  });

  test('a fatal error closes the feed and is the last error', async () => {
    const { feed, body, iterator } = handFeed();
    const pending = iterator.next();
    await waitFor(() => body.sessions.length === 1, { timeoutMs: DEADLINE_MS, what: 'the session' });
    body.current.end(new PgnudgeError('PGNUDGE_ERR_PROTOCOL', 'refused for good', false));
    await assert.rejects(withDeadline(pending, DEADLINE_MS, 'the fatal error'), /refused for good/);
    const stats = feed.stats();
    assert.equal(stats.state, 'closed');
    assert.deepEqual(stats.lastError, { code: 'PGNUDGE_ERR_PROTOCOL', message: 'refused for good' });
    assert.equal(stats.failures, 0, 'nothing was retried');
  });

  test('changes count while pending, yielded and superseded; batches and resyncs as yielded', async () => {
    const { feed, body, clock, iterator } = handFeed({ maxPending: 2 });
    const first = iterator.next();
    await waitFor(() => body.sessions.length === 1, { timeoutMs: DEADLINE_MS, what: 'the session' });
    body.current.session.live();
    await withDeadline(first, DEADLINE_MS, 'the connect Resync');
    const { sink } = body.current;
    sink.change('public.a');
    sink.change('public.a', 500);
    assert.deepEqual([feed.stats().changes, feed.stats().batches], [501, 0], 'pending changes count');
    clock.advance(50);
    const batch = await nextItem(iterator, 'the batch');
    assert.equal(batch.type, 'batch');
    assert.deepEqual([feed.stats().changes, feed.stats().batches], [501, 1]);

    // maxPending 2: the third distinct table drops the batch for Resync('overflow'); all still counted.
    sink.change('public.a');
    sink.change('public.b', 3);
    sink.change('public.c', 2);
    assert.equal(feed.stats().changes, 507);
    assert.deepEqual((await nextItem(iterator, 'the overflow Resync')).toJSON(), {
      type: 'resync',
      reason: 'overflow',
    });
    const stats = feed.stats();
    assert.deepEqual([stats.changes, stats.batches], [507, 1]);
    assert.deepEqual(stats.resyncs, { ...ZERO_RESYNCS, connected: 1, overflow: 1 });

    sink.change('public.a', 4);
    await feed.close();
    assert.equal(feed.stats().changes, 511, 'changes pending at close() stay counted');
    sink.change('public.a');
    assert.equal(feed.stats().changes, 511, 'nothing is counted after close()');
  });

  test('the WAL positions the current stream reports, read when stats are taken', async () => {
    const { feed, body, iterator } = handFeed();
    void iterator.next();
    await waitFor(() => body.sessions.length === 1, { timeoutMs: DEADLINE_MS, what: 'the session' });
    let walEnd: bigint | null = null;
    let confirmed: bigint | null = null;
    body.current.session.reportPositions(() => ({ walEnd, confirmed }));
    assert.deepEqual(
      [feed.stats().walEnd, feed.stats().confirmed, feed.stats().lagBytes],
      [null, null, null],
    );
    walEnd = (0x16n << 32n) | 0xb374d848n;
    assert.deepEqual([feed.stats().walEnd, feed.stats().lagBytes], ['16/B374D848', null]);
    confirmed = (0x16n << 32n) | 0xb374d000n;
    const stats = feed.stats();
    assert.deepEqual([stats.walEnd, stats.confirmed, stats.lagBytes], ['16/B374D848', '16/B374D000', 0x848]);
    await feed.close();
  });
});

/** A walsender connection as startReplicationStream uses it: the test plays the server's messages. */
class FakeWalsender extends FakeLink {
  handler: ReplicationHandler | null = null;
  readonly sent: StatusUpdate[] = [];

  startReplication(_command: string, handler: ReplicationHandler): Promise<void> {
    this.handler = handler;
    return Promise.resolve();
  }

  sendStatusUpdate(update: StatusUpdate): void {
    this.sent.push(update);
  }
}

describe('replication-stream.ts reports its positions', () => {
  test('walEnd is the highest end the server reported, confirmed what the last status update confirmed', async () => {
    const { feed, body, iterator } = handFeed();
    body.makeLink = () => new FakeWalsender();
    void iterator.next();
    await waitFor(() => body.sessions.length === 1, { timeoutMs: DEADLINE_MS, what: 'the session' });
    const walsender = body.current.link as FakeWalsender;
    // The stream uses only what FakeWalsender plays of a walsender connection.
    const session = body.current.session as unknown as Session<PgConnection>;
    await startReplicationStream(
      session,
      'START_REPLICATION',
      { data: () => {} },
      60_000,
      bindLogger(undefined),
    );
    const handler = walsender.handler!;
    assert.deepEqual([feed.stats().walEnd, feed.stats().confirmed], [null, null]);
    handler.xlogData({
      type: 'XLogData',
      walStart: 0x100n,
      walEnd: 0x180n,
      sendTime: 0n,
      data: new Uint8Array(0),
    });
    handler.keepalive({ type: 'PrimaryKeepalive', walEnd: 0x200n, sendTime: 0n, replyRequested: false });
    assert.deepEqual([feed.stats().walEnd, feed.stats().confirmed], ['0/200', null], 'not confirmed yet');
    handler.keepalive({ type: 'PrimaryKeepalive', walEnd: 0x300n, sendTime: 0n, replyRequested: true });
    assert.equal(walsender.sent.length, 1, 'a keepalive that asks is answered at once');
    handler.xlogData({
      type: 'XLogData',
      walStart: 0x300n,
      walEnd: 0x340n,
      sendTime: 0n,
      data: new Uint8Array(0),
    });
    const stats = feed.stats();
    assert.deepEqual([stats.walEnd, stats.confirmed, stats.lagBytes], ['0/340', '0/300', 0x40]);
    await feed.close();
  });
});

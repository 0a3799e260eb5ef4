// toEventStream (src/http/event-stream.ts): a feed as SSE bytes, pulled only as the reader reads
// (backpressure), with a keep-alive comment while idle, and every way of ending it releasing the feed and
// the timer. Timers are node:test's mock timers (this is the thin shell); the feed is scripted.
import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import { ConfigError } from '../../../src/errors.js';
import { Batch, NudgeEvent, Resync } from '../../../src/feed/items.js';
import { toEventStream } from '../../../src/http/event-stream.js';
import { formatItemEvent, KEEP_ALIVE_TEXT } from '../../../src/http/sse.js';
import { ScriptedFeed, StreamReader } from '../../support/scripted-feed.js';

const batch = new Batch([new NudgeEvent('public.t', 3, new Date(0))]);
/** Lets promise callbacks run (the stream machinery is promise-based, no timers). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('toEventStream', () => {
  test('opens with a jittered retry: field, then one event per item in order', async () => {
    const feed = new ScriptedFeed();
    const reader = new StreamReader(toEventStream(feed, { keepAlive: null }));
    const retry = Number(/^retry: (\d+)\n\n$/.exec((await reader.readOne()) ?? '')?.[1]);
    assert.ok(retry >= 1000 && retry < 3000, `retry ${retry} in [1000, 3000)`);
    feed.push(new Resync('connected'), batch);
    assert.equal(await reader.readOne(), formatItemEvent(new Resync('connected')));
    assert.equal(await reader.readOne(), formatItemEvent(batch));
    await reader.reader.cancel();
  });

  test('retry: null sends no retry field; a custom base jitters around it', async () => {
    const feed = new ScriptedFeed();
    feed.push(new Resync('connected'));
    const reader = new StreamReader(toEventStream(feed, { keepAlive: null, retry: null }));
    assert.equal(await reader.readOne(), formatItemEvent(new Resync('connected')));
    await reader.reader.cancel();
    const other = new StreamReader(toEventStream(new ScriptedFeed(), { keepAlive: null, retry: 100 }));
    const retry = Number(/^retry: (\d+)/.exec((await other.readOne()) ?? '')?.[1]);
    assert.ok(retry >= 50 && retry < 150);
    await other.reader.cancel();
  });

  test('backpressure: the feed is asked for an item only when the reader reads', async () => {
    const feed = new ScriptedFeed();
    feed.push(new Resync('connected'), batch, batch, batch);
    const reader = new StreamReader(toEventStream(feed, { keepAlive: null, retry: null }));
    await settle();
    assert.equal(feed.pulls, 0, 'nothing is read ahead');
    await reader.readOne();
    await settle();
    assert.equal(feed.pulls, 1);
    assert.equal(feed.queued, 3, 'the rest stays in the feed, where a WalFeed merges it (contract R6)');
    await reader.readOne();
    await settle();
    assert.equal(feed.pulls, 2);
    await reader.reader.cancel();
  });

  test('cancel (the client went away) closes the feed, even with a pull pending', async () => {
    const feed = new ScriptedFeed();
    const reader = new StreamReader(toEventStream(feed, { retry: null }));
    const pending = reader.readOne();
    await settle();
    assert.equal(feed.pulls, 1, 'a read is waiting on the feed');
    await reader.reader.cancel();
    assert.equal(await pending, undefined, 'the pending read ends');
    assert.equal(feed.closes, 1);
    assert.equal(feed.closed, true);
  });

  test('closeFeed: false ends only this iteration (return()), not the feed', async () => {
    const feed = new ScriptedFeed();
    feed.push(new Resync('connected'));
    const reader = new StreamReader(toEventStream(feed, { closeFeed: false, retry: null, keepAlive: null }));
    await reader.readOne();
    await reader.reader.cancel();
    assert.equal(feed.returns, 1);
    assert.equal(feed.closes, 0);
  });

  test('the feed ending closes the stream; the feed failing errors it with the same error', async () => {
    const ended = new ScriptedFeed();
    const reader = new StreamReader(toEventStream(ended, { retry: null, keepAlive: null }));
    const read = reader.readOne();
    await settle();
    await ended.close();
    assert.equal(await read, undefined);
    assert.equal(reader.done, true);

    const failing = new ScriptedFeed();
    const failed = new StreamReader(toEventStream(failing, { retry: null, keepAlive: null }));
    const pending = failed.readOne();
    await settle();
    const error = new Error('fatal');
    failing.fail(error);
    await assert.rejects(pending, (thrown) => thrown === error);
    assert.equal(failing.closes, 1, 'the feed is closed too');
  });

  test('an aborted signal errors the stream with its reason and closes the feed', async () => {
    const feed = new ScriptedFeed();
    const controller = new AbortController();
    const reader = new StreamReader(
      toEventStream(feed, { retry: null, keepAlive: null, signal: controller.signal }),
    );
    const pending = reader.readOne();
    await settle();
    const reason = new Error('client gone');
    controller.abort(reason);
    await assert.rejects(pending, (thrown) => thrown === reason);
    await settle();
    assert.equal(feed.closes, 1);

    const early = new ScriptedFeed();
    const aborted = AbortSignal.abort(reason);
    const late = new StreamReader(toEventStream(early, { signal: aborted }));
    await assert.rejects(late.readOne(), (thrown) => thrown === reason);
    await settle();
    assert.equal(early.closes, 1, 'an already aborted signal ends it at once');
  });

  test('bad options are ConfigErrors naming the option', () => {
    const feed = new ScriptedFeed();
    assert.throws(
      () => toEventStream(feed, { keepAlive: 0 }),
      (e) => e instanceof ConfigError && e.option === 'keepAlive',
    );
    assert.throws(
      () => toEventStream(feed, { retry: -1 }),
      (e) => e instanceof ConfigError && e.option === 'retry',
    );
    assert.throws(
      () => toEventStream(feed, { keepalive: 5 } as never),
      (e) => e instanceof ConfigError && /no option "keepalive"/.test(e.message),
    );
  });
});

describe('toEventStream keep-alive', () => {
  test('a comment after a whole idle interval; none while events flow; none piled up for a stalled reader', async (t) => {
    mock.timers.enable({ apis: ['setInterval'] });
    t.after(() => mock.timers.reset());
    const feed = new ScriptedFeed();
    const reader = new StreamReader(toEventStream(feed, { keepAlive: 1000, retry: null }));
    const first = reader.readOne();
    mock.timers.tick(1000);
    assert.equal(await first, KEEP_ALIVE_TEXT);

    // An event in the interval: the tick that ends it stays quiet, the next idle one speaks.
    const second = reader.readOne();
    feed.push(batch);
    assert.equal(await second, formatItemEvent(batch));
    const third = reader.readOne();
    mock.timers.tick(1000);
    await settle();
    let got: string | undefined;
    void third.then((text) => {
      got = text;
    });
    await settle();
    assert.equal(got, undefined, 'the interval with an event sent no comment');
    mock.timers.tick(1000);
    assert.equal(await third, KEEP_ALIVE_TEXT);

    // Nobody reads for many intervals: at most one comment waits in the stream.
    mock.timers.tick(10_000);
    await settle();
    assert.equal(await reader.readOne(), KEEP_ALIVE_TEXT);
    const after = reader.readOne();
    feed.push(batch);
    assert.equal(
      await after,
      formatItemEvent(batch),
      'the next chunk is the event, not a backlog of comments',
    );
    await reader.reader.cancel();
  });

  test('ending the stream clears the timer', async (t) => {
    mock.timers.enable({ apis: ['setInterval'] });
    t.after(() => mock.timers.reset());
    const feed = new ScriptedFeed();
    const stream = toEventStream(feed, { keepAlive: 1000, retry: null });
    const reader = stream.getReader();
    await reader.cancel();
    // A leaked interval would enqueue into a cancelled stream and throw here.
    mock.timers.tick(5000);
    assert.equal(feed.closes, 1);
  });
});

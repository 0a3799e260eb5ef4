// EventHub (src/http/event-hub.ts), the shell: one feed pumped once into many web streams; a stream that
// stops reading is cut off with SlowConsumerError while the others receive everything; cancel, close, the
// signal and a failing feed each end what they should and nothing else.
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { getEventListeners } from 'node:events';
import { describe, mock, test } from 'node:test';
import { SlowConsumerError } from '../../../src/errors.js';
import { Batch, NudgeEvent, Resync } from '../../../src/feed/items.js';
import { SSE_CHANNEL_NAMES } from '../../../src/http/diagnostics.js';
import { EventHub } from '../../../src/http/event-hub.js';
import { formatItemEvent, KEEP_ALIVE_TEXT } from '../../../src/http/sse.js';
import { ScriptedFeed, StatefulScriptedFeed, StreamReader } from '../../support/scripted-feed.js';
import { SseParser } from '../../support/sse-parser.js';
import { waitFor } from '../../support/wait.js';

const batch = (count: number) => new Batch([new NudgeEvent('public.t', count, new Date(0))]);

function hub(feed: ScriptedFeed, options: ConstructorParameters<typeof EventHub>[1] = {}) {
  return new EventHub(feed, { keepAlive: null, retry: null, ...options });
}

/** Reads a stream in the background, parsing its events. */
function client(stream: ReadableStream<Uint8Array>) {
  const reader = new StreamReader(stream);
  const finished = reader.drain();
  const events = () => new SseParser().push(reader.text);
  return { reader, finished, events };
}

describe('EventHub', () => {
  test('many streams share one iteration of the feed, each from its own start', async () => {
    const feed = new ScriptedFeed();
    const events = hub(feed);
    const first = client(events.subscribe());
    feed.push(new Resync('connected'), batch(1));
    await waitFor(() => first.events().length === 2, { what: 'the first stream’s two events' });
    const second = client(events.subscribe());
    feed.push(batch(2));
    await waitFor(() => second.events().length === 2, { what: 'the second stream’s two events' });
    assert.deepEqual(
      second.events().map((e) => e.data),
      [JSON.stringify(new Resync('connected')), JSON.stringify(batch(2))],
    );
    await waitFor(() => first.events().length === 3, { what: 'the first stream’s third event' });
    assert.equal(events.counters().clients, 2);
    await events.close();
    await Promise.all([first.finished, second.finished]);
    assert.equal(first.reader.done && second.reader.done, true, 'closing the hub ends every stream cleanly');
    assert.equal(feed.closes, 1);
    await events.done;
  });

  test('a stream that stops reading is cut off with SlowConsumerError; the others get every item', async () => {
    const feed = new ScriptedFeed();
    const events = hub(feed, { maxBufferedBytes: 1024 });
    const reading = client(events.subscribe());
    const stalled = events.subscribe().getReader();
    const closed = stalled.closed.then(
      () => 'closed',
      (error: unknown) => error,
    );
    feed.push(new Resync('connected'));
    const frame = formatItemEvent(batch(1)).length;
    const items = Math.ceil(1024 / frame) + 2;
    for (let i = 0; i < items; i++) feed.push(batch(1));
    const reason = await closed;
    assert.ok(reason instanceof SlowConsumerError, `cut off with ${reason}`);
    assert.equal(reason.maxBufferedBytes, 1024);
    await waitFor(() => reading.events().length === items + 1, { what: 'every item on the reading stream' });
    assert.equal(events.counters().clientsDropped, 1);
    assert.equal(events.counters().clients, 1);
    await events.close();
  });

  test('cancelling a stream (the client left) frees it; the feed goes on', async () => {
    const feed = new ScriptedFeed();
    const events = hub(feed);
    const reader = events.subscribe().getReader();
    assert.equal(events.counters().clients, 1);
    await reader.cancel();
    assert.equal(events.counters().clients, 0);
    assert.equal(feed.closes, 0);
    await events.close();
  });

  test('a subscription signal ends its stream with the signal’s reason', async () => {
    const feed = new ScriptedFeed();
    const events = hub(feed);
    const controller = new AbortController();
    const reader = events.subscribe({ signal: controller.signal }).getReader();
    const reason = new Error('request aborted');
    controller.abort(reason);
    await assert.rejects(reader.read(), (thrown) => thrown === reason);
    assert.equal(events.counters().clients, 0);
    await events.close();
  });

  test('a long-lived subscription signal loses its listener however the stream ends', async () => {
    const shared = new AbortController();
    const { signal } = shared;
    const feed = new ScriptedFeed();
    const events = hub(feed, { maxBufferedBytes: 1024 });
    await events.subscribe({ signal }).getReader().cancel();
    const stalled = events.subscribe({ signal }).getReader();
    const reading = client(events.subscribe({ signal }));
    assert.equal(getEventListeners(signal, 'abort').length, 2);
    feed.push(new Resync('connected'));
    for (let i = 0; i < 20; i++) feed.push(batch(1));
    await assert.rejects(stalled.closed, SlowConsumerError);
    await events.close();
    await reading.finished;
    assert.equal(
      getEventListeners(signal, 'abort').length,
      0,
      'cancelled, dropped and ended streams all let go',
    );
  });

  test('a failing feed errors every stream with its error; done rejects with it', async () => {
    const feed = new ScriptedFeed();
    const events = hub(feed);
    const a = events.subscribe().getReader();
    const b = client(events.subscribe());
    const error = new Error('REPLICATION denied');
    feed.fail(error);
    await assert.rejects(events.done, (thrown) => thrown === error);
    await assert.rejects(a.read(), (thrown) => thrown === error);
    await b.finished;
    assert.equal(b.reader.error, error);
    assert.equal(events.live, false);
    await events.close();
  });

  test('live, for a feed without stats(): from its first Resync until it ends', async () => {
    const feed = new ScriptedFeed();
    const events = hub(feed);
    assert.equal(events.live, false);
    feed.push(new Resync('connected'));
    await waitFor(() => events.live, { what: 'live after the Resync' });
    await events.close();
    assert.equal(events.live, false);
  });

  test('live follows the state of a feed with stats(): not while it is not streaming, until its next Resync', async () => {
    const feed = new StatefulScriptedFeed();
    const events = hub(feed);
    feed.state = 'streaming';
    assert.equal(events.live, false, 'not before the Resync went out');
    feed.push(new Resync('connected'));
    await waitFor(() => events.live, { what: 'live after the Resync' });
    feed.state = 'backoff';
    assert.equal(events.live, false);
    feed.state = 'streaming';
    assert.equal(events.live, false, 'a reconnected feed is live only once its Resync went out');
    feed.push(new Resync('reconnected'));
    await waitFor(() => events.live, { what: 'live after the second Resync' });
    await events.close();
    assert.equal(events.live, false);
  });

  test('keep-alive reaches idle streams on the interval; close() stops the timer', async (t) => {
    mock.timers.enable({ apis: ['setInterval'] });
    t.after(() => mock.timers.reset());
    const feed = new ScriptedFeed();
    const events = new EventHub(feed, { keepAlive: 500, retry: null });
    const reader = new StreamReader(events.subscribe());
    const read = reader.readOne();
    mock.timers.tick(500);
    assert.equal(await read, KEEP_ALIVE_TEXT);
    await events.close();
    mock.timers.tick(5000);
    assert.equal(await reader.readOne(), undefined, 'ended with no further comment');
  });

  test('pgnudge:sse:open, :close and :drop: each stream opens once and ends once, as it ended', async (t) => {
    const messages: [string, Record<string, unknown>][] = [];
    for (const name of Object.values(SSE_CHANNEL_NAMES)) {
      const onMessage = (message: unknown) => messages.push([name, message as Record<string, unknown>]);
      diagnostics.subscribe(name, onMessage);
      t.after(() => diagnostics.unsubscribe(name, onMessage));
    }
    const feed = new ScriptedFeed();
    const events = hub(feed, { maxBufferedBytes: 1024 });
    const reading = client(events.subscribe());
    const stalled = events.subscribe().getReader();
    const leaving = events.subscribe().getReader();
    await leaving.cancel();
    const cut = stalled.closed.catch(() => {});
    feed.push(new Resync('connected'));
    for (let i = 0; i < Math.ceil(1024 / formatItemEvent(batch(1)).length) + 2; i++) feed.push(batch(1));
    await cut;
    await events.close();
    await reading.finished;
    assert.deepEqual(
      messages.map(([name, { hub: from, ...rest }]) => {
        assert.equal(from, events, `${name} names its hub`);
        return [name, rest];
      }),
      [
        ['pgnudge:sse:open', { clients: 1 }],
        ['pgnudge:sse:open', { clients: 2 }],
        ['pgnudge:sse:open', { clients: 3 }],
        ['pgnudge:sse:close', { clients: 2 }],
        ['pgnudge:sse:drop', { clients: 1, maxBufferedBytes: 1024 }],
        ['pgnudge:sse:close', { clients: 0 }],
      ],
    );
  });

  test('options are checked', () => {
    const feed = new ScriptedFeed();
    assert.throws(() => new EventHub(feed, { maxBufferedBytes: 10 }), /at least 1024/);
    assert.throws(() => new EventHub(feed, { maxBuffer: 1 } as never), /no option "maxBuffer"/);
    assert.throws(() => hub(feed).subscribe({ sginal: 1 } as never), /no option "sginal"/);
  });
});

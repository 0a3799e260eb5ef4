// HubCore (src/http/hub-core.ts), the pure fan-out: an item encoded once for every stream, each stream's
// queue bounded in bytes (a slow one is dropped, the others untouched), a joining stream's own Resync only
// while the feed is live, keep-alives only for idle streams, and the counters /metrics shows.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { Batch, NudgeEvent, Resync } from '../../../src/feed/items.js';
import { HubCore, type Subscriber } from '../../../src/http/hub-core.js';
import { formatItemEvent, KEEP_ALIVE_TEXT } from '../../../src/http/sse.js';
import { fuzzParams } from '../../support/fuzz.js';

const decoder = new TextDecoder();
const batch = (count = 1, payload = 'public.t') => new Batch([new NudgeEvent(payload, count, new Date(0))]);

function core(maxBufferedBytes = 4096, retryMs: number | null = null): HubCore {
  return new HubCore({ maxBufferedBytes, retryMs, random: () => 0.5 });
}

function drain(subscriber: Subscriber): string {
  let text = '';
  for (let frame = subscriber.take(); frame !== undefined; frame = subscriber.take())
    text += decoder.decode(frame);
  return text;
}

describe('HubCore', () => {
  test('a stream that joins before the feed is live waits for the feed’s own first Resync', () => {
    const hub = core(4096, 2000);
    const early = hub.join();
    assert.equal(drain(early), 'retry: 2000\n\n');
    assert.equal(hub.live, false);
    hub.publish(new Resync('connected'));
    assert.equal(hub.live, true);
    assert.equal(drain(early), formatItemEvent(new Resync('connected')));
  });

  test('a stream that joins a live feed gets a Resync of its own first (reload everything, as contract R1)', () => {
    const hub = core();
    hub.publish(new Resync('reconnected'));
    hub.publish(batch(5));
    const late = hub.join();
    assert.equal(
      drain(late),
      formatItemEvent(new Resync('connected')),
      'not the old batch, not the old reason',
    );
    hub.publish(batch(2));
    assert.equal(drain(late), formatItemEvent(batch(2)));
    assert.deepEqual(hub.counters.resyncs.connected, 0, 'its own Resync is not a Resync of the feed');
  });

  test('after lost(), joining streams wait for the next Resync; the feed’s next Resync reaches everyone', () => {
    const hub = core();
    hub.publish(new Resync('connected'));
    hub.lost();
    const during = hub.join();
    assert.equal(drain(during), '');
    hub.publish(new Resync('reconnected'));
    assert.equal(drain(during), formatItemEvent(new Resync('reconnected')));
  });

  test('an item is encoded once: every stream gets the same bytes object', () => {
    const hub = core();
    const streams = [hub.join(), hub.join(), hub.join()];
    hub.publish(batch(3));
    const frames = streams.map((stream) => stream.take());
    assert.ok(frames[0] !== undefined);
    assert.ok(frames.every((frame) => frame === frames[0]));
  });

  test('a stream that would exceed its bound is dropped, the others keep every item', () => {
    const frame = formatItemEvent(batch(1)).length;
    const hub = core(frame * 3 + 1);
    const reading = hub.join();
    const stalled = hub.join();
    let readable = 0;
    stalled.onReadable = () => {
      readable += 1;
    };
    const dropped: Subscriber[] = [];
    for (let i = 0; i < 4; i++) {
      dropped.push(...hub.publish(batch(1)));
      assert.equal(drain(reading), formatItemEvent(batch(1)));
    }
    assert.deepEqual(dropped, [stalled]);
    assert.equal(stalled.state, 'dropped');
    assert.equal(stalled.bufferedBytes, 0, 'its queue is freed at once');
    assert.equal(readable, 3);
    assert.equal(hub.counters.clientsDropped, 1);
    assert.equal(hub.counters.clients, 1);
    hub.publish(batch(1));
    assert.equal(stalled.take(), undefined, 'nothing more is queued for it');
  });

  test('a frame larger than the bound still goes to a stream whose queue is empty', () => {
    const hub = core(1024);
    const stream = hub.join();
    const big = new Batch(
      Array.from({ length: 40 }, (_, i) => new NudgeEvent(`public.table_${i}`, i + 1, new Date(0))),
    );
    assert.ok(formatItemEvent(big).length > 1024);
    assert.deepEqual(hub.publish(big), []);
    assert.equal(drain(stream), formatItemEvent(big));
    hub.publish(big);
    assert.deepEqual(hub.publish(batch()), [stream], 'but nothing may queue behind it past the bound');
  });

  test('keep-alive: a comment only for streams sent nothing since the last tick', () => {
    const hub = core();
    const quiet = hub.join();
    const busy = hub.join();
    hub.keepAlive();
    assert.equal(drain(quiet), KEEP_ALIVE_TEXT, 'a new stream with nothing queued yet is idle');
    drain(busy);
    hub.publish(batch());
    drain(quiet);
    drain(busy);
    hub.keepAlive();
    assert.equal(drain(busy), '', 'it was sent an item in this interval');
    hub.keepAlive();
    assert.equal(drain(busy), KEEP_ALIVE_TEXT);
  });

  test('counters: batches, changes, resyncs by reason, streams', () => {
    const hub = core();
    hub.publish(new Resync('connected'));
    hub.publish(new Batch([new NudgeEvent('a.b', 3, new Date(0)), new NudgeEvent('a.c', 4, new Date(0))]));
    hub.publish(new Resync('overflow'));
    const a = hub.join();
    hub.join();
    hub.leave(a);
    hub.leave(a);
    assert.deepEqual(hub.counters, {
      batches: 1,
      changes: 7,
      resyncs: { connected: 1, reconnected: 0, overflow: 1, failsafe: 0, bridge: 0 },
      clients: 1,
      clientsOpened: 2,
      clientsDropped: 0,
    });
  });

  test('end(): streams end after their queue; a stream joining later is ended at once', () => {
    const hub = core();
    const stream = hub.join();
    hub.publish(new Resync('connected'));
    hub.end();
    assert.equal(stream.state, 'ended');
    assert.equal(drain(stream), formatItemEvent(new Resync('connected')));
    assert.equal(hub.live, false);
    assert.equal(hub.join().state, 'ended');
    assert.deepEqual(hub.publish(batch()), []);
    assert.equal(hub.counters.clients, 0);
  });

  test('property: whatever the reading pattern, a stream’s queue never exceeds the bound, and a stream never dropped got every item in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(3), fc.integer({ min: 1, max: 3000 })), { maxLength: 60 }),
        fc.integer({ min: 1024, max: 8192 }),
        (steps, bound) => {
          const hub = core(bound);
          const streams = [hub.join(), hub.join(), hub.join()];
          const got = streams.map(() => '');
          let sent = '';
          for (const [reader, count] of steps) {
            const item = batch(count);
            sent += formatItemEvent(item);
            hub.publish(item);
            const stream = streams[reader];
            if (stream !== undefined) got[reader] += drain(stream);
            for (const s of streams) assert.ok(s.bufferedBytes <= bound);
          }
          streams.forEach((stream, i) => {
            if (stream.state === 'open') assert.equal(got[i] + drain(stream), sent);
          });
        },
      ),
      fuzzParams(200),
    );
  });
});

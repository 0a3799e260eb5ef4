import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Batch, type FeedItem, NudgeEvent, Resync } from '../../../src/feed/items.js';

const FIRST_SEEN = new Date(Date.UTC(2024, 4, 1, 10, 0, 0, 123));

function describeItem(item: FeedItem): string {
  switch (item.type) {
    case 'resync':
      return `resync:${item.reason}`;
    case 'batch':
      return `batch:${item.events.map((e) => e.payload).join(',')}`;
  }
}

describe('feed items', () => {
  test('switch on type and instanceof both narrow', () => {
    const items: FeedItem[] = [
      new Resync('connected'),
      new Batch([new NudgeEvent('public.orders', 50, FIRST_SEEN)]),
    ];
    assert.deepEqual(items.map(describeItem), ['resync:connected', 'batch:public.orders']);
    const [resync, batch] = items;
    assert.ok(resync instanceof Resync && resync.reason === 'connected');
    assert.ok(batch instanceof Batch && batch.events[0]?.count === 50);
  });

  test('JSON is the --json line format', () => {
    assert.equal(JSON.stringify(new Resync('connected')), '{"type":"resync","reason":"connected"}');
    assert.equal(
      JSON.stringify(new Batch([new NudgeEvent('public.orders', 50, FIRST_SEEN)])),
      '{"type":"batch","events":[{"payload":"public.orders","table":"public.orders","key":null,"count":50,"firstSeen":"2024-05-01T10:00:00.123Z"}]}',
    );
    assert.equal(
      JSON.stringify(new NudgeEvent('public.lines', 2, FIRST_SEEN, ['7', 'gift wrap'])),
      '{"payload":"public.lines:7,\\"gift wrap\\"","table":"public.lines","key":["7","gift wrap"],"count":2,"firstSeen":"2024-05-01T10:00:00.123Z"}',
    );
  });

  test('an event names a table (key null) or one row of it; the payload follows', () => {
    const whole = new NudgeEvent('public.orders', 3, FIRST_SEEN);
    assert.deepEqual([whole.payload, whole.table, whole.key], ['public.orders', 'public.orders', null]);
    const row = new NudgeEvent('public.orders', 3, FIRST_SEEN, ['42']);
    assert.deepEqual([row.payload, row.table, row.key], ['public.orders:42', 'public.orders', ['42']]);
    assert.throws(() => new NudgeEvent('public.orders', 1, FIRST_SEEN, []), RangeError);
  });

  test('toJSON never throws: an invalid Date is refused up front, a later change to it is ignored', () => {
    assert.throws(
      () => new NudgeEvent('public.t', 1, new Date(Number.NaN)),
      /firstSeen must be a valid Date/,
    );
    assert.throws(() => new NudgeEvent('public.t', 1, new Date(8.64e15 + 1)), RangeError);
    const given = new Date(FIRST_SEEN);
    const event = new NudgeEvent('public.t', 1, given);
    given.setTime(0);
    event.firstSeen.setTime(Number.NaN);
    assert.equal(event.toJSON().firstSeen, '2024-05-01T10:00:00.123Z');
    const edge = new NudgeEvent('public.t', 1, new Date(-8.64e15));
    assert.equal(edge.toJSON().firstSeen, '-271821-04-20T00:00:00.000Z');
  });

  test('items are immutable', () => {
    const events = [new NudgeEvent('public.a', 1, FIRST_SEEN)];
    const batch = new Batch(events);
    events.push(new NudgeEvent('public.b', 1, FIRST_SEEN));
    assert.equal(batch.events.length, 1);
    assert.ok(Object.isFrozen(batch) && Object.isFrozen(batch.events) && Object.isFrozen(batch.events[0]));
    assert.ok(Object.isFrozen(new Resync('failsafe')));
    const key = ['1'];
    const row = new NudgeEvent('public.a', 1, FIRST_SEEN, key);
    key[0] = '2';
    assert.deepEqual(row.key, ['1']);
    assert.ok(Object.isFrozen(row.key));
  });
});

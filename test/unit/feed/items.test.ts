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
      '{"type":"batch","events":[{"payload":"public.orders","count":50,"firstSeen":"2024-05-01T10:00:00.123Z"}]}',
    );
  });

  test('items are immutable', () => {
    const events = [new NudgeEvent('public.a', 1, FIRST_SEEN)];
    const batch = new Batch(events);
    events.push(new NudgeEvent('public.b', 1, FIRST_SEEN));
    assert.equal(batch.events.length, 1);
    assert.ok(Object.isFrozen(batch) && Object.isFrozen(batch.events) && Object.isFrozen(batch.events[0]));
    assert.ok(Object.isFrozen(new Resync('failsafe')));
  });
});

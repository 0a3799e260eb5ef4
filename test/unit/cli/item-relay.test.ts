// ItemRelay (src/cli/item-relay.ts): what the demo's terminal loop hands on to the page's EventHub.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ItemRelay } from '../../../src/cli/item-relay.js';
import { Batch, NudgeEvent, Resync } from '../../../src/feed/items.js';

test('items pushed before and while a reader waits come out in order; close() ends it, later pushes are dropped', async () => {
  const relay = new ItemRelay();
  const iterator = relay[Symbol.asyncIterator]();
  const resync = new Resync('connected');
  const batch = new Batch([new NudgeEvent('public.t', 1, new Date(0))]);
  relay.push(resync);
  assert.deepEqual(await iterator.next(), { done: false, value: resync });
  const waiting = iterator.next();
  relay.push(batch);
  assert.deepEqual(await waiting, { done: false, value: batch });
  const ending = iterator.next();
  relay.close();
  assert.deepEqual(await ending, { done: true, value: undefined });
  relay.push(batch);
  assert.deepEqual(await iterator.next(), { done: true, value: undefined });
});

// FeedCore driven without a server: a session that never connects, items pushed into the engine by hand,
// and a ManualClock. Pins how concurrent next() calls settle (contract R10: close() ends pending calls).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PgnudgeError } from '../../../src/errors.js';
import { FeedCore } from '../../../src/feed/feed-core.js';
import type { FeedItem } from '../../../src/feed/items.js';
import { resolveFeedOptions } from '../../../src/feed/options.js';
import { bindLogger } from '../../../src/logger.js';
import { ManualClock } from '../../support/manual-clock.js';
import { withDeadline } from '../../support/wait.js';

const DEADLINE_MS = 2_000;

/** A core whose session waits until `fail` is called, then rejects with that error. */
function core(): { core: FeedCore; fail(error: PgnudgeError): void } {
  let fail: (error: PgnudgeError) => void = () => {};
  const session = () =>
    new Promise<never>((_, reject) => {
      fail = reject;
    });
  const feed = new FeedCore(
    'WalFeed',
    resolveFeedOptions({}),
    bindLogger(undefined),
    undefined,
    { clock: new ManualClock(), random: () => 0.5 },
    session,
  );
  return { core: feed, fail: (error) => fail(error) };
}

/** Records when each promise settles, in order. */
function track<T>(promises: Promise<T>[]): { settled: (number | undefined)[]; order: number[] } {
  const state = { settled: promises.map(() => undefined as number | undefined), order: [] as number[] };
  promises.forEach((promise, index) => {
    promise.then(
      () => {
        state.settled[index] = 1;
        state.order.push(index);
      },
      () => {
        state.settled[index] = -1;
        state.order.push(index);
      },
    );
  });
  return state;
}

describe('FeedCore: concurrent next() calls', () => {
  test('close() settles every pending next() with done', async () => {
    const { core: feed } = core();
    const iterator = feed.iterator();
    const pending = [iterator.next(), iterator.next(), iterator.next()];
    await feed.close();
    const results = await withDeadline(Promise.all(pending), DEADLINE_MS, 'every pending next() to end');
    assert.deepEqual(results, [
      { done: true, value: undefined },
      { done: true, value: undefined },
      { done: true, value: undefined },
    ]);
  });

  test('each item goes to exactly one waiter, in call order', async () => {
    const { core: feed } = core();
    const iterator = feed.iterator();
    const pending = [iterator.next(), iterator.next(), iterator.next()];
    const state = track(pending);
    feed.engine.resync('connected');
    const first = await withDeadline(pending[0]!, DEADLINE_MS, 'the first waiter');
    assert.equal((first.value as FeedItem).type, 'resync');
    // Let every microtask run: the other two must still wait, not share the item.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(state.order, [0]);
    feed.engine.resync('reconnected');
    const second = await withDeadline(pending[1]!, DEADLINE_MS, 'the second waiter');
    assert.equal((second.value as { reason: string }).reason, 'reconnected');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(state.order, [0, 1]);
    await feed.close();
    assert.deepEqual(await withDeadline(pending[2]!, DEADLINE_MS, 'the third waiter'), {
      done: true,
      value: undefined,
    });
  });

  test('a fatal error settles every pending next(): the first with the error, the rest done', async () => {
    const { core: feed, fail } = core();
    const iterator = feed.iterator();
    const pending = [iterator.next(), iterator.next()];
    // Not retryable, on the first connection: the supervisor ends the feed with it.
    const error = new PgnudgeError('PGNUDGE_ERR_PROTOCOL', 'refused for good', false);
    fail(error);
    const [first, second] = await withDeadline(
      Promise.allSettled(pending),
      DEADLINE_MS,
      'both pending next() calls to end',
    );
    assert.deepEqual(first, { status: 'rejected', reason: error });
    assert.deepEqual(second, { status: 'fulfilled', value: { done: true, value: undefined } });
  });
});

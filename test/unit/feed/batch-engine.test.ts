import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../../src/errors.js';
import { BatchEngine, type BatchEngineOptions } from '../../../src/feed/batch-engine.js';
import { Batch, type FeedItem, Resync } from '../../../src/feed/items.js';
import { ManualClock } from '../../support/manual-clock.js';

const T0 = Date.UTC(2024, 0, 1);

function setup(
  options: Partial<Omit<BatchEngineOptions, 'clock' | 'onReadable'>> = {},
  clock = new ManualClock(T0),
) {
  let readable = 0;
  const engine = new BatchEngine({
    clock,
    debounceMs: 50,
    maxBatchWaitMs: 1000,
    maxPending: 100,
    failsafeMs: null,
    onReadable: () => readable++,
    ...options,
  });
  return { engine, clock, readable: () => readable };
}

/** A batch's events as [payload, count] pairs, or the resync reason. */
function show(item: FeedItem | undefined): unknown {
  if (item === undefined) return undefined;
  if (item instanceof Resync) return item.reason;
  return item.events.map((e) => [e.payload, e.count]);
}

describe('BatchEngine', () => {
  test('nothing happens without changes', () => {
    const { engine, clock } = setup();
    clock.advance(10_000);
    assert.equal(engine.take(), undefined);
    assert.equal(clock.pendingTimers, 0);
  });

  test('the debounce rolls with each change and closes after a quiet period', () => {
    const { engine, clock, readable } = setup();
    engine.change('public.a');
    clock.advance(40);
    engine.change('public.a');
    clock.advance(40);
    engine.change('public.b');
    clock.advance(49);
    assert.equal(engine.take(), undefined);
    assert.equal(readable(), 0);
    clock.advance(1);
    assert.equal(readable(), 1);
    const batch = engine.take();
    assert.ok(batch instanceof Batch);
    assert.deepEqual(show(batch), [
      ['public.a', 2],
      ['public.b', 1],
    ]);
    assert.equal(batch.events[0]!.firstSeen.getTime(), T0);
    assert.equal(batch.events[1]!.firstSeen.getTime(), T0 + 80);
    assert.equal(engine.take(), undefined);
    assert.equal(clock.pendingTimers, 0);
  });

  test('maxBatchWait caps a batch under a never-ending stream', () => {
    const { engine, clock } = setup({ debounceMs: 50, maxBatchWaitMs: 200 });
    const closedAt: number[] = [];
    const counts: number[] = [];
    for (let t = 0; t < 1000; t += 10) {
      engine.change('public.hot');
      clock.advance(10);
      const item = engine.take();
      if (item !== undefined) {
        closedAt.push(clock.now() - T0);
        counts.push((item as Batch).events[0]!.count);
      }
    }
    assert.deepEqual(closedAt, [200, 400, 600, 800, 1000]);
    assert.deepEqual(counts, [20, 20, 20, 20, 20]);
  });

  test('debounce 0 closes the batch on the next timer tick, coalescing the same tick', () => {
    const { engine, clock } = setup({ debounceMs: 0, maxBatchWaitMs: 0 });
    engine.change('public.a');
    engine.change('public.a');
    engine.change('public.b');
    assert.equal(engine.take(), undefined);
    clock.advance(0);
    assert.deepEqual(show(engine.take()), [
      ['public.a', 2],
      ['public.b', 1],
    ]);
    assert.equal(clock.pendingTimers, 0);
  });

  test('maxBatchWait equal to debounce closes at the cap', () => {
    const { engine, clock } = setup({ debounceMs: 50, maxBatchWaitMs: 50 });
    engine.change('public.a');
    clock.advance(30);
    engine.change('public.a');
    clock.advance(19);
    assert.equal(engine.take(), undefined);
    clock.advance(1);
    assert.deepEqual(show(engine.take()), [['public.a', 2]]);
    assert.equal(clock.pendingTimers, 0);
  });

  test('changes merge into a closed batch the consumer has not taken yet, without timers', () => {
    const { engine, clock, readable } = setup();
    engine.change('public.a');
    clock.advance(50);
    assert.equal(readable(), 1);
    engine.change('public.b');
    engine.change('public.a', 3);
    assert.equal(clock.pendingTimers, 0);
    clock.advance(5000);
    assert.equal(readable(), 1);
    assert.equal(engine.pendingPayloads, 2);
    assert.deepEqual(show(engine.take()), [
      ['public.a', 4],
      ['public.b', 1],
    ]);
    assert.equal(engine.take(), undefined);
    assert.equal(engine.pendingPayloads, 0);
  });

  test('a million changes to one table are one event with count 1,000,000 and one entry', () => {
    const { engine, clock } = setup();
    for (let i = 0; i < 1_000_000; i++) engine.change('public.big');
    assert.equal(engine.pendingPayloads, 1);
    assert.equal(clock.pendingTimers, 2);
    clock.advance(50);
    assert.deepEqual(show(engine.take()), [['public.big', 1_000_000]]);
  });

  test('overflow: maxPending payloads fit, one more drops the batch for Resync(overflow)', () => {
    const { engine, clock, readable } = setup({ maxPending: 3 });
    engine.change('a');
    engine.change('b');
    engine.change('c');
    engine.change('a');
    assert.equal(engine.pendingPayloads, 3);
    assert.equal(readable(), 0);
    engine.change('d');
    assert.equal(readable(), 1);
    assert.equal(engine.pendingPayloads, 0);
    assert.equal(engine.droppedChanges, 5);
    assert.equal(clock.pendingTimers, 0);
    assert.deepEqual(show(engine.take()), 'overflow');
    assert.equal(engine.take(), undefined);
    engine.change('e');
    clock.advance(50);
    assert.deepEqual(show(engine.take()), [['e', 1]]);
  });

  test('overflow also bounds a closed batch the consumer is not pulling', () => {
    const { engine, clock } = setup({ maxPending: 2 });
    engine.change('a');
    clock.advance(50);
    engine.change('b');
    engine.change('c');
    assert.deepEqual(show(engine.take()), 'overflow');
    assert.equal(engine.take(), undefined);
  });

  test('a Resync drops the pending batch; later changes form a batch after it', () => {
    const { engine, clock } = setup();
    engine.change('public.a');
    engine.resync('reconnected');
    assert.equal(clock.pendingTimers, 0);
    engine.change('public.b');
    clock.advance(50);
    assert.deepEqual(show(engine.take()), 'reconnected');
    assert.deepEqual(show(engine.take()), [['public.b', 1]]);
    assert.equal(engine.droppedChanges, 1);
  });

  test('Resyncs collapse into one, keeping the connect reason over housekeeping ones', () => {
    const { engine, readable } = setup();
    engine.resync('connected');
    engine.resync('failsafe');
    engine.resync('overflow');
    engine.resync('reconnected');
    assert.equal(readable(), 1);
    assert.deepEqual(show(engine.take()), 'connected');
    assert.equal(engine.take(), undefined);

    engine.resync('overflow');
    engine.resync('failsafe');
    assert.deepEqual(show(engine.take()), 'failsafe');
    engine.resync('failsafe');
    engine.resync('reconnected');
    engine.resync('bridge');
    assert.deepEqual(show(engine.take()), 'reconnected');
    engine.resync('bridge');
    engine.resync('overflow');
    assert.deepEqual(show(engine.take()), 'bridge');
    assert.equal(readable(), 4);
  });

  test('nothing is armed before start(), not even the failsafe (contract R10: an engine never started holds no timer)', () => {
    const { engine, clock } = setup({ failsafeMs: 1000 });
    assert.equal(clock.pendingTimers, 0);
    clock.advance(10_000);
    assert.equal(engine.take(), undefined);
    engine.start();
    assert.equal(clock.pendingTimers, 1);
    engine.start();
    assert.equal(clock.pendingTimers, 1, 'start() is idempotent');
    engine.close();
    engine.start();
    assert.equal(clock.pendingTimers, 0, 'a closed engine does not start');
  });

  test('failsafe queues Resync(failsafe) on its interval, collapsing when not taken', () => {
    const { engine, clock } = setup({ failsafeMs: 1000 });
    engine.start();
    assert.equal(clock.pendingTimers, 1);
    clock.advance(999);
    assert.equal(engine.take(), undefined);
    clock.advance(1);
    assert.deepEqual(show(engine.take()), 'failsafe');
    engine.change('public.a');
    clock.advance(3000);
    assert.deepEqual(show(engine.take()), 'failsafe');
    assert.equal(engine.take(), undefined, 'the batch was superseded by the failsafe resync');
    assert.equal(clock.pendingTimers, 1);
  });

  test('close cancels every timer and makes the engine inert', () => {
    const { engine, clock } = setup({ failsafeMs: 1000 });
    engine.start();
    engine.change('public.a');
    engine.resync('connected');
    engine.change('public.b');
    assert.equal(clock.pendingTimers, 3);
    engine.close();
    assert.equal(clock.pendingTimers, 0);
    assert.equal(engine.take(), undefined);
    engine.change('public.c');
    engine.resync('reconnected');
    assert.equal(clock.pendingTimers, 0);
    assert.equal(engine.take(), undefined);
    engine.close();
  });

  test('onReadable may take and close re-entrantly', () => {
    const clock = new ManualClock(T0);
    const seen: unknown[] = [];
    const engine: BatchEngine = new BatchEngine({
      clock,
      debounceMs: 10,
      maxBatchWaitMs: 100,
      maxPending: 10,
      failsafeMs: 500,
      onReadable: () => {
        const item = engine.take();
        seen.push(show(item));
        if (item instanceof Resync && item.reason === 'failsafe') engine.close();
      },
    });
    engine.start();
    engine.resync('connected');
    engine.change('a');
    clock.advance(10);
    clock.advance(1000);
    assert.deepEqual(seen, ['connected', [['a', 1]], 'failsafe']);
    assert.equal(clock.pendingTimers, 0);
  });

  test('a wall clock stepped backwards closes the batch instead of stalling it', () => {
    class SteppedClock extends ManualClock {
      offset = 0;
      override now(): number {
        return super.now() + this.offset;
      }
    }
    const clock = new SteppedClock(T0);
    const { engine } = setup({ debounceMs: 50, maxBatchWaitMs: 10_000 }, clock);
    engine.change('public.a');
    clock.offset = -3_600_000;
    clock.advance(50);
    assert.deepEqual(show(engine.take()), [['public.a', 1]]);
  });

  test('rejects impossible settings with ConfigError naming the option', () => {
    const cases: [Partial<BatchEngineOptions>, string][] = [
      [{ debounceMs: -1 }, 'debounce'],
      [{ debounceMs: Number.NaN }, 'debounce'],
      [{ maxBatchWaitMs: Number.POSITIVE_INFINITY }, 'maxBatchWait'],
      [{ maxPending: 0 }, 'maxPending'],
      [{ maxPending: 1.5 }, 'maxPending'],
      [{ failsafeMs: -5 }, 'failsafe'],
      [{ debounceMs: 1.5 }, 'debounce'],
      [{ maxBatchWaitMs: 2 ** 31 }, 'maxBatchWait'],
    ];
    for (const [options, option] of cases) {
      assert.throws(
        () => setup(options),
        (error: unknown) => error instanceof ConfigError && error.option === option,
        option,
      );
    }
  });
});

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
    maxKeys: 100,
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

  test('receivedMs stands for the clock: it stamps firstSeen and starts the quiet period, without a clock read', () => {
    const { engine, clock, readable } = setup();
    let reads = 0;
    const now = clock.now.bind(clock);
    clock.now = () => {
      reads++;
      return now();
    };
    engine.change('public.a', 1, undefined, T0);
    clock.advance(40);
    const before = reads;
    // A read that arrived at T0 + 20 and is decoded only now: its changes count from then.
    engine.change('public.a', 1, undefined, T0 + 20);
    engine.changeRow('public.b', ['1'], 2, undefined, T0 + 20);
    assert.equal(reads, before, 'the caller read the clock once for the whole read');
    clock.advance(29);
    assert.equal(readable(), 0);
    clock.advance(1);
    assert.equal(readable(), 1, 'the quiet period ran from T0 + 20, not from T0 + 40');
    const batch = engine.take();
    assert.ok(batch instanceof Batch);
    assert.deepEqual(
      batch.events.map((e) => [e.payload, e.count, e.firstSeen.getTime()]),
      [
        ['public.a', 2, T0],
        ['public.b:1', 2, T0 + 20],
      ],
    );
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

  test('while changes are held for a lookup the debounce waits for them; maxBatchWait still closes', () => {
    const { engine, clock, readable } = setup({ debounceMs: 50, maxBatchWaitMs: 1000 });
    engine.change('public.known');
    engine.holding(true);
    clock.advance(300);
    assert.equal(readable(), 0, 'a change that reached the feed is on its way: not a quiet period');
    // The lookup answers: the held change is released, and nothing else is held.
    engine.change('public.new', 3, T0 + 10);
    engine.holding(false);
    clock.advance(49);
    assert.equal(readable(), 0, 'the quiet period runs from the release');
    clock.advance(1);
    assert.deepEqual(show(engine.take()), [
      ['public.known', 1],
      ['public.new', 3],
    ]);

    engine.change('public.known');
    engine.holding(true);
    clock.advance(999);
    assert.equal(readable(), 1);
    clock.advance(1);
    assert.equal(readable(), 2, 'a lookup that never answers holds the batch no longer than maxBatchWait');
    assert.deepEqual(show(engine.take()), [['public.known', 1]]);
    engine.close();
    assert.equal(clock.pendingTimers, 0);
  });

  test('a hold holds batches back for at most maxBatchWait since it began: a stuck lookup delays no later batch', () => {
    const { engine, clock, readable } = setup({ debounceMs: 50, maxBatchWaitMs: 1000 });
    engine.holding(true);
    clock.advance(900);
    engine.change('public.known');
    clock.advance(99);
    assert.equal(readable(), 0, 'the hold began 999 ms ago: still waiting for it');
    clock.advance(1);
    assert.equal(
      readable(),
      1,
      "closed once the held changes had waited maxBatchWait, not at the batch's own cap",
    );
    engine.take();
    engine.holding(true);
    clock.advance(5000);
    engine.change('public.known');
    clock.advance(50);
    assert.equal(readable(), 2, 'a hold older than maxBatchWait: the batch closes on debounce');
    engine.take();
    // A new hold after the old one ended counts from its own start.
    engine.holding(false);
    engine.holding(true);
    engine.change('public.known');
    clock.advance(50);
    assert.equal(readable(), 2);
    engine.close();
    engine.holding(true);
    assert.equal(clock.pendingTimers, 0, 'after close() holding() is a no-op');
  });

  test('a hold that ends without a release closes the batch within one debounce; debounce 0 waits in 1 ms steps', () => {
    const { engine, clock, readable } = setup({ debounceMs: 50, maxBatchWaitMs: 1000 });
    engine.change('public.known');
    engine.holding(true);
    clock.advance(120);
    // Dropped for a Resync, or filtered out once placed: nothing to record.
    engine.holding(false);
    clock.advance(30);
    assert.equal(readable(), 1, 'closed on the next debounce tick');

    const zero = setup({ debounceMs: 0, maxBatchWaitMs: 20 });
    zero.engine.change('public.known');
    zero.engine.holding(true);
    zero.clock.advance(5);
    assert.equal(zero.readable(), 0);
    assert.equal(
      zero.clock.pendingTimers,
      2,
      'one debounce timer (re-armed at 1 ms, not spinning) and the cap',
    );
    zero.engine.holding(false);
    zero.clock.advance(1);
    assert.equal(zero.readable(), 1);
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
      maxKeys: 10,
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
      [{ maxKeys: 0 }, 'maxKeys'],
      [{ maxKeys: Number.NaN }, 'maxKeys'],
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

describe('BatchEngine row keys (contract R22, R24)', () => {
  /** The batch taken after the debounce, as [payload, count] pairs. */
  function closeAndShow(engine: BatchEngine, clock: ManualClock): unknown {
    clock.advance(50);
    return show(engine.take());
  }

  test('changes coalesce per row; a table-level change is an entry of its own', () => {
    const { engine, clock } = setup();
    engine.changeRow('public.orders', ['42']);
    clock.advance(10);
    engine.change('public.orders');
    engine.changeRow('public.lines', ['7', 'gift wrap'], 2);
    engine.changeRow('public.orders', ['42'], 3);
    engine.changeRow('public.orders', ['43']);
    assert.equal(engine.pendingPayloads, 4);
    clock.advance(50);
    const batch = engine.take();
    assert.ok(batch instanceof Batch);
    assert.deepEqual(
      batch.events.map((e) => [e.payload, e.table, e.key, e.count, e.firstSeen.getTime() - T0]),
      [
        ['public.orders:42', 'public.orders', ['42'], 4, 0],
        ['public.orders', 'public.orders', null, 1, 10],
        ['public.lines:7,"gift wrap"', 'public.lines', ['7', 'gift wrap'], 2, 10],
        ['public.orders:43', 'public.orders', ['43'], 1, 10],
      ],
    );
  });

  test('changeRow with a null key is change(); a key without values is refused', () => {
    const { engine, clock } = setup();
    engine.changeRow('public.t', null, 2);
    engine.change('public.t');
    assert.throws(() => engine.changeRow('public.t', []), RangeError);
    assert.deepEqual(closeAndShow(engine, clock), [['public.t', 3]]);
  });

  test('the key is copied: a decoder may reuse its array', () => {
    const { engine, clock } = setup();
    const key = ['1'];
    engine.changeRow('public.t', key);
    key[0] = '2';
    engine.changeRow('public.t', key);
    assert.deepEqual(closeAndShow(engine, clock), [
      ['public.t:1', 1],
      ['public.t:2', 1],
    ]);
  });

  test('past maxKeys, the table folds into one table-level event at its first place, counts summed', () => {
    const { engine, clock } = setup({ maxKeys: 3 });
    engine.change('public.first');
    engine.changeRow('public.orders', ['1']);
    engine.changeRow('public.other', ['1']);
    engine.changeRow('public.orders', ['2'], 2);
    engine.changeRow('public.orders', ['3']);
    engine.changeRow('public.orders', ['1']);
    assert.equal(engine.pendingPayloads, 5);
    clock.advance(10);
    engine.changeRow('public.orders', ['4'], 5); // the fourth key: fold
    assert.equal(engine.pendingPayloads, 3);
    engine.changeRow('public.orders', ['1']); // later row changes count for the table
    engine.changeRow('public.orders', ['99']);
    engine.change('public.orders', 2);
    engine.changeRow('public.other', ['2']); // another table keeps its rows
    assert.equal(engine.pendingPayloads, 4);
    clock.advance(50);
    const batch = engine.take();
    assert.ok(batch instanceof Batch);
    assert.deepEqual(
      batch.events.map((e) => [e.payload, e.key, e.count, e.firstSeen.getTime() - T0]),
      [
        ['public.first', null, 1, 0],
        ['public.orders', null, 1 + 2 + 1 + 1 + 5 + 1 + 1 + 2, 0],
        ['public.other:1', ['1'], 1, 0],
        ['public.other:2', ['2'], 1, 10],
      ],
    );
    // The fold lasts one batch: the next one holds rows again.
    engine.changeRow('public.orders', ['5']);
    assert.deepEqual(closeAndShow(engine, clock), [['public.orders:5', 1]]);
  });

  test("a fold absorbs the table's table-level entry and takes the earliest place and firstSeen", () => {
    const { engine, clock } = setup({ maxKeys: 1 });
    engine.changeRow('public.a', ['1'], 1, T0 - 500); // a bridge's earlier firstSeen
    engine.change('public.b');
    engine.change('public.a', 4); // a TRUNCATE after the row: a later place
    engine.changeRow('public.a', ['2']);
    assert.equal(engine.pendingPayloads, 2);
    clock.advance(50);
    const batch = engine.take();
    assert.ok(batch instanceof Batch);
    assert.deepEqual(
      batch.events.map((e) => [e.payload, e.count, e.firstSeen.getTime() - T0]),
      [
        ['public.a', 6, -500],
        ['public.b', 1, 0],
      ],
    );

    engine.change('public.a', 4); // this time the table-level entry came first
    engine.change('public.b');
    engine.changeRow('public.a', ['1']);
    engine.changeRow('public.a', ['2']);
    assert.deepEqual(closeAndShow(engine, clock), [
      ['public.a', 6],
      ['public.b', 1],
    ]);
  });

  test('a batch the consumer has not taken folds the same way, without timers', () => {
    const { engine, clock } = setup({ maxKeys: 2 });
    engine.changeRow('public.t', ['1']);
    clock.advance(50);
    engine.changeRow('public.t', ['2']);
    engine.changeRow('public.t', ['3']);
    assert.equal(clock.pendingTimers, 0);
    assert.deepEqual(show(engine.take()), [['public.t', 3]]);
  });

  test('maxPending counts row entries; a fold at the limit is not an overflow', () => {
    const { engine, clock } = setup({ maxPending: 3, maxKeys: 2 });
    engine.changeRow('public.t', ['1']);
    engine.changeRow('public.t', ['2']);
    engine.changeRow('public.u', ['1']);
    assert.equal(engine.pendingPayloads, 3);
    engine.changeRow('public.t', ['3']); // folds public.t: 2 entries
    assert.equal(engine.pendingPayloads, 2);
    engine.changeRow('public.u', ['2']);
    assert.equal(engine.pendingPayloads, 3);
    engine.changeRow('public.t', ['4']); // counts for the folded table
    engine.changeRow('public.u', ['1']);
    assert.equal(engine.droppedChanges, 0);
    engine.change('public.u'); // a new payload: overflow
    assert.deepEqual(show(engine.take()), 'overflow');
    assert.equal(engine.droppedChanges, 8);
    assert.equal(engine.pendingPayloads, 0);
    engine.changeRow('public.t', ['1']);
    assert.deepEqual(closeAndShow(engine, clock), [['public.t:1', 1]]);
  });

  test('a million-row keyed transaction holds at most maxKeys entries and sums to 1,000,000', () => {
    const { engine, clock } = setup({ maxKeys: 1000, maxPending: 10_000 });
    let most = 0;
    for (let i = 0; i < 1_000_000; i++) {
      engine.changeRow('public.big', [String(i)]);
      if (i < 2000) most = Math.max(most, engine.pendingPayloads);
    }
    assert.equal(most, 1000);
    assert.equal(engine.pendingPayloads, 1);
    assert.deepEqual(closeAndShow(engine, clock), [['public.big', 1_000_000]]);
  });

  test('a firstSeenMs no Date can hold is replaced by now, so --json never throws', () => {
    const { engine, clock } = setup();
    const bad = [8.64e15 + 1, -8.64e15 - 1, Number.NaN, Number.POSITIVE_INFINITY, 1e300];
    bad.forEach((ms, i) => {
      engine.changeRow('public.t', [String(i)], 1, ms);
    });
    engine.change('public.edge', 1, 8.64e15);
    clock.advance(50);
    const batch = engine.take();
    assert.ok(batch instanceof Batch);
    assert.deepEqual(
      batch.events.map((e) => e.firstSeen.getTime()),
      [...bad.map(() => T0), 8.64e15],
    );
    assert.doesNotThrow(() => JSON.stringify(batch));
  });
});

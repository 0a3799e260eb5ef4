// Seeded property: for any interleaving of changes, resyncs, clock advances and takes, every change
// is accounted for (taken or dropped for a Resync) and is followed by a Batch naming it or a Resync.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BatchEngine } from '../../../src/feed/batch-engine.js';
import { Batch, type ResyncReason } from '../../../src/feed/items.js';
import { ManualClock } from '../../support/manual-clock.js';

const settings = { seed: 20240503, numRuns: Number(process.env.PGNUDGE_FUZZ_RUNS ?? 300) };

type Step =
  | { kind: 'change'; payload: string; count: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'take' }
  | { kind: 'resync'; reason: ResyncReason };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant('change' as const),
      payload: fc.constantFrom('a', 'b', 'c', 'd', 'e'),
      count: fc.integer({ min: 1, max: 3 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 120 }) }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('take' as const) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('resync' as const),
      reason: fc.constantFrom<ResyncReason>('connected', 'reconnected', 'overflow', 'failsafe', 'bridge'),
    }),
  },
);

const config = fc
  .record({
    debounceMs: fc.constantFrom(0, 10, 50),
    waitFactor: fc.constantFrom(1, 3, 20),
    maxPending: fc.integer({ min: 1, max: 5 }),
    failsafeMs: fc.constantFrom(null, 70, 500),
  })
  .map(({ debounceMs, waitFactor, ...rest }) => ({
    debounceMs,
    maxBatchWaitMs: debounceMs * waitFactor,
    ...rest,
  }));

test('every change is taken or superseded by a Resync, nothing is lost, and every one is counted', () => {
  fc.assert(
    fc.property(config, fc.array(step, { maxLength: 120 }), (options, steps) => {
      const clock = new ManualClock();
      let waiting = false;
      const engine = new BatchEngine({ clock, ...options, onReadable: () => (waiting = false) });
      engine.start();
      let fed = 0;
      let taken = 0;
      const unresolved = new Set<string>();

      const take = () => {
        const item = engine.take();
        if (item === undefined) {
          waiting = true;
          return false;
        }
        // A consumer that saw nothing must have been woken before something appears.
        assert.equal(waiting, false, 'an item appeared without onReadable');
        if (item instanceof Batch) {
          assert.ok(item.events.length > 0);
          assert.equal(new Set(item.events.map((e) => e.payload)).size, item.events.length);
          for (const event of item.events) {
            taken += event.count;
            unresolved.delete(event.payload);
          }
        } else {
          unresolved.clear();
        }
        return true;
      };

      for (const s of steps) {
        if (s.kind === 'change') {
          engine.change(s.payload, s.count);
          fed += s.count;
          unresolved.add(s.payload);
        } else if (s.kind === 'advance') clock.advance(s.ms);
        else if (s.kind === 'take') take();
        else engine.resync(s.reason);
        assert.ok(engine.pendingPayloads <= options.maxPending);
        assert.ok(clock.pendingTimers <= 3);
        // feed.stats().changes: every change fed, whatever became of it.
        assert.equal(engine.changesReceived, fed);
      }
      // Let every open batch close, then drain.
      clock.advance(options.maxBatchWaitMs + 1);
      while (take());

      assert.equal(taken + engine.droppedChanges, fed);
      assert.deepEqual([...unresolved], []);
      engine.close();
      assert.equal(clock.pendingTimers, 0);
      engine.change('after.close');
      assert.equal(engine.changesReceived, fed, 'a closed engine counts nothing more');
    }),
    settings,
  );
});

// Seeded property: for any interleaving of table-level and row changes, resyncs, clock advances, takes
// and holds for a lookup, every change is accounted for (taken or dropped for a Resync), every taken
// Batch is exactly what a slow, obviously correct model of coalescing (contract R4, R6, R24) predicts,
// and memory stays within maxPending entries and maxKeys rows per table.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { BatchEngine } from '../../../src/feed/batch-engine.js';
import { Batch, type ResyncReason } from '../../../src/feed/items.js';
import { ManualClock } from '../../support/manual-clock.js';

const settings = { seed: 20240503, numRuns: Number(process.env.PGNUDGE_FUZZ_RUNS ?? 300) };

type Step =
  | { kind: 'change'; table: string; key: readonly string[] | null; count: number }
  | { kind: 'advance'; ms: number }
  | { kind: 'take' }
  | { kind: 'resync'; reason: ResyncReason }
  | { kind: 'holding'; held: boolean };

const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('change' as const),
      table: fc.constantFrom('a', 'b', 'c', 'd'),
      key: fc.constant(null),
      count: fc.integer({ min: 1, max: 3 }),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('change' as const),
      table: fc.constantFrom('a', 'b', 'c'),
      key: fc.constantFrom(['1'], ['2'], ['3'], ['4'], [''], ['1', '2'], ['1,2']),
      count: fc.integer({ min: 1, max: 3 }),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 120 }) }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('take' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('holding' as const), held: fc.boolean() }) },
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
    maxPending: fc.integer({ min: 1, max: 8 }),
    maxKeys: fc.integer({ min: 1, max: 3 }),
    failsafeMs: fc.constantFrom(null, 70, 500),
  })
  .map(({ debounceMs, waitFactor, ...rest }) => ({
    debounceMs,
    maxBatchWaitMs: debounceMs * waitFactor,
    ...rest,
  }));

interface ModelEntry {
  table: string;
  key: readonly string[] | null;
  count: number;
  firstSeenMs: number;
}

/**
 * The pending batch as a plain list in arrival order, every rule applied the naive way: a new row past
 * maxKeys replaces all the table's entries by one table-level entry at the first of their places.
 */
class Model {
  entries: ModelEntry[] = [];
  folded = new Set<string>();
  constructor(
    readonly maxPending: number,
    readonly maxKeys: number,
  ) {}

  get changes(): number {
    return this.entries.reduce((sum, e) => sum + e.count, 0);
  }

  /** false when the change overflows (the batch and the change are dropped). */
  add(table: string, key: readonly string[] | null, count: number, nowMs: number): boolean {
    const rowKey = key === null || this.folded.has(table) ? null : key;
    const same = this.entries.find((e) => e.table === table && sameKey(e.key, rowKey));
    if (same !== undefined) {
      same.count += count;
      return true;
    }
    const rows = this.entries.filter((e) => e.table === table && e.key !== null);
    if (rowKey !== null && rows.length === this.maxKeys) {
      const mine = this.entries.filter((e) => e.table === table);
      const at = this.entries.indexOf(mine[0]!);
      const merged: ModelEntry = {
        table,
        key: null,
        count: mine.reduce((sum, e) => sum + e.count, count),
        firstSeenMs: Math.min(nowMs, ...mine.map((e) => e.firstSeenMs)),
      };
      this.entries = this.entries.filter((e) => e.table !== table);
      this.entries.splice(at, 0, merged);
      this.folded.add(table);
      return true;
    }
    if (this.entries.length >= this.maxPending) {
      this.clear();
      return false;
    }
    this.entries.push({ table, key: rowKey, count, firstSeenMs: nowMs });
    return true;
  }

  clear(): void {
    this.entries = [];
    this.folded.clear();
  }
}

function sameKey(a: readonly string[] | null, b: readonly string[] | null): boolean {
  return a === null || b === null ? a === b : a.length === b.length && a.every((v, i) => v === b[i]);
}

test('every change is taken or superseded by a Resync, every batch is what the model predicts, and every change is counted', () => {
  fc.assert(
    fc.property(config, fc.array(step, { maxLength: 150, size: 'max' }), (options, steps) => {
      const clock = new ManualClock();
      let waiting = false;
      const engine = new BatchEngine({ clock, ...options, onReadable: () => (waiting = false) });
      const model = new Model(options.maxPending, options.maxKeys);
      engine.start();
      let fed = 0;
      let taken = 0;
      let dropped = 0;
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
          assert.deepEqual(
            item.events.map((e) => [e.table, e.key, e.count, e.firstSeen.getTime()]),
            model.entries.map((e) => [e.table, e.key, e.count, e.firstSeenMs]),
          );
          for (const table of new Set(item.events.map((e) => e.table))) {
            const rows = item.events.filter((e) => e.table === table && e.key !== null).length;
            assert.ok(rows <= options.maxKeys, `${rows} rows of ${table} in one batch`);
          }
          assert.equal(new Set(item.events.map((e) => e.payload)).size, item.events.length);
          model.clear();
          for (const event of item.events) {
            taken += event.count;
            unresolved.delete(event.table);
          }
        } else {
          unresolved.clear();
        }
        return true;
      };

      /** A Resync (an explicit one, an overflow, the failsafe) drops the batch: the model's too. */
      const noteDrops = () => {
        if (engine.droppedChanges === dropped) return;
        dropped = engine.droppedChanges;
        model.clear();
      };

      for (const s of steps) {
        if (s.kind === 'change') {
          const before = engine.droppedChanges;
          if (s.key === null) engine.change(s.table, s.count);
          else engine.changeRow(s.table, s.key, s.count);
          const kept = model.add(s.table, s.key, s.count, clock.now());
          assert.equal(engine.droppedChanges > before, !kept, 'overflow when the model overflows');
          fed += s.count;
          unresolved.add(s.table);
        } else if (s.kind === 'advance') clock.advance(s.ms);
        else if (s.kind === 'take') take();
        else if (s.kind === 'holding') engine.holding(s.held);
        else engine.resync(s.reason);
        noteDrops();
        assert.equal(engine.pendingPayloads, model.entries.length);
        assert.ok(engine.pendingPayloads <= options.maxPending);
        assert.ok(clock.pendingTimers <= 3);
        // feed.stats().changes: every change fed, whatever became of it.
        assert.equal(engine.changesReceived, fed);
      }
      // Let every open batch close, then drain: maxBatchWait closes it even while changes are held.
      clock.advance(options.maxBatchWaitMs + 1);
      noteDrops();
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

// RowEvents (contract R22, R23): which row events a change becomes, from row images that say what they hold.
// The decoders' reading of real lines is test/unit/decode/row-keys.test.ts; this is the choice made from it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { ChangeOp, KeyRead, RowImages } from '../../../src/decode/change.js';
import { BatchEngine } from '../../../src/feed/batch-engine.js';
import type { FeedItem } from '../../../src/feed/items.js';
import { RowEvents } from '../../../src/feed/row-events.js';
import { ManualClock } from '../../support/manual-clock.js';

const settings = { seed: 20261204, numRuns: Number(process.env.PGNUDGE_FUZZ_RUNS ?? 300) };

/** Row images holding `images.new` and `images.old`: a key array, or what reading one gives instead. */
function rows(images: { new?: string[] | KeyRead; old?: string[] | KeyRead }): RowImages {
  return {
    readKey(image, columns, out) {
      const held = images[image] ?? 'absent';
      if (typeof held === 'string') return held;
      assert.equal(columns.length, held.length);
      held.forEach((value, i) => {
        out[i] = value;
      });
      return 'read';
    },
  };
}

function events(
  op: ChangeOp,
  images: RowImages | undefined,
  columns: string[] | null = ['id'],
  folded = false,
) {
  const seen: (string | [string, string[]])[] = [];
  const sink = {
    rowsFolded: () => folded,
    change: (table: string) => {
      seen.push(table);
    },
    changeRow: (table: string, key: readonly string[] | null) => {
      seen.push([table, [...(key ?? [])]]);
    },
  };
  new RowEvents(sink).change('public.t', columns, op, images);
  return seen;
}

describe('RowEvents', () => {
  test('INSERT names its new row, DELETE its old key', () => {
    assert.deepEqual(events('insert', rows({ new: ['1'] })), [['public.t', ['1']]]);
    assert.deepEqual(events('delete', rows({ old: ['2'] })), [['public.t', ['2']]]);
  });

  test('an UPDATE that keeps its key names it once; one that changes it names the old key, then the new', () => {
    assert.deepEqual(events('update', rows({ new: ['1'] })), [['public.t', ['1']]]);
    assert.deepEqual(events('update', rows({ new: ['1'], old: ['1'] })), [['public.t', ['1']]]);
    assert.deepEqual(events('update', rows({ new: ['2'], old: ['1'] })), [
      ['public.t', ['1']],
      ['public.t', ['2']],
    ]);
    assert.deepEqual(events('update', rows({ new: ['a', '2'], old: ['a', '1'] }), ['x', 'y']), [
      ['public.t', ['a', '1']],
      ['public.t', ['a', '2']],
    ]);
  });

  test('TRUNCATE, a table without a key, and a change without row images are table-level', () => {
    assert.deepEqual(events('truncate', rows({})), ['public.t']);
    assert.deepEqual(events('insert', rows({ new: ['1'] }), null), ['public.t']);
    assert.deepEqual(events('update', undefined), ['public.t']);
  });

  test('a key that cannot be read, or an image that should be there and is not, is table-level', () => {
    assert.deepEqual(events('insert', rows({ new: 'unreadable' })), ['public.t']);
    assert.deepEqual(events('insert', rows({ new: 'absent' })), ['public.t']);
    assert.deepEqual(events('delete', rows({ old: 'absent' })), ['public.t']);
    assert.deepEqual(events('update', rows({ new: ['1'], old: 'unreadable' })), ['public.t']);
    assert.deepEqual(events('update', rows({ new: 'absent', old: ['1'] })), ['public.t']);
  });

  test('the key arrays are reused and sized to each key, so a shorter key carries no stale value', () => {
    const seen: (readonly string[] | null)[] = [];
    const row = new RowEvents({ change: () => {}, changeRow: (_table, key) => seen.push(key) });
    row.change('public.a', ['x', 'y'], 'insert', rows({ new: ['1', '2'] }));
    row.change('public.b', ['x'], 'insert', rows({ new: ['3'] }));
    assert.deepEqual(seen[1], ['3']);
    assert.equal(seen[0], seen[1], 'one array, reused: the engine copies what it keeps');
  });

  test("every event carries the read's clock reading, so the engine reads no clock per row", () => {
    const stamps: (number | undefined)[] = [];
    const row = new RowEvents({
      change: (_table, _count, _firstSeenMs, receivedMs) => stamps.push(receivedMs),
      changeRow: (_table, _key, _count, _firstSeenMs, receivedMs) => stamps.push(receivedMs),
    });
    row.change('public.t', ['id'], 'insert', rows({ new: ['1'] }), 7);
    row.change('public.t', ['id'], 'delete', rows({ old: ['1'] }), 8);
    row.change('public.t', ['id'], 'update', rows({ new: ['2'], old: ['1'] }), 9);
    row.change('public.t', ['id'], 'insert', rows({ new: 'unreadable' }), 10);
    row.change('public.t', ['id'], 'delete', rows({ old: 'absent' }), 11);
    row.change('public.t', ['id'], 'update', rows({ new: 'absent' }), 12);
    row.change('public.t', null, 'truncate', undefined, 13);
    assert.deepEqual(stamps, [7, 8, 9, 9, 10, 11, 12, 13]);
    row.change('public.t', ['id'], 'insert', rows({ new: ['1'] }));
    assert.equal(stamps.at(-1), undefined, 'without a reading, the engine reads its clock');
  });

  test("once the table's rows folded, only what decides the count is read", () => {
    const read: string[] = [];
    /** Row images that record which image was read. */
    const watched = (images: { new?: string[] | KeyRead; old?: string[] | KeyRead }): RowImages => {
      const inner = rows(images);
      return {
        readKey(image, columns, out) {
          read.push(image);
          return inner.readKey(image, columns, out);
        },
      };
    };
    assert.deepEqual(events('insert', watched({ new: ['1'] }), ['id'], true), ['public.t']);
    assert.deepEqual(events('delete', watched({ old: ['1'] }), ['id'], true), ['public.t']);
    assert.deepEqual(events('insert', watched({ new: 'unreadable' }), ['id'], true), ['public.t']);
    assert.deepEqual(read, [], 'an INSERT or a DELETE is one change, whatever its key');
    assert.deepEqual(events('update', watched({ new: ['1'] }), ['id'], true), ['public.t']);
    assert.deepEqual(read, ['old'], 'an UPDATE without an old key is one change: its new key is not read');
    read.length = 0;
    assert.deepEqual(events('update', watched({ new: ['2'], old: ['1'] }), ['id'], true), [
      ['public.t', ['1']],
      ['public.t', ['2']],
    ]);
    assert.deepEqual(events('update', watched({ new: ['1'], old: ['1'] }), ['id'], true), [
      ['public.t', ['1']],
    ]);
    assert.deepEqual(read, ['old', 'new', 'old', 'new'], 'an old key makes one change or two: both are read');
    assert.deepEqual(events('insert', rows({ new: ['1'] }), ['id'], false), [['public.t', ['1']]]);
  });

  test('reading fewer keys once rows folded changes no batch: the same as reading every key', () => {
    type Step =
      | { kind: 'change'; table: string; op: ChangeOp; old: string[] | KeyRead; new: string[] | KeyRead }
      | { kind: 'take' }
      | { kind: 'resync' };
    const key = fc.oneof(
      fc.constantFrom(['1'], ['2'], ['3'], ['4'], ['5']),
      fc.constantFrom<KeyRead>('absent', 'unreadable'),
    );
    const step: fc.Arbitrary<Step> = fc.oneof(
      {
        weight: 8,
        arbitrary: fc.record({
          kind: fc.constant('change' as const),
          table: fc.constantFrom('public.a', 'public.b'),
          op: fc.constantFrom<ChangeOp>('insert', 'update', 'delete', 'truncate'),
          old: key,
          new: key,
        }),
      },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('take' as const) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('resync' as const) }) },
    );
    const options = fc.record({
      maxKeys: fc.integer({ min: 1, max: 4 }),
      maxPending: fc.integer({ min: 2, max: 12 }),
    });
    fc.assert(
      fc.property(options, fc.array(step, { maxLength: 120 }), ({ maxKeys, maxPending }, steps) => {
        const clock = new ManualClock();
        const engine = () =>
          new BatchEngine({
            clock,
            debounceMs: 10,
            maxBatchWaitMs: 100,
            maxPending,
            maxKeys,
            failsafeMs: null,
            onReadable: () => {},
          });
        const skipping = engine();
        const reading = engine();
        const skipped = new RowEvents(skipping);
        // The same engine without rowsFolded: every key is read, as before there was a shortcut.
        const everyKey = new RowEvents({
          change: (...args) => reading.change(...args),
          changeRow: (...args) => reading.changeRow(...args),
        });
        const items: [FeedItem[], FeedItem[]] = [[], []];
        const drain = () => {
          for (const [index, each] of [skipping, reading].entries()) {
            for (let item = each.take(); item !== undefined; item = each.take()) items[index]!.push(item);
          }
        };
        for (const s of steps) {
          if (s.kind === 'change') {
            const images = rows({ new: s.new, old: s.old });
            skipped.change(s.table, ['id'], s.op, images);
            everyKey.change(s.table, ['id'], s.op, images);
          } else if (s.kind === 'take') {
            clock.advance(100);
            drain();
          } else {
            skipping.resync('failsafe');
            reading.resync('failsafe');
          }
          assert.equal(skipping.pendingPayloads, reading.pendingPayloads);
          assert.equal(skipping.changesReceived, reading.changesReceived);
          assert.equal(skipping.droppedChanges, reading.droppedChanges);
          clock.advance(1);
        }
        clock.advance(100);
        drain();
        assert.deepEqual(items[0], items[1]);
      }),
      settings,
    );
  });
});

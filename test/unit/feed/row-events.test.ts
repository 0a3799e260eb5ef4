// RowEvents (contract R22, R23): which row events a change becomes, from row images that say what they hold.
// The decoders' reading of real lines is test/unit/decode/row-keys.test.ts; this is the choice made from it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChangeOp, KeyRead, RowImages } from '../../../src/decode/change.js';
import { RowEvents } from '../../../src/feed/row-events.js';

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

function events(op: ChangeOp, images: RowImages | undefined, columns: string[] | null = ['id']) {
  const seen: (string | [string, string[]])[] = [];
  const sink = {
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
});

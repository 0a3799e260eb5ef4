// wal2json's "no tuple identifier" WARNING read as the change it stands for (contract R3): the exact text
// wal2json 2.x raises (pg_decode_write_change, format version 2), raw names, and ambiguous splits.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChangeOp } from '../../../src/decode/change.js';
import { createWal2jsonDecoder } from '../../../src/decode/wal2json.js';
import { skippedChanges } from '../../../src/decode/wal2json-notice.js';

describe('skippedChanges', () => {
  test('an UPDATE and a DELETE name their table', () => {
    assert.deepEqual(skippedChanges('no tuple identifier for UPDATE in table "public"."nopk"'), [
      { schema: 'public', table: 'nopk', op: 'update' },
    ]);
    assert.deepEqual(skippedChanges('no tuple identifier for DELETE in table "public"."nopk"'), [
      { schema: 'public', table: 'nopk', op: 'delete' },
    ]);
  });

  test('names arrive raw: quotes, dots, spaces and non-ASCII are the catalog bytes', () => {
    assert.deepEqual(skippedChanges('no tuple identifier for UPDATE in table "we"i.rd"."t".x ✓"'), [
      { schema: 'we"i.rd', table: 't".x ✓', op: 'update' },
    ]);
  });

  test('a name holding "." gives every reading, so none is lost', () => {
    assert.deepEqual(skippedChanges('no tuple identifier for DELETE in table "p"."q"."r"'), [
      { schema: 'p', table: 'q"."r', op: 'delete' },
      { schema: 'p"."q', table: 'r', op: 'delete' },
    ]);
  });

  test('any other notice stands for no change', () => {
    for (const message of [
      '',
      'no tuple identifier for INSERT in table "public"."t"',
      'no tuple identifier for UPDATE in table public.t',
      'no tuple identifier for UPDATE in table "public"."t',
      'no tuple identifier for UPDATE in table "publict"',
      'no tuple identifier for UPDATE in table ""."t"',
      'table "public"."t" without primary key or replica identity is nothing',
      'logical decoding found consistent point at 0/14DC630',
    ]) {
      assert.deepEqual(skippedChanges(message), [], message);
    }
  });
});

describe('the wal2json decoder reads the notice', () => {
  test('one sink call per reading, with the operation', () => {
    const calls: [string, string, ChangeOp][] = [];
    const decoder = createWal2jsonDecoder();
    decoder.notice?.('no tuple identifier for UPDATE in table "s"."t"', (schema, table, op) =>
      calls.push([schema, table, op]),
    );
    decoder.notice?.('some other warning', (schema, table, op) => calls.push([schema, table, op]));
    assert.deepEqual(calls, [['s', 't', 'update']]);
  });
});

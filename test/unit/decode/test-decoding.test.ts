import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChangeOp, Decoder } from '../../../src/decode/change.js';
import { createTestDecodingDecoder } from '../../../src/decode/test-decoding.js';
import { DecodeError } from '../../../src/errors.js';

type Row = [schema: string, table: string, op: ChangeOp];

function decode(decoder: Decoder, message: string | Uint8Array): Row[] {
  const rows: Row[] = [];
  const data = typeof message === 'string' ? new TextEncoder().encode(message) : message;
  decoder.decode(data, (schema, table, op) => rows.push([schema, table, op]));
  return rows;
}

const TUPLE = "id[integer]:1 note[text]:'it''s: a \"note\", ok' total[numeric]:9.50 done[boolean]:true";

describe('test_decoding', () => {
  test('INSERT, UPDATE, DELETE name their table', () => {
    const decoder = createTestDecodingDecoder();
    assert.deepEqual(decode(decoder, `table public.orders: INSERT: ${TUPLE}`), [
      ['public', 'orders', 'insert'],
    ]);
    assert.deepEqual(decode(decoder, `table public.orders: UPDATE: ${TUPLE}`), [
      ['public', 'orders', 'update'],
    ]);
    assert.deepEqual(
      decode(decoder, 'table public.orders: UPDATE: old-key: id[integer]:1 new-tuple: id[integer]:2'),
      [['public', 'orders', 'update']],
    );
    assert.deepEqual(decode(decoder, 'table public.orders: DELETE: id[integer]:1'), [
      ['public', 'orders', 'delete'],
    ]);
    assert.deepEqual(decode(decoder, 'table public.orders: DELETE: (no-tuple-data)'), [
      ['public', 'orders', 'delete'],
    ]);
    // A table without columns prints nothing after the op.
    assert.deepEqual(decode(decoder, 'table public.empty: INSERT:'), [['public', 'empty', 'insert']]);
  });

  test('the odd identifier is unquoted to the same bytes as wal2json gives', () => {
    const rows = decode(createTestDecodingDecoder(), `table "Odd Schema"."Tab.le ✓ ""q""": INSERT: ${TUPLE}`);
    assert.deepEqual(rows, [['Odd Schema', 'Tab.le ✓ "q"', 'insert']]);
  });

  test('keywords and mixed case are quoted by the server and unquoted here', () => {
    const decoder = createTestDecodingDecoder();
    assert.deepEqual(decode(decoder, 'table public."user": INSERT: id[integer]:1'), [
      ['public', 'user', 'insert'],
    ]);
    assert.deepEqual(decode(decoder, 'table "MySchema"."Order": DELETE: id[integer]:1'), [
      ['MySchema', 'Order', 'delete'],
    ]);
  });

  test('delimiters inside quotes do not end the name', () => {
    const decoder = createTestDecodingDecoder();
    assert.deepEqual(decode(decoder, 'table public."a: INSERT: b": DELETE: id[integer]:1'), [
      ['public', 'a: INSERT: b', 'delete'],
    ]);
    assert.deepEqual(decode(decoder, 'table "s.t, u"."x:y""z": UPDATE: id[integer]:1'), [
      ['s.t, u', 'x:y"z', 'update'],
    ]);
    assert.deepEqual(decode(decoder, 'table public."line\nbreak": INSERT: id[integer]:1'), [
      ['public', 'line\nbreak', 'insert'],
    ]);
  });

  test('multi-table TRUNCATE names every table, with or without flags', () => {
    const decoder = createTestDecodingDecoder();
    assert.deepEqual(decode(decoder, 'table public.a, public.b: TRUNCATE: (no-flags)'), [
      ['public', 'a', 'truncate'],
      ['public', 'b', 'truncate'],
    ]);
    assert.deepEqual(
      decode(
        decoder,
        'table public.a, "Odd Schema"."Tab.le ✓ ""q""", public."x, y": TRUNCATE: restart_seqs cascade',
      ),
      [
        ['public', 'a', 'truncate'],
        ['Odd Schema', 'Tab.le ✓ "q"', 'truncate'],
        ['public', 'x, y', 'truncate'],
      ],
    );
    assert.deepEqual(decode(decoder, 'table public.a: TRUNCATE: cascade'), [['public', 'a', 'truncate']]);
  });

  test('BEGIN, COMMIT and logical messages are skipped', () => {
    const decoder = createTestDecodingDecoder();
    for (const line of [
      'BEGIN',
      'BEGIN 1234',
      'COMMIT',
      'COMMIT 1234',
      'COMMIT 1234 (at 2024-05-01 10:00:00.123456+00)',
      'COMMIT (at 2024-05-01 10:00:00.123456+00)',
      'message: transactional: 1 prefix: x, sz: 3 content:abc',
      'message: transactional: 0 prefix: table public.t: INSERT:, sz: 5 content:table',
    ]) {
      assert.deepEqual(decode(decoder, line), [], line);
    }
  });

  test('the relation cache never confuses a name with its prefix or extension', () => {
    const decoder = createTestDecodingDecoder();
    const cases: [string, Row][] = [
      ['table public.ab: INSERT: x[integer]:1', ['public', 'ab', 'insert']],
      ['table public.a: INSERT: x[integer]:1', ['public', 'a', 'insert']],
      ['table public.abc: UPDATE: x[integer]:1', ['public', 'abc', 'update']],
      ['table public.ab: DELETE: x[integer]:1', ['public', 'ab', 'delete']],
      ['table "x"."a": INSERT: x[integer]:1', ['x', 'a', 'insert']],
      ['table "x"."a"":b": INSERT: x[integer]:1', ['x', 'a":b', 'insert']],
      ['table "x"."a": DELETE: x[integer]:1', ['x', 'a', 'delete']],
      ['table public.ab, public.a: TRUNCATE: (no-flags)', ['public', 'ab', 'truncate']],
    ];
    for (let round = 0; round < 3; round++) {
      for (const [line, row] of cases) assert.deepEqual(decode(decoder, line)[0], row, line);
    }
  });

  const malformed: [string, string | Uint8Array][] = [
    ['empty', ''],
    ['unknown line', 'something else'],
    ['BEGIN glued', 'BEGINX'],
    ['COMMIT glued', 'COMMITTED'],
    ['bare table', 'table '],
    ['no schema', 'table orders: INSERT: id[integer]:1'],
    ['no op', 'table public.orders'],
    ['no space before op', 'table public.orders:INSERT: id[integer]:1'],
    ['unknown op', 'table public.orders: MERGE: id[integer]:1'],
    ['op glued', 'table public.orders: INSERTED: id[integer]:1'],
    ['op without colon', 'table public.orders: INSERT id[integer]:1'],
    ['two relations for INSERT', 'table public.a, public.b: INSERT: id[integer]:1'],
    ['unterminated quote', 'table "public.orders: INSERT: id[integer]:1'],
    ['empty quoted name', 'table "".orders: INSERT: id[integer]:1'],
    ['empty table', 'table public.: INSERT: id[integer]:1'],
    ['three parts', 'table a.b.c: INSERT: id[integer]:1'],
    ['trailing comma', 'table public.a, : TRUNCATE: (no-flags)'],
    [
      'invalid UTF-8',
      Uint8Array.from([
        ...new TextEncoder().encode('table public."'),
        0xc3,
        0x28,
        ...new TextEncoder().encode('": INSERT:'),
      ]),
    ],
  ];
  for (const [name, message] of malformed) {
    test(`malformed: ${name} → DecodeError, sink untouched`, () => {
      const decoder = createTestDecodingDecoder();
      let calls = 0;
      const data = typeof message === 'string' ? new TextEncoder().encode(message) : message;
      assert.throws(
        () => decoder.decode(data, () => calls++),
        (error: unknown) =>
          error instanceof DecodeError &&
          error.plugin === 'test_decoding' &&
          typeof error.offset === 'number',
      );
      assert.equal(calls, 0);
    });
  }

  test('names itself', () => {
    assert.equal(createTestDecodingDecoder().plugin, 'test_decoding');
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ChangeOp, Decoder } from '../../../src/decode/change.js';
import { createWal2jsonDecoder } from '../../../src/decode/wal2json.js';
import { DecodeError } from '../../../src/errors.js';

type Row = [schema: string, table: string, op: ChangeOp];

function decode(decoder: Decoder, message: string | Uint8Array): Row[] {
  const rows: Row[] = [];
  const data = typeof message === 'string' ? new TextEncoder().encode(message) : message;
  decoder.decode(data, (schema, table, op) => rows.push([schema, table, op]));
  return rows;
}

const COLUMNS =
  '"columns":[{"name":"id","type":"integer","value":1},{"name":"note","type":"text","value":"a \\"b\\""}]';

describe('wal2json format-version 2', () => {
  test('insert, update, delete and truncate records name their table', () => {
    const decoder = createWal2jsonDecoder();
    assert.deepEqual(decode(decoder, `{"action":"I","schema":"public","table":"orders",${COLUMNS}}`), [
      ['public', 'orders', 'insert'],
    ]);
    assert.deepEqual(
      decode(
        decoder,
        `{"action":"U","schema":"public","table":"orders",${COLUMNS},"identity":[{"name":"id","type":"integer","value":1}]}`,
      ),
      [['public', 'orders', 'update']],
    );
    assert.deepEqual(
      decode(
        decoder,
        '{"action":"D","schema":"public","table":"orders","identity":[{"name":"id","type":"integer","value":1}]}',
      ),
      [['public', 'orders', 'delete']],
    );
    assert.deepEqual(decode(decoder, '{"action":"T","schema":"public","table":"orders"}'), [
      ['public', 'orders', 'truncate'],
    ]);
  });

  test('the odd identifier keeps every byte: spaces, dots, quotes, non-ASCII', () => {
    const rows = decode(
      createWal2jsonDecoder(),
      `{"action":"I","schema":"Odd Schema","table":"Tab.le ✓ \\"q\\"",${COLUMNS}}`,
    );
    assert.deepEqual(rows, [['Odd Schema', 'Tab.le ✓ "q"', 'insert']]);
  });

  test('keywords and mixed case arrive unquoted', () => {
    const decoder = createWal2jsonDecoder();
    assert.deepEqual(decode(decoder, '{"action":"I","schema":"public","table":"user","columns":[]}'), [
      ['public', 'user', 'insert'],
    ]);
    assert.deepEqual(decode(decoder, '{"action":"D","schema":"MySchema","table":"Order","identity":[]}'), [
      ['MySchema', 'Order', 'delete'],
    ]);
  });

  test('multi-table TRUNCATE is one T record per table', () => {
    const decoder = createWal2jsonDecoder();
    const rows = [
      ...decode(decoder, '{"action":"T","schema":"public","table":"a"}'),
      ...decode(decoder, '{"action":"T","schema":"public","table":"b"}'),
    ];
    assert.deepEqual(rows, [
      ['public', 'a', 'truncate'],
      ['public', 'b', 'truncate'],
    ]);
  });

  test('logical messages, BEGIN and COMMIT are skipped', () => {
    const decoder = createWal2jsonDecoder();
    for (const message of [
      '{"action":"M","transactional":true,"prefix":"x","content":"abc"}',
      '{"action":"M","xid":null,"transactional":false,"prefix":"wal2json","content":"{\\"schema\\":\\"s\\"}"}',
      '{"action":"B"}',
      '{"action":"B","xid":1234}',
      '{"action":"C","xid":1234,"timestamp":"2024-05-01 10:00:00.123456+00"}',
    ]) {
      assert.deepEqual(decode(decoder, message), [], message);
    }
  });

  test('xid, timestamp, origin and lsn before the schema are tolerated', () => {
    const rows = decode(
      createWal2jsonDecoder(),
      '{"action":"I","xid":5678,"timestamp":"2024-05-01 10:00:00.123456+00","origin":1,"lsn":"0/16B2F40","schema":"public","table":"orders","columns":[]}',
    );
    assert.deepEqual(rows, [['public', 'orders', 'insert']]);
  });

  test('insignificant whitespace between tokens is accepted', () => {
    const rows = decode(createWal2jsonDecoder(), '{ "action" : "I" ,\n\t"schema": "s" , "table" :"t" }\n');
    assert.deepEqual(rows, [['s', 't', 'insert']]);
  });

  test('every JSON escape decodes, including surrogate pairs', () => {
    const rows = decode(
      createWal2jsonDecoder(),
      '{"action":"I","schema":"a\\/b\\\\c\\"d\\b\\f\\n\\r\\t","table":"\\u00e9\\u00C9 \\ud83d\\ude00 \\u0001 é 😀"}',
    );
    assert.deepEqual(rows, [['a/b\\c"d\b\f\n\r\t', 'éÉ 😀 \u0001 é 😀', 'insert']]);
  });

  test('a leading byte-order mark in a name is kept', () => {
    const rows = decode(createWal2jsonDecoder(), '{"action":"I","schema":"\ufeffs","table":"t"}');
    assert.deepEqual(rows, [['\ufeffs', 't', 'insert']]);
  });

  test('the name cache never confuses different names', () => {
    const decoder = createWal2jsonDecoder();
    const names = ['a', 'ab', 'b', 'a\\"', 'a"', 'é', 'A', 'a', 'tab', 'ta', 'x\\u0041', 'xA'];
    for (let round = 0; round < 3; round++) {
      for (const name of names) {
        const json = name.includes('\\') ? name : name.replaceAll('"', '\\"');
        const [row] = decode(decoder, `{"action":"U","schema":"${json}","table":"${json}"}`);
        const expected = JSON.parse(`"${json}"`) as string;
        assert.deepEqual(row, [expected, expected, 'update']);
      }
    }
  });

  const malformed: [string, string | Uint8Array][] = [
    ['empty', ''],
    ['whitespace', '   '],
    ['not an object', '["action","I"]'],
    ['cut off', '{"action":"I","schema":"public","table":"orders","columns":[{"name":"id"'],
    ['empty object', '{}'],
    ['action not first', '{"schema":"public","action":"I","table":"t"}'],
    ['unknown action', '{"action":"X","schema":"public","table":"t"}'],
    ['long action', '{"action":"II","schema":"public","table":"t"}'],
    ['action not a string', '{"action":1,"schema":"public","table":"t"}'],
    ['no table', '{"action":"I","schema":"public","columns":[]}'],
    ['no schema', '{"action":"I","table":"t","columns":[]}'],
    ['schema not a string', '{"action":"I","schema":null,"table":"t"}'],
    ['missing colon', '{"action":"I","schema" "public","table":"t"}'],
    ['missing comma', '{"action":"I" "schema":"public","table":"t"}'],
    ['nested value before table', '{"action":"I","x":{"a":1},"schema":"public","table":"t"}'],
    ['bad literal', '{"action":"I","xid":nul,"schema":"public","table":"t"}'],
    ['duplicate action', '{"action":"I","action":"D","schema":"public","table":"t"}'],
    ['invalid escape', '{"action":"I","schema":"p\\x","table":"t"}'],
    ['short \\u', '{"action":"I","schema":"p\\u12","table":"t"}'],
    ['bad hex', '{"action":"I","schema":"p\\u12g4","table":"t"}'],
    ['lone high surrogate', '{"action":"I","schema":"p\\ud83d","table":"t"}'],
    ['lone low surrogate', '{"action":"I","schema":"p\\ude00","table":"t"}'],
    ['high surrogate then non-low', '{"action":"I","schema":"p\\ud83d\\u0041","table":"t"}'],
    ['raw control character', '{"action":"I","schema":"p\nq","table":"t"}'],
    ['unterminated string', '{"action":"I","schema":"public}'],
    [
      'invalid UTF-8',
      Uint8Array.from([
        ...new TextEncoder().encode('{"action":"I","schema":"'),
        0xff,
        ...new TextEncoder().encode('","table":"t"}'),
      ]),
    ],
  ];
  for (const [name, message] of malformed) {
    test(`malformed: ${name} → DecodeError, sink untouched`, () => {
      const decoder = createWal2jsonDecoder();
      let calls = 0;
      const data = typeof message === 'string' ? new TextEncoder().encode(message) : message;
      assert.throws(
        () => decoder.decode(data, () => calls++),
        (error: unknown) =>
          error instanceof DecodeError &&
          error.plugin === 'wal2json' &&
          error.code === 'PGNUDGE_ERR_DECODE' &&
          typeof error.offset === 'number',
      );
      assert.equal(calls, 0);
    });
  }

  test('an error thrown by the sink is not wrapped', () => {
    const boom = new Error('sink failed');
    assert.throws(
      () =>
        createWal2jsonDecoder().decode(
          new TextEncoder().encode('{"action":"I","schema":"s","table":"t"}'),
          () => {
            throw boom;
          },
        ),
      (error: unknown) => error === boom,
    );
  });

  test('names itself', () => {
    assert.equal(createWal2jsonDecoder().plugin, 'wal2json');
  });
});

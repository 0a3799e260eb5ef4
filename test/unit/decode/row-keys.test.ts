// Reading key values from the row images of test_decoding lines and wal2json records (contract R22, R23):
// golden lines as PostgreSQL 15 printed them, values returned as the output functions print them (so
// booleans are t/f, bit strings bare), absent images, unreadable ones (null, unchanged TOAST, wal2json's
// null for NaN), and a property that any text survives each plugin's quoting.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { ChangeOp, Decoder, KeyRead, RowImages } from '../../../src/decode/change.js';
import { createTestDecodingDecoder } from '../../../src/decode/test-decoding.js';
import { createWal2jsonDecoder } from '../../../src/decode/wal2json.js';
import { DecodeError } from '../../../src/errors.js';

const settings = { seed: 20261204, numRuns: Number(process.env.PGNUDGE_FUZZ_RUNS ?? 300) };

type Read = [KeyRead, string[]] | KeyRead;

/** Decodes `line` and reads `columns` from its new and old images: [new, old]. */
function keys(decoder: Decoder, line: string, columns: string[]): { op: ChangeOp; new: Read; old: Read } {
  let result: { op: ChangeOp; new: Read; old: Read } | undefined;
  decoder.decode(new TextEncoder().encode(line), (_schema, _table, op, rows?: RowImages) => {
    const read = (image: 'new' | 'old'): Read => {
      const out: string[] = [];
      const outcome = rows!.readKey(image, columns, out);
      return outcome === 'read' ? [outcome, out] : outcome;
    };
    // Old first, then new: each image is found on its own whatever was read before.
    const old = read('old');
    result = { op, new: read('new'), old };
  });
  assert.ok(result, 'the line is a change');
  return result;
}

const K1 = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
const K1_VALUES = [
  'a,b "c" \\ d \'e\'  ü',
  '1',
  't',
  'NaN',
  'NaN',
  '101',
  '00000000-0000-0000-0000-000000000001',
  '2024-01-01',
];

describe('test_decoding row images', () => {
  const td = () => createTestDecodingDecoder();
  const K1_ROW =
    "a[text]:'a,b \"c\" \\ d ''e''  ü' b[integer]:1 c[boolean]:true d[double precision]:NaN e[numeric]:NaN f[bit]:B'101' g[uuid]:'00000000-0000-0000-0000-000000000001' h[date]:'2024-01-01'";

  test('INSERT: the new row, every printed form back to the output function text', () => {
    assert.deepEqual(keys(td(), `table public.k1: INSERT: ${K1_ROW} note[text]:'n'`, K1), {
      op: 'insert',
      new: ['read', K1_VALUES],
      old: 'absent',
    });
  });

  test('key columns in any order, as the key lists them', () => {
    assert.deepEqual(keys(td(), `table public.k1: INSERT: ${K1_ROW}`, ['h', 'b', 'a']).new, [
      'read',
      ['2024-01-01', '1', K1_VALUES[0]],
    ]);
  });

  test('UPDATE that keeps its key carries no old key; one that changes it carries both', () => {
    assert.deepEqual(
      keys(td(), "table public.k2: UPDATE: id[integer]:1 u[text]:'x y' note[text]:'m'", ['u', 'id']),
      {
        op: 'update',
        new: ['read', ['x y', '1']],
        old: 'absent',
      },
    );
    assert.deepEqual(
      keys(
        td(),
        "table public.k2: UPDATE: old-key: id[integer]:1 u[text]:'x y' new-tuple: id[integer]:1 u[text]:'z' note[text]:'m'",
        ['u', 'id'],
      ),
      { op: 'update', new: ['read', ['z', '1']], old: ['read', ['x y', '1']] },
    );
  });

  test('REPLICA IDENTITY FULL: the old key is read from the whole old row', () => {
    assert.deepEqual(
      keys(
        td(),
        "table public.k3: UPDATE: old-key: id[integer]:1 note[text]:'n' new-tuple: id[integer]:1 note[text]:'m'",
        ['id'],
      ),
      { op: 'update', new: ['read', ['1']], old: ['read', ['1']] },
    );
    assert.deepEqual(keys(td(), "table public.k3: DELETE: id[integer]:1 note[text]:'m'", ['id']), {
      op: 'delete',
      new: 'absent',
      old: ['read', ['1']],
    });
  });

  test('DELETE without data, and a TRUNCATE, carry nothing', () => {
    assert.deepEqual(keys(td(), 'table public.t: DELETE: (no-tuple-data)', ['id']), {
      op: 'delete',
      new: 'absent',
      old: 'absent',
    });
    assert.deepEqual(keys(td(), 'table public.t: TRUNCATE: (no-flags)', ['id']), {
      op: 'truncate',
      new: 'absent',
      old: 'absent',
    });
  });

  test('quoted column names, types with brackets and quotes, arrays and a value holding " new-tuple: "', () => {
    const line =
      'table public.q: UPDATE: old-key: "Key ""Col"""[text]:\'a new-tuple: b\' "ü"["we]:ird"]:\'x\' new-tuple: "Key ""Col"""[text]:\'c\' "ü"["we]:ird"]:\'y\' tags[integer[]]:\'{1,2}\'';
    assert.deepEqual(keys(td(), line, ['Key "Col"', 'ü']), {
      op: 'update',
      new: ['read', ['c', 'y']],
      old: ['read', ['a new-tuple: b', 'x']],
    });
    assert.deepEqual(keys(td(), line, ['tags']).new, ['read', ['{1,2}']]);
  });

  test('values of every length up to past 8 bytes read back exactly, ASCII or not', () => {
    for (let length = 1; length <= 12; length++) {
      const number = '1234567890-12'.slice(0, length);
      assert.deepEqual(keys(td(), `table public.t: INSERT: id[bigint]:${number}`, ['id']).new, [
        'read',
        [number],
      ]);
    }
    for (const text of ['', 'é', 'ab©', '東京', 'Zürich 東京', '12345678', '1234567é']) {
      assert.deepEqual(keys(td(), `table public.t: INSERT: id[text]:'${text}'`, ['id']).new, [
        'read',
        [text],
      ]);
    }
    // A short value that is not valid UTF-8 (a lone 0xff) is still refused.
    const line = new TextEncoder().encode("table public.t: INSERT: id[text]:'a_'");
    line[line.length - 2] = 0xff;
    assert.throws(
      () => td().decode(line, (_schema, _table, _op, rows) => rows!.readKey('new', ['id'], [])),
      DecodeError,
    );
  });

  test('a key column that is null, unchanged TOAST or missing is unreadable', () => {
    assert.equal(keys(td(), 'table public.t: INSERT: id[integer]:null', ['id']).new, 'unreadable');
    assert.equal(
      keys(td(), 'table public.t: UPDATE: id[text]:unchanged-toast-datum v[integer]:2', ['id']).new,
      'unreadable',
    );
    assert.equal(keys(td(), 'table public.t: INSERT: v[integer]:2', ['id']).new, 'unreadable');
    assert.equal(keys(td(), 'table public.t: INSERT:', ['id']).new, 'unreadable');
  });

  test('a row that breaks the grammar is a DecodeError', () => {
    for (const row of ['id:1', 'id[integer:1', "id[integer]:'open", 'old-key: id[integer]:1']) {
      assert.throws(
        () =>
          keys(td(), `table public.t: UPDATE: ${row.startsWith('old') ? row : `old-key: ${row}`}`, ['id']),
        DecodeError,
        row,
      );
    }
  });
});

describe('wal2json row images', () => {
  const wj = () => createWal2jsonDecoder();
  const K1_COLUMNS =
    '[{"name":"a","value":"a,b \\"c\\" \\\\ d \'e\'  ü"},{"name":"b","value":1},{"name":"c","value":true},{"name":"d","value":1.5e+300},{"name":"e","value":1.50},{"name":"f","value":"101"},{"name":"g","value":"00000000-0000-0000-0000-000000000001"},{"name":"h","value":"2024-01-01"}]';
  const K1_READ = [
    'a,b "c" \\ d \'e\'  ü',
    '1',
    't',
    '1.5e+300',
    '1.50',
    '101',
    '00000000-0000-0000-0000-000000000001',
    '2024-01-01',
  ];

  test('INSERT reads "columns"; DELETE reads "identity"', () => {
    assert.deepEqual(
      keys(
        wj(),
        `{"action":"I","schema":"public","table":"k1","columns":${K1_COLUMNS},"pk":[{"name":"a"}]}`,
        K1,
      ),
      { op: 'insert', new: ['read', K1_READ], old: 'absent' },
    );
    assert.deepEqual(
      keys(wj(), `{"action":"D","schema":"public","table":"k1","identity":${K1_COLUMNS}}`, K1),
      { op: 'delete', new: 'absent', old: ['read', K1_READ] },
    );
  });

  test('UPDATE reads both; the second record of a table takes the cached path', () => {
    const decoder = wj();
    const update = (identity: number) =>
      `{"action":"U","schema":"public","table":"k2","columns":[{"name":"id","value":1},{"name":"u","value":"z"},{"name":"note","value":"m"}],"identity":[{"name":"id","value":${identity}},{"name":"u","value":"x y"}]}`;
    for (const identity of [1, 7]) {
      assert.deepEqual(keys(decoder, update(identity), ['u', 'id']), {
        op: 'update',
        new: ['read', ['z', '1']],
        old: ['read', ['x y', String(identity)]],
      });
    }
  });

  test('escaped names, other keys around, whitespace, and jsonb held as a string', () => {
    const record =
      '{ "action" : "I", "xid": 7, "schema" : "s" , "table" : "t" , "columns" : [ { "name" : "a\\"b", "type": "jsonb", "value" : "{\\"k\\": [1]}" } , {"name":"ü","value":-5} ] }';
    assert.deepEqual(keys(wj(), record, ['a"b', 'ü']).new, ['read', ['{"k": [1]}', '-5']]);
  });

  test('null (how wal2json writes NaN and the infinities) or a missing column is unreadable; TRUNCATE carries nothing', () => {
    const record = (value: string) =>
      `{"action":"I","schema":"s","table":"t","columns":[{"name":"d","value":${value}}]}`;
    assert.equal(keys(wj(), record('null'), ['d']).new, 'unreadable');
    assert.equal(keys(wj(), record('1'), ['x']).new, 'unreadable');
    assert.equal(keys(wj(), '{"action":"I","schema":"s","table":"t","columns":[]}', ['x']).new, 'unreadable');
    assert.deepEqual(keys(wj(), '{"action":"T","schema":"s","table":"t"}', ['x']), {
      op: 'truncate',
      new: 'absent',
      old: 'absent',
    });
  });

  test('a malformed array is a DecodeError', () => {
    for (const columns of ['{"name":"x"}', '[{"name":"x","value":1}', '[{"value":1}]', '[1]']) {
      assert.throws(
        () => keys(wj(), `{"action":"I","schema":"s","table":"t","columns":${columns}}`, ['x']),
        DecodeError,
        columns,
      );
    }
  });
});

describe('any key text survives each plugin’s printing', () => {
  const texts = fc.array(fc.string({ unit: 'binary', minLength: 0, maxLength: 20 }), {
    minLength: 1,
    maxLength: 4,
  });
  /** print_literal for a text value: quoted, `'` doubled. */
  const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;
  const noNul = (values: string[]) => values.every((value) => !value.includes('\0'));

  test('test_decoding', () => {
    fc.assert(
      fc.property(texts.filter(noNul), (values) => {
        const row = values.map((value, i) => ` "k ${i}"[text]:${literal(value)}`).join('');
        const columns = values.map((_, i) => `k ${i}`);
        const result = keys(createTestDecodingDecoder(), `table public.t: INSERT:${row}`, columns);
        assert.deepEqual(result.new, ['read', values]);
      }),
      settings,
    );
  });

  test('wal2json', () => {
    fc.assert(
      fc.property(texts.filter(noNul), (values) => {
        const columns = values.map((_, i) => `k"${i}`);
        const record = JSON.stringify({
          action: 'D',
          schema: 'public',
          table: 't',
          identity: values.map((value, i) => ({ name: columns[i], value })),
        });
        assert.deepEqual(keys(createWal2jsonDecoder(), record, columns).old, ['read', values]);
      }),
      settings,
    );
  });
});

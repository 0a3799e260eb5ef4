import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ConfigError } from '../../../src/errors.js';
import {
  formatPayload,
  formatWal2jsonAddTables,
  parseTableName,
  TableFilter,
  type TableName,
} from '../../../src/feed/tables.js';

const settings = { seed: 20240502, numRuns: Number(process.env.PGNUDGE_FUZZ_RUNS ?? 300) };

describe('parseTableName', () => {
  const valid: [string, TableName][] = [
    ['public.orders', { schema: 'public', table: 'orders' }],
    ['Public.Orders', { schema: 'public', table: 'orders' }],
    ['public."Order"', { schema: 'public', table: 'Order' }],
    ['"My Schema"."a.b"', { schema: 'My Schema', table: 'a.b' }],
    ['"x""y".t', { schema: 'x"y', table: 't' }],
    ['"Odd Schema"."Tab.le ✓ ""q"""', { schema: 'Odd Schema', table: 'Tab.le ✓ "q"' }],
    ['_s.t$1', { schema: '_s', table: 't$1' }],
    // Only ASCII letters fold, as in PostgreSQL's downcase_identifier.
    ['ÉCOLE.café', { schema: 'École', table: 'café' }],
    ['public."user"', { schema: 'public', table: 'user' }],
    ['public.user', { schema: 'public', table: 'user' }],
    ['"a,b"."*"', { schema: 'a,b', table: '*' }],
  ];
  for (const [text, expected] of valid) {
    test(`accepts ${text}`, () => {
      assert.deepEqual(parseTableName(text), expected);
    });
  }

  const invalid: [string, RegExp][] = [
    ['orders', /needs a schema/],
    ['', /schema name is empty/],
    ['.orders', /schema name is empty/],
    ['public.', /table name is empty/],
    ['public..orders', /table name is empty/],
    ['a.b.c', /more than two parts/],
    ['"public.orders', /missing its closing "/],
    ['public."orders', /missing its closing "/],
    ['public.orders"', /unexpected "\\"" after the table name/],
    ['pub"lic".orders', /unexpected "\\"" after the schema name/],
    ['"".orders', /quoted name is empty/],
    ['public.orders x', /unexpected " " after the table name/],
    [' public.orders', /cannot start or appear/],
    ['public.1orders', /cannot start or appear/],
    ['public.or-ders', /unexpected "-" after the table name/],
    ['public."a\0b"', /NUL/],
    ['public.a\0', /unexpected "\\u0000"/],
    ['public.a\u00a0', /unexpected/],
    [`public."${'x'.repeat(64)}"`, /63-byte limit/],
    [`public.${'é'.repeat(32)}`, /63-byte limit/],
    ['public."\ud800"', /lone surrogate/],
  ];
  for (const [text, message] of invalid) {
    test(`rejects ${JSON.stringify(text)}`, () => {
      assert.throws(
        () => parseTableName(text),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.option === 'tables' &&
          error.message.includes(JSON.stringify(text)) &&
          message.test(error.message),
      );
    });
  }

  test('63 bytes is the limit, not 63 characters', () => {
    assert.equal(parseTableName(`public."${'x'.repeat(63)}"`).table.length, 63);
  });
});

describe('formatPayload', () => {
  test('is schema.table, unquoted', () => {
    assert.equal(formatPayload({ schema: 'Odd Schema', table: 'Tab.le ✓ "q"' }), 'Odd Schema.Tab.le ✓ "q"');
  });
});

describe('TableFilter', () => {
  test('matches by identity, not by payload text', () => {
    const filter = new TableFilter([parseTableName('"a.b"."c"'), parseTableName('public.orders')]);
    assert.equal(filter.matches('a.b', 'c'), true);
    assert.equal(filter.matches('a', 'b.c'), false);
    assert.equal(filter.matches('public', 'orders'), true);
    assert.equal(filter.matches('public', 'Orders'), false);
    assert.equal(filter.matches('other', 'orders'), false);
  });

  test('an empty filter matches nothing', () => {
    assert.equal(new TableFilter([]).matches('public', 'orders'), false);
  });
});

/** wal2json's string_to_SelectTable + parse_table_identifier, as a model of the server. */
function wal2jsonParseAddTables(raw: string): { schema: string; table: string; wildcard: boolean }[] | null {
  const isSpace = (c: string | undefined) => c !== undefined && ' \t\n\v\f\r'.includes(c);
  const items: string[] = [];
  let p = 0;
  while (isSpace(raw[p])) p++;
  if (p >= raw.length) return [];
  for (let done = false; !done; ) {
    const start = p;
    while (p < raw.length && raw[p] !== ',' && !isSpace(raw[p])) {
      if (raw[p] === '\\') p++;
      p++;
    }
    const end = p;
    if (start === end) return null;
    while (isSpace(raw[p])) p++;
    if (raw[p] === ',') {
      p++;
      while (isSpace(raw[p])) p++;
    } else if (p >= raw.length) done = true;
    else return null;
    items.push(raw.slice(start, end));
  }
  return items.map((item) => {
    const allSchemas = item[0] === '*' && item[1] === '.';
    let i = 0;
    let schema = '';
    while (i < item.length && item[i] !== '.') {
      if (item[i] === '\\') i++;
      schema += item[i] ?? '';
      i++;
    }
    if (i >= item.length) throw new Error(`no separator in ${item}`);
    i++;
    const allTables = item[i] === '*' && i + 1 === item.length;
    let table = '';
    while (i < item.length) {
      if (item[i] === '\\') i++;
      table += item[i] ?? '';
      i++;
    }
    return { schema, table, wildcard: allSchemas || allTables };
  });
}

describe('formatWal2jsonAddTables', () => {
  test('golden escapes', () => {
    assert.equal(formatWal2jsonAddTables([{ schema: 'public', table: 'orders' }]), 'public.orders');
    assert.equal(
      formatWal2jsonAddTables([
        { schema: 'My Schema', table: 'a.b' },
        { schema: '*', table: '*' },
        { schema: 'x,y', table: 'back\\slash\ttab' },
        { schema: "it's", table: 'Tab.le ✓ "q"' },
      ]),
      'My\\ Schema.a\\.b,\\*.\\*,x\\,y.back\\\\slash\\\ttab,it\'s.Tab\\.le\\ ✓\\ "q"',
    );
  });

  test('wal2json parses back exactly the tables given, never a wildcard', () => {
    const name = fc
      .string({
        unit: fc.oneof(
          fc.constantFrom(
            '.',
            ',',
            '*',
            '\\',
            ' ',
            '\t',
            '\n',
            '\v',
            '\f',
            '\r',
            "'",
            '"',
            'a',
            'Z',
            'é',
            '😀',
          ),
          fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
        ),
        minLength: 1,
        maxLength: 8,
      })
      .filter((s) => !s.includes('\0'));
    fc.assert(
      fc.property(
        fc.array(fc.record({ schema: name, table: name }), { minLength: 1, maxLength: 4 }),
        (tables) => {
          const parsed = wal2jsonParseAddTables(formatWal2jsonAddTables(tables));
          assert.deepEqual(
            parsed,
            tables.map((t) => ({ ...t, wildcard: false })),
          );
        },
      ),
      settings,
    );
  });

  test('quoted entries parse back to the names they quote', () => {
    const name = fc
      .string({
        unit: fc.oneof(
          fc.constantFrom('"', '.', ' ', 'A'),
          fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
        ),
        minLength: 1,
        maxLength: 12,
      })
      .filter((s) => !s.includes('\0'));
    const quote = (s: string) => `"${s.replaceAll('"', '""')}"`;
    fc.assert(
      fc.property(name, name, (schema, table) => {
        assert.deepEqual(parseTableName(`${quote(schema)}.${quote(table)}`), { schema, table });
      }),
      settings,
    );
  });
});

// The catalog lookup's SQL and the parse of its answer (contract R18, R20): every name a quoted literal,
// every object schema-qualified; anything a server would not send is a ProtocolError.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProtocolError } from '../../../src/errors.js';
import {
  formatDescribeRelations,
  formatDescribeScope,
  parseDescribeRelations,
  sameFacts,
} from '../../../src/feed/catalog-query.js';
import type { QueryResult } from '../../../src/protocol/query-response.js';

const result = (rows: (string | null)[][]): QueryResult[] => [
  { tag: `SELECT ${rows.length}`, fields: ['i', 'kind', 'n', 'nspname', 'relname', 'relkind'], rows },
];

describe('formatDescribeRelations', () => {
  test('names become quoted literals, whatever they hold', () => {
    const sql = formatDescribeRelations([
      { schema: 'public', table: 'ev' },
      { schema: "it's", table: 'back\\slash "q" ✓' },
    ]);
    assert.match(sql, /VALUES \(0, 'public', 'ev'\), \(1, 'it''s', E'back\\\\slash "q" ✓'\)\)/);
  });

  test('every catalog object and function is schema-qualified, so search_path cannot redirect it', () => {
    for (const keys of [false, true]) {
      const sql = formatDescribeRelations([{ schema: 's', table: 't' }], keys);
      assert.match(sql, /pg_catalog\.pg_partition_ancestors\(/);
      assert.deepEqual(sql.match(/(?<!pg_catalog\.)\bpg_(?!catalog\b)\w+/g), null);
      assert.deepEqual(sql.match(/(?<!pg_catalog\.)\b(unnest|int2)\b/g), null);
    }
  });

  test('key columns are asked for only with keys (contract R23)', () => {
    assert.doesNotMatch(formatDescribeRelations([{ schema: 's', table: 't' }]), /pg_index/);
    assert.match(formatDescribeRelations([{ schema: 's', table: 't' }], true), /pg_catalog\.pg_index/);
  });

  test('a name holding NUL (no PostgreSQL name can) is a ProtocolError, not a statement', () => {
    assert.throws(() => formatDescribeRelations([{ schema: 's', table: 'a\0b' }]), ProtocolError);
  });

  test('at least one relation', () => {
    assert.throws(() => formatDescribeRelations([]), RangeError);
  });
});

describe('formatDescribeScope', () => {
  test('every catalog object and function is schema-qualified, with or without tables and keys', () => {
    for (const tables of [null, [{ schema: 's', table: 't' }]]) {
      for (const keys of [false, true]) {
        const sql = formatDescribeScope(tables, keys, 10);
        assert.deepEqual(sql.match(/(?<!pg_catalog\.)\bpg_(?!catalog\b)\w+/g), null);
        assert.deepEqual(sql.match(/(?<!pg_catalog\.)\b(unnest|int2|row_number)\b/g), null);
        assert.equal(/pg_catalog\.pg_index\b/.test(sql), keys, 'key columns only with keys');
      }
    }
  });

  test('entries become quoted literals and reach their partitions; no entries means every table', () => {
    const sql = formatDescribeScope([{ schema: "it's", table: 'ev' }], false, 10);
    assert.match(sql, /FROM \(VALUES \('it''s', 'ev'\)\) AS e\(s, t\)/);
    assert.match(sql, /pg_catalog\.pg_partition_tree\(ec\.oid\)/);
    assert.doesNotMatch(formatDescribeScope(null, true, 10), /VALUES/);
  });

  test('bounded by the limit; a NUL in a name, an empty list or a bad limit is refused', () => {
    assert.match(formatDescribeScope(null, true, 7), /\bLIMIT 7\n/);
    assert.throws(() => formatDescribeScope([{ schema: 's', table: 'a\0b' }], false, 1), ProtocolError);
    assert.throws(() => formatDescribeScope([], false, 1), RangeError);
    for (const bad of [0, 1.5, Number.NaN])
      assert.throws(() => formatDescribeScope(null, true, bad), RangeError);
  });
});

describe('parseDescribeRelations', () => {
  test('lineages by index, nearest first; key columns in key order; a relation without rows is absent', () => {
    const facts = parseDescribeRelations(
      result([
        ['0', 'k', '1', null, 'id', null],
        ['0', 'k', '2', null, 'region', null],
        ['0', 'l', '1', 'public', 'ev_eu_low', 'r'],
        ['0', 'l', '2', 'public', 'ev_eu', 'p'],
        ['0', 'l', '3', 'public', 'ev', 'p'],
        ['2', 'l', '1', 'public', 'ev', 'p'],
      ]),
      3,
    );
    assert.deepEqual(facts, [
      {
        lineage: [
          { schema: 'public', table: 'ev_eu_low' },
          { schema: 'public', table: 'ev_eu' },
          { schema: 'public', table: 'ev' },
        ],
        partitioned: false,
        key: ['id', 'region'],
      },
      null,
      { lineage: [{ schema: 'public', table: 'ev' }], partitioned: true, key: null },
    ]);
  });

  test('malformed answers are ProtocolErrors', () => {
    const cases: [QueryResult[], RegExp][] = [
      [[], /one result of six columns/],
      [[{ tag: 'SELECT 0', fields: ['i'], rows: [] }], /one result of six columns/],
      [result([['3', 'l', '1', 's', 't', 'r']]), /relation index "3"/],
      [result([['-1', 'l', '1', 's', 't', 'r']]), /relation index/],
      [result([['x', 'l', '1', 's', 't', 'r']]), /relation index/],
      [result([['0', 'l', '2', 's', 't', 'r']]), /depth "2"/],
      [result([['0', 'l', '1', null, 't', 'r']]), /null or empty name/],
      [result([['0', 'l', '1', 's', '', 'r']]), /null or empty name/],
      [result([['0', 'k', '2', null, 'id', null]]), /key column "2"/],
      [result([['0', 'k', '1', null, null, null]]), /null or empty key column/],
      [result([['0', 'x', '1', 's', 't', 'r']]), /row kind "x"/],
    ];
    for (const [results, message] of cases) {
      assert.throws(
        () => parseDescribeRelations(results, 1),
        (error: unknown) => error instanceof ProtocolError && message.test(error.message),
      );
    }
  });
});

describe('sameFacts', () => {
  const a = { lineage: [{ schema: 's', table: 't' }], partitioned: false, key: ['id'] };
  test('equal lineages, kinds and keys are the same; any difference is not', () => {
    assert.equal(
      sameFacts(a, { lineage: [{ schema: 's', table: 't' }], partitioned: false, key: ['id'] }),
      true,
    );
    assert.equal(sameFacts(a, { ...a, partitioned: true }), false);
    assert.equal(sameFacts(a, { ...a, lineage: [...a.lineage, { schema: 's', table: 'root' }] }), false);
    assert.equal(sameFacts(a, { ...a, lineage: [{ schema: 's', table: 'u' }] }), false);
    assert.equal(sameFacts(a, { ...a, lineage: [{ schema: 'r', table: 't' }] }), false);
    assert.equal(sameFacts(a, { ...a, key: null }), false);
    assert.equal(sameFacts(a, { ...a, key: ['id', 'x'] }), false);
    assert.equal(sameFacts(a, { ...a, key: ['x'] }), false);
    assert.equal(sameFacts({ ...a, key: null }, { ...a, key: null }), true);
  });
});

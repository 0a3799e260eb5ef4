// Row keys through the pgoutput lineage resolver (contract R22, R23): before its look-up answers, a
// relation is keyed by the columns its Relation message flags (none under FULL) and its rows park by key;
// the answer's key columns put the key in key order, give FULL its primary key, and a key the flags do
// not agree with (or that is not published) makes rows table-level; parked keys past maxKeys collapse.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { PgoutputColumn, PgoutputRelation } from '../../../src/decode/pgoutput-relation.js';
import { LineageResolver, lineageSql, parseKeyColumns } from '../../../src/feed/relation-lineage.js';
import { formatKey } from '../../../src/feed/row-key.js';

const column = (name: string, key = false): PgoutputColumn => ({ name, key, typeOid: 25, typeModifier: -1 });

function relation(
  oid: number,
  identity: PgoutputRelation['replicaIdentity'],
  columns: PgoutputColumn[],
): PgoutputRelation {
  return { oid, schema: 'public', table: `t${oid}`, replicaIdentity: identity, columns };
}

/** A resolver with keys on whose one look-up the test answers with `keys` (by OID). */
function harness(maxKeys = 100) {
  const out: [string, string | null, number][] = [];
  let answer: (keys: [number, string[] | null][]) => Promise<void> = async () => {};
  const resolver = new LineageResolver({
    lookup: (oids) =>
      new Promise((resolve) => {
        answer = async (keys) => {
          resolve({
            lineages: new Map(oids.map((oid) => [oid, [{ schema: 'public', table: `t${oid}` }]])),
            keys: new Map(keys),
            running: new Set(),
          });
          await new Promise((r) => setImmediate(r));
        };
      }),
    emit: (payload, count) => out.push([payload, null, count]),
    emitRow: (payload, key, count) => out.push([payload, formatKey(key), count]),
    resync: (why) => assert.fail(why),
    fail: (error) => assert.fail(String(error)),
    filter: null,
    naming: 'root',
    now: () => 0,
    committedXid: () => 0,
    later: () => assert.fail('no look-up here comes before its transaction is visible'),
    maxParked: 10,
    maxKeys,
  });
  return { resolver, out, answer: (keys: [number, string[] | null][]) => answer(keys) };
}

/** Reads a row the way the decoder does: the values of `resolver.keyColumns` from `row`. */
function change(h: ReturnType<typeof harness>, rel: PgoutputRelation, row: string[]): void {
  const columns = h.resolver.keyColumns(rel);
  h.resolver.changeRow(rel, columns === null ? null : columns.map((i) => row[i]!), 1);
}

test('the flagged columns key a relation before its answer; the answer puts them in key order', async () => {
  const h = harness();
  // Key (code, region), flagged in table order (region, code).
  const rel = relation(1, 'd', [column('note'), column('region', true), column('code', true)]);
  assert.deepEqual(h.resolver.keyColumns(rel), [1, 2]);
  change(h, rel, ['n', 'eu', 'c1']);
  change(h, rel, ['n', 'eu', 'c1']);
  await h.answer([[1, ['code', 'region']]]);
  change(h, rel, ['n', 'us', 'c2']);
  assert.deepEqual(h.out, [
    ['public.t1', 'c1,eu', 2],
    ['public.t1', 'c2,us', 1],
  ]);
});

test('FULL is table-level until the answer names its primary key, then keyed by it alone', async () => {
  const h = harness();
  const rel = relation(2, 'f', [column('id', true), column('note', true)]);
  assert.equal(h.resolver.keyColumns(rel), null, 'pgoutput flags every column under FULL');
  change(h, rel, ['1', 'a']);
  await h.answer([[2, ['id']]]);
  assert.deepEqual(h.resolver.keyColumns(rel), [0]);
  change(h, rel, ['1', 'b']);
  assert.deepEqual(h.out, [
    ['public.t2', null, 1],
    ['public.t2', '1', 1],
  ]);
});

test('an answer that disagrees with the flags, names an unpublished column, or no key makes rows table-level', async () => {
  for (const [identity, key] of [
    ['d', ['id', 'other']],
    ['d', ['missing']],
    ['i', null],
    ['f', ['missing']],
  ] as const) {
    const h = harness();
    const rel = relation(3, identity, [column('id', true), column('note')]);
    change(h, rel, ['1', 'a']);
    await h.answer([[3, key === null ? null : [...key]]]);
    change(h, rel, ['2', 'b']);
    assert.equal(h.resolver.keyColumns(rel), null, `${identity} ${JSON.stringify(key)}`);
    const total = h.out.reduce((n, [, k, count]) => n + (k === null ? count : Number.NaN), 0);
    assert.equal(total, 2, `${identity} ${JSON.stringify(key)}: ${JSON.stringify(h.out)}`);
  }
});

test('parked rows past maxKeys collapse into one table-level count with their sum', async () => {
  const h = harness(3);
  const rel = relation(4, 'd', [column('id', true)]);
  for (let i = 0; i < 5; i++) change(h, rel, [String(i)]);
  await h.answer([[4, ['id']]]);
  assert.deepEqual(h.out, [['public.t4', null, 5]]);
});

test('the key column look-up: the replica identity rule, key order, and its parse', () => {
  const text = lineageSql([16384], true);
  assert.match(text, /indisreplident/);
  assert.match(text, /json_agg\(att\.attname ORDER BY k\.n\)/);
  assert.doesNotMatch(lineageSql([16384]), /indisreplident/);
  const keys = parseKeyColumns({
    tag: 'SELECT 2',
    fields: [],
    rows: [
      ['16384', '[]', '["b", "a"]'],
      ['16390', '[]', null],
    ],
  });
  assert.deepEqual(keys.get(16384), ['b', 'a']);
  assert.equal(keys.get(16390), null);
});

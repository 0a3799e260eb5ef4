// What RawFeed makes of catalog rows: the payload a relation nudges (system schemas, unlogged tables,
// partitions under their root or leaf, the `tables` filter by identity), snapshot visibility with 64-bit
// xids and wraparound, the lookup query's text (numbers only) and the reading of its answer.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ProtocolError } from '../../../src/errors.js';
import {
  formatLookup,
  isSystemSchema,
  nameCatalogOf,
  parseLookup,
  parseSnapshot,
  payloadOf,
  RelationCache,
  type RelationRow,
  snapshotShows,
} from '../../../src/feed/relation-names.js';
import { parseTableName, TableFilter } from '../../../src/feed/tables.js';

const table = (schema: string, name: string, extra: Partial<RelationRow> = {}): RelationRow => ({
  oid: 16400,
  schema,
  name,
  kind: 'r',
  persistence: 'p',
  chain: null,
  ...extra,
});
const filter = (...names: string[]) => new TableFilter(names.map(parseTableName));

describe('payloadOf', () => {
  test('permanent tables and materialized views nudge as schema.table, unquoted (contract R13)', () => {
    assert.equal(payloadOf(table('public', 'orders'), null, 'root'), 'public.orders');
    assert.equal(payloadOf(table('Odd Schema', 'Tab.le "q"'), null, 'root'), 'Odd Schema.Tab.le "q"');
    assert.equal(payloadOf(table('public', 'mv', { kind: 'm' }), null, 'root'), 'public.mv');
  });

  test('system schemas, unlogged and temporary relations, indexes, TOAST and sequences never do', () => {
    for (const schema of ['pg_catalog', 'information_schema', 'pg_toast', 'pg_temp_3', 'pg_toast_temp_3']) {
      assert.equal(isSystemSchema(schema), true, schema);
      assert.equal(payloadOf(table(schema, 'x'), null, 'root'), null, schema);
    }
    assert.equal(isSystemSchema('pg_tempest'), false);
    assert.equal(payloadOf(table('public', 'u', { persistence: 'u' }), null, 'root'), null);
    assert.equal(payloadOf(table('public', 't', { persistence: 't' }), null, 'root'), null);
    for (const kind of ['i', 't', 'S', 'p', 'I', 'v', 'f']) {
      assert.equal(payloadOf(table('public', 'x', { kind }), null, 'root'), null, kind);
    }
  });

  test('a partition nudges under its root, or its own name with leaf, and matches a filter at any level (contract R20)', () => {
    const leaf = table('public', 'events_eu_1', {
      chain: [
        ['public', 'events_eu_1'],
        ['public', 'events_eu'],
        ['archive', 'events'],
      ],
    });
    assert.equal(payloadOf(leaf, null, 'root'), 'archive.events');
    assert.equal(payloadOf(leaf, null, 'leaf'), 'public.events_eu_1');
    for (const named of ['public.events_eu_1', 'public.events_eu', 'archive.events']) {
      assert.equal(payloadOf(leaf, filter(named), 'root'), 'archive.events', named);
    }
    assert.equal(payloadOf(leaf, filter('public.events'), 'root'), null);
  });

  test('the filter matches by identity, never by payload text (contract R14)', () => {
    assert.equal(payloadOf(table('a.b', 'c'), filter('"a.b".c'), 'root'), 'a.b.c');
    assert.equal(payloadOf(table('a', 'b.c'), filter('"a.b".c'), 'root'), null);
  });

  test('the catalogs whose changes rename tables', () => {
    assert.equal(nameCatalogOf(table('pg_catalog', 'pg_class')), 'renames');
    assert.equal(nameCatalogOf(table('pg_catalog', 'pg_namespace')), 'renames');
    assert.equal(nameCatalogOf(table('pg_catalog', 'pg_inherits')), 'parents');
    assert.equal(nameCatalogOf(table('pg_catalog', 'pg_attribute')), undefined);
    assert.equal(nameCatalogOf(table('public', 'pg_class')), undefined);
  });
});

describe('snapshots', () => {
  test('pg_snapshot text with 64-bit xids reads as 32-bit ones', () => {
    assert.deepEqual(parseSnapshot('741:741:'), { xmin: 741, xmax: 741, xip: [] });
    const epoch = 5n << 32n;
    assert.deepEqual(parseSnapshot(`${epoch + 10n}:${epoch + 20n}:${epoch + 12n},${epoch + 15n}`), {
      xmin: 10,
      xmax: 20,
      xip: [12, 15],
    });
    for (const bad of ['', '1:2', '1:2:3,', 'a:b:', '1:2:3 ']) assert.equal(parseSnapshot(bad), null, bad);
  });

  test('a committed xid is visible below xmax and outside xip, across wraparound', () => {
    const snapshot = { xmin: 100, xmax: 110, xip: [105] };
    assert.equal(snapshotShows(snapshot, 104), true);
    assert.equal(snapshotShows(snapshot, 105), false, 'in progress');
    assert.equal(snapshotShows(snapshot, 110), false, 'at xmax: not yet visible');
    assert.equal(snapshotShows(snapshot, 200), false);
    const wrapped = { xmin: 0xffff_fff0, xmax: 5, xip: [] };
    assert.equal(snapshotShows(wrapped, 0xffff_fff8), true);
    assert.equal(snapshotShows(wrapped, 4), true);
    assert.equal(snapshotShows(wrapped, 6), false);
  });
});

describe('the lookup query', () => {
  test('holds nothing but the numbers it asks about (contract R18)', () => {
    const sql = formatLookup([
      { by: 'file', spcOid: 1663, relNumber: 16385 },
      { by: 'oid', oid: 16390 },
    ]);
    assert.match(sql, /\(0, 1663::pg_catalog\.oid, 16385::pg_catalog\.oid, 0::pg_catalog\.oid\)/);
    assert.match(sql, /\(1, 0::pg_catalog\.oid, 0::pg_catalog\.oid, 16390::pg_catalog\.oid\)/);
    assert.match(sql, /pg_filenode_relation/);
    assert.throws(() => formatLookup([]), RangeError);
    fc.assert(
      fc.property(fc.oneof(fc.double(), fc.integer({ min: -5, max: -1 }), fc.constant(2 ** 32)), (value) => {
        fc.pre(!(Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff));
        assert.throws(() => formatLookup([{ by: 'oid', oid: value }]), RangeError);
      }),
      { seed: 20251204, numRuns: 200 },
    );
  });

  test('its answer: a row or null per item, and the snapshot', () => {
    const result = {
      tag: 'SELECT 3',
      fields: [],
      rows: [
        ['0', '100:110:105', '16400', 'public', 'orders', 'r', 'p', null],
        ['1', '100:110:105', null, null, null, null, null, null],
        ['2', '100:110:105', '16500', 'public', 'p1', 'r', 'p', '[["public","p1"],["public","p"]]'],
      ],
    };
    const answer = parseLookup(result, 3);
    assert.deepEqual(answer.snapshot, { xmin: 100, xmax: 110, xip: [105] });
    assert.deepEqual(answer.rows[0], table('public', 'orders'));
    assert.equal(answer.rows[1], null);
    assert.deepEqual(answer.rows[2]?.chain, [
      ['public', 'p1'],
      ['public', 'p'],
    ]);
  });

  test('an answer of another shape is a ProtocolError', () => {
    const row = (...cells: (string | null)[]) => ({ tag: 'SELECT', fields: [], rows: [cells] });
    const cases = [
      row('0', '1:2:', '16400', 'public', 'orders', 'r', 'p', null),
      row('1', '1:2:', '16400', 'public', 'orders', 'r', 'p', null),
      row('0', 'garbage', '16400', 'public', 'orders', 'r', 'p', null),
      row('0', '1:2:', '16400', null, 'orders', 'r', 'p', null),
      row('0', '1:2:', '16400', 'public', 'p1', 'r', 'p', '[["public"]]'),
    ];
    assert.throws(() => parseLookup(cases[0], 2), ProtocolError, 'row count');
    for (const [i, result] of cases.slice(1).entries()) {
      assert.throws(() => parseLookup(result, 1), ProtocolError, `case ${i + 1}`);
    }
  });
});

describe('RelationCache', () => {
  test('by tablespace and relfilenumber; size follows sets and deletes', () => {
    const cache = new RelationCache();
    const entry = { oid: 1, payload: 'public.a', generation: 0 };
    cache.set({ spcOid: 1663, relNumber: 20000 }, entry);
    cache.set({ spcOid: 1700, relNumber: 20000 }, { ...entry, payload: 'public.b' });
    cache.set({ spcOid: 1663, relNumber: 20000 }, { ...entry, generation: 1 });
    assert.equal(cache.size, 2);
    assert.equal(cache.get({ spcOid: 1700, relNumber: 20000 })?.payload, 'public.b');
    assert.equal(cache.get({ spcOid: 1663, relNumber: 20000 })?.generation, 1);
    cache.delete({ spcOid: 1663, relNumber: 20000 });
    cache.delete({ spcOid: 1663, relNumber: 20000 });
    assert.equal(cache.size, 1);
    assert.equal(cache.get({ spcOid: 1663, relNumber: 20000 }), undefined);
  });
});

// What the catalog says about a publication, and what pgnudge says about it (contract R25): the CREATE
// PUBLICATION for a missing one (key-only where a table has a key), the warnings for what it hides, and
// the parsing of the catalog's answers. The SQL itself runs against real servers in
// test/live/pgoutput-feed.test.ts and test/live/doctor.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PublicationError } from '../../../src/errors.js';
import {
  coverageSql,
  formatCreatePublication,
  formatPublishedTable,
  missingPublication,
  parseCoverage,
  parsePublication,
  parsePublishedTables,
  parseTableKeys,
  publicationSql,
  publicationWarnings,
  type TableKey,
  tableKeysSql,
} from '../../../src/feed/publication.js';
import { parseTableName, type TableName } from '../../../src/feed/tables.js';
import type { QueryResult } from '../../../src/protocol/query-response.js';

const result = (rows: (string | null)[][]): QueryResult => ({ tag: 'SELECT', fields: [], rows });
const t = (text: string): TableName => parseTableName(text);
const key = (table: string, identity: TableKey['identity'], columns: string[] = []): TableKey => ({
  table: t(table),
  exists: identity !== null,
  identity,
  columns,
});

describe('formatCreatePublication', () => {
  test('key-only column lists for tables with a key, in key order', () => {
    const { statement, notes } = formatCreatePublication('app', [
      key('public.orders', 'd', ['id']),
      key('public.order_lines', 'i', ['order_id', 'line']),
    ]);
    assert.equal(
      statement,
      'CREATE PUBLICATION app FOR TABLE public.orders (id), public.order_lines (order_id, line);',
    );
    assert.deepEqual(notes, []);
  });

  test('FULL and key-less tables are listed whole, with what a key-less one would break; missing ones are left out', () => {
    const { statement, notes } = formatCreatePublication('App Pub', [
      key('"My Schema"."Orders"', 'f', ['id']),
      key('public.logs', 'd'),
      key('public.later', null),
    ]);
    assert.equal(statement, 'CREATE PUBLICATION "App Pub" FOR TABLE "My Schema"."Orders", public.logs;');
    assert.equal(notes.length, 2);
    assert.match(notes[0]!, /public\.logs has no replica identity: .*UPDATE and DELETE statements fail/);
    assert.match(
      notes[1]!,
      /public\.later does not exist yet: .*ALTER PUBLICATION "App Pub" ADD TABLE public\.later/,
    );
  });

  test('identifiers are quoted where SQL needs it, so the statement pastes as is', () => {
    const { statement } = formatCreatePublication('select', [key('"a.b"."c""d"', 'd', ['User', 'id'])]);
    assert.equal(statement, 'CREATE PUBLICATION "select" FOR TABLE "a.b"."c""d" ("User", id);');
  });

  test('no tables: FOR ALL TABLES, with the note that a key-only list is cheaper', () => {
    const { statement, notes } = formatCreatePublication('app', null);
    assert.equal(statement, 'CREATE PUBLICATION app FOR ALL TABLES;');
    assert.match(notes[0]!, /superuser.*key columns.*pgnudge doctor --publication/);
  });
});

describe('publicationWarnings', () => {
  const facts = {
    name: 'app',
    allTables: false,
    viaRoot: false,
    unpublished: [] as const,
    rowFilters: 0,
  };

  test('nothing hidden: no warning', () => {
    assert.deepEqual(publicationWarnings(facts, [{ table: t('public.a'), exists: true, covered: true }]), []);
  });

  test('ops it does not publish, row filters and uncovered watched tables are each named', () => {
    const warnings = publicationWarnings({ ...facts, unpublished: ['update', 'truncate'], rowFilters: 2 }, [
      { table: t('public.a'), exists: true, covered: false },
      { table: t('public.b'), exists: false, covered: false },
    ]);
    assert.equal(warnings.length, 3);
    assert.match(warnings[0]!, /does not publish update, truncate: .*SET \(publish = /);
    assert.match(warnings[1]!, /row filter on 2 tables/);
    assert.match(warnings[2]!, /does not cover "public\.a": .*ADD TABLE/);
    assert.doesNotMatch(warnings[2]!, /public\.b/, 'a table that does not exist yet is not "uncovered"');
  });
});

describe('parsing the catalog', () => {
  test('a publication row, or none', () => {
    assert.equal(parsePublication('app', result([])), null);
    assert.deepEqual(parsePublication('app', result([['f', 't', 't', 'f', 't', 'f', '3']])), {
      name: 'app',
      allTables: false,
      viaRoot: true,
      unpublished: ['update', 'truncate'],
      rowFilters: 3,
    });
  });

  test('coverage and keys come back in the watched order, by index', () => {
    const tables = [t('public.a'), t('public.b')];
    assert.deepEqual(
      parseCoverage(
        tables,
        result([
          ['1', 'f', 'f'],
          ['0', 't', 't'],
        ]),
      ),
      [
        { table: tables[1], exists: false, covered: false },
        { table: tables[0], exists: true, covered: true },
      ],
    );
    assert.deepEqual(
      parseTableKeys(
        tables,
        result([
          ['0', 'i', '["code", "a,b"]'],
          ['1', null, null],
        ]),
      ),
      [
        { table: tables[0], exists: true, identity: 'i', columns: ['code', 'a,b'] },
        { table: tables[1], exists: false, identity: null, columns: [] },
      ],
    );
  });

  test('listed tables with their column lists', () => {
    const listed = parsePublishedTables(
      result([
        ['public', 'orders', '["id"]', 'f'],
        ['s', 'T', null, 't'],
      ]),
    );
    assert.deepEqual(listed.map(formatPublishedTable), ['public.orders (id)', 's."T" WHERE …']);
  });

  test('every name reaches the SQL as a literal', () => {
    const hostile = "x'); DROP TABLE t; --";
    for (const sql of [
      publicationSql(hostile),
      coverageSql(hostile, [{ schema: hostile, table: 'a\\b' }]),
      tableKeysSql([{ schema: hostile, table: 'a' }]),
    ]) {
      assert.ok(sql.includes("'x''); DROP TABLE t; --'"), sql);
      assert.ok(!sql.includes("'x');"), sql);
    }
    assert.ok(coverageSql('p', [{ schema: 's', table: 'a\\b' }]).includes("E'a\\\\b'"));
  });
});

describe('missingPublication', () => {
  test('looks up the watched tables’ keys and names the statement in a PublicationError', async () => {
    const asked: string[] = [];
    const error = await missingPublication(
      async (sql) => {
        asked.push(sql);
        return [result([['0', 'd', '["id"]']])];
      },
      'app',
      'shop',
      [t('public.orders')],
    );
    assert.ok(error instanceof PublicationError);
    assert.equal(error.code, 'PGNUDGE_ERR_PUBLICATION_MISSING');
    assert.equal(error.retryable, false);
    assert.equal(error.publication, 'app');
    assert.match(
      error.message,
      /^publication "app" does not exist in database "shop", and pgnudge never creates one \(contract R25\)\. Its owner can create it: CREATE PUBLICATION app FOR TABLE public\.orders \(id\);$/,
    );
    assert.equal(asked.length, 1);
  });

  test('without tables it asks nothing and suggests FOR ALL TABLES', async () => {
    const error = await missingPublication(
      async () => assert.fail('no query without tables'),
      'app',
      'shop',
      null,
    );
    assert.match(error.message, /CREATE PUBLICATION app FOR ALL TABLES; \(as a superuser; or/);
  });
});

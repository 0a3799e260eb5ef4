// The watched-tables check (issue 21, contract R14): the catalog query a feed runs once at connect, which
// watched tables it finds missing, and what it says about them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ServerError } from '../../../src/errors.js';
import { parseTableName } from '../../../src/feed/tables.js';
import {
  describeMissingTable,
  describeWatched,
  missingTables,
  warnMissingTables,
  watchedTablesQuery,
} from '../../../src/feed/watched-tables.js';
import { bindLogger } from '../../../src/logger.js';

const tables = ['public.orders', 'public.nosuch', '"My Schema"."Odd"', 'public.v'].map(parseTableName);

describe('watchedTablesQuery', () => {
  test('one VALUES row per watched table, every name a quoted literal', () => {
    assert.equal(
      watchedTablesQuery([parseTableName('public.orders'), parseTableName(`"it's"."a\\b"`)]),
      "SELECT w.i, n.nspname, c.relname, c.relkind FROM (VALUES (0, 'public', 'orders'), (1, 'it''s', E'a\\\\b')) AS w(i, s, t) JOIN pg_catalog.pg_class c ON lower(c.relname) = lower(w.t) JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace ORDER BY w.i, n.nspname, c.relname",
    );
  });
});

describe('missingTables', () => {
  test('exact tables are found; the rest are missing, with tables of the same name elsewhere', () => {
    const rows = [
      ['0', 'public', 'orders', 'r'],
      ['0', 'archive', 'orders', 'r'],
      ['1', 'app', 'nosuch', 'r'],
      ['1', 'app', 'NoSuch', 'p'],
      ['1', 'app', 'nosuch_idx', 'i'],
      ['2', 'My Schema', 'odd', 'r'],
      ['3', 'public', 'v', 'v'],
    ];
    assert.deepEqual(missingTables(tables, rows), [
      {
        table: { schema: 'public', table: 'nosuch' },
        kind: undefined,
        near: [
          { schema: 'app', table: 'nosuch' },
          { schema: 'app', table: 'NoSuch' },
        ],
      },
      {
        table: { schema: 'My Schema', table: 'Odd' },
        kind: undefined,
        near: [{ schema: 'My Schema', table: 'odd' }],
      },
      { table: { schema: 'public', table: 'v' }, kind: 'a view', near: [] },
    ]);
  });

  test('a partitioned table counts as a table; no rows means every table is missing', () => {
    assert.deepEqual(missingTables([parseTableName('public.p')], [['0', 'public', 'p', 'p']]), []);
    assert.equal(missingTables(tables, []).length, tables.length);
  });
});

describe('what is said', () => {
  test('a missing table, with near matches in SQL form, at most five', () => {
    assert.equal(
      describeMissingTable({ table: { schema: 'public', table: 'nosuch' }, kind: undefined, near: [] }),
      'public.nosuch does not exist (yet): it wakes the feed once it is created',
    );
    const near = ['a', 'b', 'c', 'd', 'E', 'f', 'g'].map((schema) => ({ schema, table: 'orders' }));
    assert.equal(
      describeMissingTable({ table: { schema: 'public', table: 'orders' }, kind: undefined, near }),
      'public.orders does not exist (yet): it wakes the feed once it is created; did you mean a.orders, b.orders, c.orders, d.orders, "E".orders and 2 more?',
    );
    assert.equal(
      describeMissingTable({ table: { schema: 'public', table: 'v' }, kind: 'a view', near: [] }),
      'public.v is a view, not a table: its changes never reach the feed; watch the tables it reads',
    );
  });

  test('names that could steer a terminal are escaped', () => {
    assert.equal(describeWatched([{ schema: 'public', table: 'a\u001b[2Jb' }]), 'public."a\\u001b[2Jb"');
    assert.equal(describeWatched(null), 'every table');
    assert.equal(describeWatched(tables), 'public.orders, public.nosuch, "My Schema"."Odd", public.v');
  });
});

describe('warnMissingTables', () => {
  test('one warning per missing table', async () => {
    const warnings: string[] = [];
    await warnMissingTables(
      async () => [{ tag: 'SELECT 1', fields: [], rows: [['0', 'public', 'orders', 'r']] }],
      tables.slice(0, 2),
      bindLogger({ warn: (message) => warnings.push(message) }),
    );
    assert.deepEqual(warnings, [
      'pgnudge: watched table public.nosuch does not exist (yet): it wakes the feed once it is created',
    ]);
  });

  test('an ERROR from the server is a debug line, never a failure; a lost connection is rethrown', async () => {
    const debug: string[] = [];
    const log = bindLogger({ debug: (message) => debug.push(message) }, 'debug');
    const refused = new ServerError({ severity: 'ERROR', sqlState: '42501', message: 'permission denied' });
    await warnMissingTables(async () => Promise.reject(refused), tables, log);
    assert.match(
      debug[0] ?? '',
      /could not check which watched tables exist: ERROR 42501: permission denied/,
    );
    const fatal = new ServerError({ severity: 'FATAL', sqlState: '57P01', message: 'terminating' });
    await assert.rejects(
      warnMissingTables(async () => Promise.reject(fatal), tables, log),
      fatal,
    );
  });
});

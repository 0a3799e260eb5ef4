// Row keys against a real server (contract R22–R24), once per plugin the major has: an event names the row by
// its replica identity (primary key, USING INDEX, FULL with a primary key), an UPDATE that changes the key
// names both keys, composite keys with awkward text round-trip through the payload, keyless tables and
// TRUNCATE stay table-level, maxKeys folds a table's rows into one event, a partition's row is named under
// its root with the partition's key, and an ALTER TABLE that changes the key is followed by a Resync and
// then the new key.
import assert from 'node:assert/strict';
import { after, before, describe, type TestContext, test } from 'node:test';
import type { FeedItem } from '../../src/feed/items.js';
import { type Batch, parseKey, type WalFeedOptions } from '../../src/index.js';
import { type ClusterInfo, pluginUnavailable, runSql } from '../support/cluster.js';
import { feedConnection, openFeed as openTestFeed } from '../support/feed-probe.js';
import { counted, countsByKey, eventsOf, keysOf } from '../support/keyed-events.js';
import { openLiveDatabase, type ScratchDatabase } from '../support/live-database.js';

let info: ClusterInfo;
let db: ScratchDatabase;
before(async () => {
  ({ info, db } = await openLiveDatabase('row_keys'));
});
after(() => db?.drop());

const sql = (text: string) => runSql(info, text, db.name);

/** A feed with row keys on, on this file's database, closed when the test ends. */
const openFeed = (t: TestContext, options: WalFeedOptions) =>
  openTestFeed(t, { ...feedConnection(info, db.name), keys: true, debounce: 50, ...options });

/** Awkward key text: commas, quotes, backslashes, parentheses, spaces, the empty string, non-ASCII. */
const AWKWARD = ['a,b', 'say "hi"', 'C:\\temp', '(x)', ' padded ', '', 'Zürich 東京', "it's"];
const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

for (const plugin of ['wal2json', 'test_decoding'] as const) {
  describe(`row keys with ${plugin}`, { timeout: 120_000 }, () => {
    let skip: string | undefined;
    before(() => {
      skip = pluginUnavailable(info, plugin);
    });
    const name = (what: string) => `${what}_${plugin === 'wal2json' ? 'w' : 't'}`;

    test('INSERT, UPDATE and DELETE name the row by its primary key; payload and table say which', async (t) => {
      if (skip) return t.skip(skip);
      const table = name('pk');
      await sql(`CREATE TABLE public.${table} (id int PRIMARY KEY, note text)`);
      const { probe } = openFeed(t, { plugin });
      await probe.resync('connected');
      await sql(`INSERT INTO public.${table} VALUES (1, 'a'), (2, 'b'), (42, 'c')`);
      await counted(probe, `public.${table}`, 3);
      const mark = probe.mark();
      await sql(`UPDATE public.${table} SET note = 'x' WHERE id = 42`);
      await sql(`DELETE FROM public.${table} WHERE id = 1`);
      await counted(probe, `public.${table}`, 2, mark);
      assert.deepEqual(keysOf(probe, `public.${table}`), [['1'], ['2'], ['42'], ['42'], ['1']]);
      const event = eventsOf(probe, `public.${table}`, mark)[0]!;
      assert.equal(event.payload, `public.${table}:42`);
      assert.equal(event.count, 1);
    });

    test('an UPDATE that changes the key names the old key and the new one', async (t) => {
      if (skip) return t.skip(skip);
      const table = name('pk_change');
      await sql(
        `CREATE TABLE public.${table} (id int PRIMARY KEY, note text); INSERT INTO public.${table} VALUES (1, 'a')`,
      );
      const { probe } = openFeed(t, { plugin });
      await probe.resync('connected');
      await sql(`UPDATE public.${table} SET id = 2 WHERE id = 1`);
      await counted(probe, `public.${table}`, 2);
      assert.deepEqual(keysOf(probe, `public.${table}`).sort(), [['1'], ['2']]);
    });

    test('a composite key with awkward text round-trips through the payload', async (t) => {
      if (skip) return t.skip(skip);
      const table = name('composite');
      await sql(`CREATE TABLE public.${table} (label text, n int, note text, PRIMARY KEY (label, n))`);
      const { probe } = openFeed(t, { plugin });
      await probe.resync('connected');
      await sql(
        `INSERT INTO public.${table} VALUES ${AWKWARD.map((text, i) => `(${literal(text)}, ${i}, 'x')`).join(', ')}`,
      );
      await counted(probe, `public.${table}`, AWKWARD.length);
      const events = eventsOf(probe, `public.${table}`);
      assert.deepEqual(
        events.map((event) => event.key),
        AWKWARD.map((text, i) => [text, String(i)]),
      );
      for (const event of events) {
        assert.deepEqual(parseKey(event.payload.slice(`public.${table}:`.length)), event.key);
      }
      const [server] = await runSql<{ text: string }>(
        info,
        `SELECT substr(ROW(label, n)::text, 2, length(ROW(label, n)::text) - 2) AS text FROM public.${table} WHERE n = 1`,
        db.name,
      );
      assert.equal(
        events[1]!.payload,
        `public.${table}:${server!.text}`,
        "the payload is PostgreSQL's own record text",
      );
    });

    test('key values are printed as PostgreSQL prints them: booleans, numerics, uuids, dates, bit strings', async (t) => {
      if (skip) return t.skip(skip);
      const table = name('types');
      await sql(
        `CREATE TABLE public.${table} (b bool, x numeric, u uuid, d date, f bit(3), note text, PRIMARY KEY (b, x, u, d, f))`,
      );
      const { probe } = openFeed(t, { plugin });
      await probe.resync('connected');
      await sql(
        `INSERT INTO public.${table} VALUES (true, 1.50, '00000000-0000-0000-0000-00000000000a', '2024-02-29', B'101', 'n')`,
      );
      await counted(probe, `public.${table}`, 1);
      assert.deepEqual(keysOf(probe, `public.${table}`), [
        ['t', '1.50', '00000000-0000-0000-0000-00000000000a', '2024-02-29', '101'],
      ]);
    });

    test('REPLICA IDENTITY USING INDEX keys by the index columns, in index order', async (t) => {
      if (skip) return t.skip(skip);
      const table = name('by_index');
      await sql(
        `CREATE TABLE public.${table} (id int PRIMARY KEY, code text NOT NULL, region text NOT NULL, note text);
         CREATE UNIQUE INDEX ${table}_ri ON public.${table} (region, code);
         ALTER TABLE public.${table} REPLICA IDENTITY USING INDEX ${table}_ri;
         INSERT INTO public.${table} VALUES (1, 'c1', 'eu', 'a')`,
      );
      const { probe } = openFeed(t, { plugin });
      await probe.resync('connected');
      await sql(`INSERT INTO public.${table} VALUES (2, 'c2', 'us', 'b')`);
      await sql(`UPDATE public.${table} SET code = 'c9' WHERE id = 1`);
      await sql(`DELETE FROM public.${table} WHERE id = 2`);
      await counted(probe, `public.${table}`, 4);
      assert.deepEqual(countsByKey(eventsOf(probe, `public.${table}`)), {
        'us,c2': 2,
        'eu,c1': 1,
        'eu,c9': 1,
      });
    });

    test('REPLICA IDENTITY FULL keys by the primary key when there is one, else table-level', async (t) => {
      if (skip) return t.skip(skip);
      const [withPk, withoutPk] = [name('full_pk'), name('full_nopk')];
      await sql(
        `CREATE TABLE public.${withPk} (id int PRIMARY KEY, note text); ALTER TABLE public.${withPk} REPLICA IDENTITY FULL;
         CREATE TABLE public.${withoutPk} (id int, note text); ALTER TABLE public.${withoutPk} REPLICA IDENTITY FULL;
         INSERT INTO public.${withPk} VALUES (1, 'a'); INSERT INTO public.${withoutPk} VALUES (1, 'a');`,
      );
      const { probe } = openFeed(t, { plugin });
      await probe.resync('connected');
      for (const table of [withPk, withoutPk]) {
        await sql(
          `UPDATE public.${table} SET note = 'b'; UPDATE public.${table} SET id = 2; DELETE FROM public.${table}`,
        );
      }
      await counted(probe, `public.${withPk}`, 4);
      await counted(probe, `public.${withoutPk}`, 3);
      assert.deepEqual(
        countsByKey(eventsOf(probe, `public.${withPk}`)),
        { 1: 2, 2: 2 },
        'row 1: updated, then re-keyed; row 2: re-keyed into, then deleted',
      );
      assert.deepEqual([...new Set(keysOf(probe, `public.${withoutPk}`))], [null]);
    });

    test('a table without a key, and TRUNCATE, are table-level', async (t) => {
      if (skip) return t.skip(skip);
      const [keyless, truncated] = [name('keyless'), name('truncated')];
      await sql(
        `CREATE TABLE public.${keyless} (id int, note text); INSERT INTO public.${keyless} VALUES (1, 'a');
         CREATE TABLE public.${truncated} (id int PRIMARY KEY); INSERT INTO public.${truncated} VALUES (1);`,
      );
      const { probe } = openFeed(t, { plugin });
      await probe.resync('connected');
      // wal2json writes no record for the UPDATE and DELETE of a table without a replica identity: its
      // warning stands for them (contract R3), table-level like the rest.
      await sql(
        `INSERT INTO public.${keyless} VALUES (2, 'b'); UPDATE public.${keyless} SET note = 'c'; DELETE FROM public.${keyless} WHERE id = 1`,
      );
      await counted(probe, `public.${keyless}`, 4);
      assert.deepEqual([...new Set(keysOf(probe, `public.${keyless}`))], [null]);
      await sql(`TRUNCATE public.${truncated}`);
      await counted(probe, `public.${truncated}`, 1);
      assert.deepEqual(keysOf(probe, `public.${truncated}`), [null]);
    });

    test('past maxKeys rows of a table in one batch, they fold into one table-level event with their sum', async (t) => {
      if (skip) return t.skip(skip);
      const table = name('fold');
      await sql(`CREATE TABLE public.${table} (id int PRIMARY KEY)`);
      const { probe } = openFeed(t, { plugin, maxKeys: 5, debounce: 500 });
      await probe.resync('connected');
      await sql(`INSERT INTO public.${table} SELECT g FROM generate_series(1, 4) g`);
      await counted(probe, `public.${table}`, 4);
      assert.deepEqual(
        keysOf(probe, `public.${table}`),
        [['1'], ['2'], ['3'], ['4']],
        'under the bound: rows',
      );
      const mark = probe.mark();
      await sql(`INSERT INTO public.${table} SELECT g FROM generate_series(101, 120) g`);
      await counted(probe, `public.${table}`, 20, mark);
      const folded = eventsOf(probe, `public.${table}`, mark);
      assert.deepEqual(
        folded.map((event) => [event.key, event.count]),
        [[null, 20]],
        'one transaction in one 500 ms batch: one table-level event, count 20',
      );
    });

    test("a partition's row is named under its root, with the partition's key", async (t) => {
      if (skip) return t.skip(skip);
      const root = name('part_root');
      await sql(
        `CREATE TABLE public.${root} (id int, region text, note text) PARTITION BY LIST (region);
         CREATE TABLE public.${root}_eu PARTITION OF public.${root} (PRIMARY KEY (id, region)) FOR VALUES IN ('eu');
         CREATE TABLE public.${root}_us (note text, region text NOT NULL, id int NOT NULL, PRIMARY KEY (region, id));
         ALTER TABLE public.${root} ATTACH PARTITION public.${root}_us FOR VALUES IN ('us');`,
      );
      const { probe } = openFeed(t, { plugin, tables: [`public.${root}`] });
      await probe.resync('connected');
      await sql(`INSERT INTO public.${root} VALUES (1, 'eu', 'a'), (2, 'us', 'b')`);
      await counted(probe, `public.${root}`, 2);
      // The root has no key; each partition has its own, and the US one lists region first: (region, id).
      assert.deepEqual(keysOf(probe, `public.${root}`), [
        ['1', 'eu'],
        ['us', '2'],
      ]);
      assert.deepEqual(eventsOf(probe, `public.${root}`)[0]!.payload, `public.${root}:1,eu`);
    });

    test('an ALTER TABLE that changes the key is followed by a Resync, then rows by the new key', async (t) => {
      if (skip) return t.skip(skip);
      const table = name('rekeyed');
      await sql(`CREATE TABLE public.${table} (id int PRIMARY KEY, code text NOT NULL)`);
      const { probe } = openFeed(t, { plugin });
      await probe.resync('connected');
      await sql(`INSERT INTO public.${table} VALUES (1, 'one')`);
      await counted(probe, `public.${table}`, 1);
      await sql(
        `ALTER TABLE public.${table} DROP CONSTRAINT ${table}_pkey; ALTER TABLE public.${table} ADD PRIMARY KEY (code)`,
      );
      // Rows by the new key follow, after whatever the change of key brings. Which comes when is
      // timing: a row may be named by the stale key and then followed by a Resync (the re-check of the
      // answer it was named under), and a Resync may come first, or supersede a batch still pending
      // (a Resync covers every change before it, contract R6). So rows go in until one is named by the
      // new key (`code…`); each is named, by the new key or by a stale one followed by a Resync, or
      // covered by a Resync.
      const onTable = (item: FeedItem): item is Batch =>
        item.type === 'batch' && item.events.some((event) => event.table === `public.${table}`);
      for (let n = 2; ; n++) {
        assert.ok(n <= 6, 'no row named by the new key after 5 inserts');
        const mark = probe.mark();
        await sql(`INSERT INTO public.${table} VALUES (${n}, 'code${n}')`);
        const item = await probe.next((next): next is FeedItem => next.type === 'resync' || onTable(next), {
          from: mark,
          what: `the row of INSERT ${n} into ${table}, or a Resync`,
        });
        if (item.type === 'resync') continue;
        const keys = eventsOf(probe, `public.${table}`, mark).map((event) => event.key?.[0]);
        if (keys.some((key) => key?.startsWith('code'))) break;
        await probe.next((next): next is FeedItem => next.type === 'resync', {
          from: probe.after(item),
          what: `the Resync after rows named by a stale key (${keys.join(', ')})`,
        });
      }
    });
  });
}

// Row keys through a publication (contract R22–R25) against a real server, 15–18: pgoutput's Relation
// messages flag the replica identity's columns and the feed reads only those columns' text. INSERT, UPDATE
// and DELETE name the row by its primary key, an UPDATE that changes the key names both, a composite key
// with awkward text is PostgreSQL's own record text, USING INDEX keys by the index (in index order), FULL
// by the primary key (once the look-up that places the relation answered), keyless tables and TRUNCATE
// are table-level, maxKeys folds, partitions use the root's payload with the partition's key (with and
// without publish_via_partition_root, and by their own name with partitions: leaf), a key-only
// publication keys its rows, and a large transaction streamed in progress releases its keys only at
// commit, never an aborted subtransaction's. In a database whose logical_decoding_work_mem is 64kB (a
// database setting reaches its walsenders), so 2,000 rows stream.
import assert from 'node:assert/strict';
import { after, before, describe, type TestContext, test } from 'node:test';
import { parseKey, type WalFeedOptions } from '../../src/index.js';
import { type ClusterInfo, runSql, superuserClient } from '../support/cluster.js';
import { feedConnection, openFeed as openTestFeed } from '../support/feed-probe.js';
import { counted, countsByKey, eventsOf, keysOf } from '../support/keyed-events.js';
import { openLiveDatabase, type ScratchDatabase } from '../support/live-database.js';
import { waitFor } from '../support/wait.js';

/** Rows of a transaction large enough to stream at logical_decoding_work_mem = 64kB. */
const LARGE = 2000;

let info: ClusterInfo;
let db: ScratchDatabase;
before(async () => {
  ({ info, db } = await openLiveDatabase('pgokeys'));
  await runSql(info, `ALTER DATABASE ${db.name} SET logical_decoding_work_mem = '64kB'`);
});
after(() => db?.drop());

const sql = (text: string) => runSql(info, text, db.name);

/** A keyed feed through `publication` on this file's database, closed when the test ends. */
const openFeed = (t: TestContext, publication: string, options: WalFeedOptions = {}) =>
  openTestFeed(t, { ...feedConnection(info, db.name), publication, keys: true, debounce: 50, ...options });

/** A table and a publication of it alone; returns the publication's name. */
async function published(table: string, ddl: string, publish = `public.${table}`): Promise<string> {
  await sql(`${ddl}; CREATE PUBLICATION pub_${table} FOR TABLE ${publish}`);
  return `pub_${table}`;
}

const AWKWARD = ['a,b', 'say "hi"', 'C:\\temp', '(x)', ' padded ', '', 'Zürich 東京', "it's"];
const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

describe('row keys through a publication', { timeout: 180_000 }, () => {
  test('INSERT, UPDATE and DELETE name the row by its primary key', async (t) => {
    const pub = await published('pk', 'CREATE TABLE public.pk (id int PRIMARY KEY, note text)');
    const { probe } = openFeed(t, pub);
    await probe.resync('connected');
    await sql(`INSERT INTO public.pk VALUES (1, 'a'), (2, 'b'), (42, 'c')`);
    await counted(probe, 'public.pk', 3);
    const mark = probe.mark();
    await sql(`UPDATE public.pk SET note = 'x' WHERE id = 42`);
    await sql('DELETE FROM public.pk WHERE id = 1');
    await counted(probe, 'public.pk', 2, mark);
    assert.deepEqual(keysOf(probe, 'public.pk'), [['1'], ['2'], ['42'], ['42'], ['1']]);
    const event = eventsOf(probe, 'public.pk', mark)[0]!;
    assert.equal(event.payload, 'public.pk:42');
    assert.equal(event.count, 1);
  });

  test('an UPDATE that changes the key names the old key and the new one', async (t) => {
    const pub = await published(
      'pk_change',
      `CREATE TABLE public.pk_change (id int PRIMARY KEY, note text); INSERT INTO public.pk_change VALUES (1, 'a')`,
    );
    const { probe } = openFeed(t, pub);
    await probe.resync('connected');
    await sql('UPDATE public.pk_change SET id = 2 WHERE id = 1');
    await counted(probe, 'public.pk_change', 2);
    assert.deepEqual(keysOf(probe, 'public.pk_change').sort(), [['1'], ['2']]);
  });

  test("a composite key with awkward text is PostgreSQL's own record text, in key order", async (t) => {
    // The key lists n before label: key order, not table order.
    const pub = await published(
      'composite',
      'CREATE TABLE public.composite (label text, note text, n int, PRIMARY KEY (n, label))',
    );
    const { probe } = openFeed(t, pub);
    await probe.resync('connected');
    await sql(
      `INSERT INTO public.composite VALUES ${AWKWARD.map((text, i) => `(${literal(text)}, 'x', ${i})`).join(', ')}`,
    );
    await counted(probe, 'public.composite', AWKWARD.length);
    const events = eventsOf(probe, 'public.composite');
    assert.deepEqual(
      events.map((event) => event.key),
      AWKWARD.map((text, i) => [String(i), text]),
    );
    for (const event of events) {
      assert.deepEqual(parseKey(event.payload.slice('public.composite:'.length)), event.key);
    }
    const rows = await runSql<{ n: number; text: string }>(
      info,
      'SELECT n, substr(ROW(n, label)::text, 2, length(ROW(n, label)::text) - 2) AS text FROM public.composite ORDER BY n',
      db.name,
    );
    assert.deepEqual(
      events.map((event) => event.payload),
      rows.map((row) => `public.composite:${row.text}`),
      "every payload is PostgreSQL's own record text",
    );
  });

  test('key values are the text PostgreSQL prints: booleans, numerics, uuids, dates, bit strings', async (t) => {
    const pub = await published(
      'types',
      'CREATE TABLE public.types (b bool, x numeric, u uuid, d date, f bit(3), note text, PRIMARY KEY (b, x, u, d, f))',
    );
    const { probe } = openFeed(t, pub);
    await probe.resync('connected');
    await sql(
      `INSERT INTO public.types VALUES (true, 1.50, '00000000-0000-0000-0000-00000000000a', '2024-02-29', B'101', 'n')`,
    );
    await counted(probe, 'public.types', 1);
    assert.deepEqual(keysOf(probe, 'public.types'), [
      ['t', '1.50', '00000000-0000-0000-0000-00000000000a', '2024-02-29', '101'],
    ]);
  });

  test('REPLICA IDENTITY USING INDEX keys by the index columns, in index order', async (t) => {
    const pub = await published(
      'by_index',
      `CREATE TABLE public.by_index (id int PRIMARY KEY, code text NOT NULL, region text NOT NULL, note text);
       CREATE UNIQUE INDEX by_index_ri ON public.by_index (region, code);
       ALTER TABLE public.by_index REPLICA IDENTITY USING INDEX by_index_ri;
       INSERT INTO public.by_index VALUES (1, 'c1', 'eu', 'a')`,
    );
    const { probe } = openFeed(t, pub);
    await probe.resync('connected');
    await sql(`INSERT INTO public.by_index VALUES (2, 'c2', 'us', 'b')`);
    await sql(`UPDATE public.by_index SET code = 'c9' WHERE id = 1`);
    await sql('DELETE FROM public.by_index WHERE id = 2');
    await counted(probe, 'public.by_index', 4);
    assert.deepEqual(countsByKey(eventsOf(probe, 'public.by_index')), {
      'us,c2': 2,
      'eu,c1': 1,
      'eu,c9': 1,
    });
  });

  test('REPLICA IDENTITY FULL keys by the primary key once its look-up answered; without one, table-level', async (t) => {
    await sql(
      `CREATE TABLE public.full_pk (note text, id int PRIMARY KEY); ALTER TABLE public.full_pk REPLICA IDENTITY FULL;
       CREATE TABLE public.full_nopk (id int, note text); ALTER TABLE public.full_nopk REPLICA IDENTITY FULL;
       INSERT INTO public.full_pk VALUES ('a', 1); INSERT INTO public.full_nopk VALUES (1, 'a');
       CREATE TABLE public.full_warm (id int PRIMARY KEY);
       CREATE PUBLICATION pub_full FOR TABLE public.full_pk, public.full_nopk`,
    );
    const { probe } = openFeed(t, 'pub_full');
    await probe.resync('connected');
    // pgoutput flags every column under FULL; the primary key comes from the look-up that places the
    // relation, so the rows before its answer are table-level. Their event is released by that answer.
    await sql(`UPDATE public.full_pk SET note = 'warm'; UPDATE public.full_nopk SET note = 'warm'`);
    await counted(probe, 'public.full_pk', 1);
    await counted(probe, 'public.full_nopk', 1);
    assert.deepEqual(keysOf(probe, 'public.full_pk'), [null]);
    const mark = probe.mark();
    for (const table of ['full_pk', 'full_nopk']) {
      await sql(`UPDATE public.${table} SET note = 'b'`);
      await sql(`UPDATE public.${table} SET id = 2`);
      await sql(`DELETE FROM public.${table}`);
    }
    await counted(probe, 'public.full_pk', 4, mark);
    await counted(probe, 'public.full_nopk', 3, mark);
    assert.deepEqual(
      countsByKey(eventsOf(probe, 'public.full_pk', mark)),
      { 1: 2, 2: 2 },
      'row 1: updated, then re-keyed; row 2: re-keyed into, then deleted',
    );
    assert.deepEqual([...new Set(keysOf(probe, 'public.full_nopk', mark))], [null]);
  });

  test('a table without a key, REPLICA IDENTITY NOTHING, and TRUNCATE are table-level', async (t) => {
    await sql(
      `CREATE TABLE public.keyless (id int, note text); INSERT INTO public.keyless VALUES (1, 'a');
       ALTER TABLE public.keyless REPLICA IDENTITY FULL;
       CREATE TABLE public.nothing (id int PRIMARY KEY); ALTER TABLE public.nothing REPLICA IDENTITY NOTHING;
       CREATE TABLE public.truncated (id int PRIMARY KEY); INSERT INTO public.truncated VALUES (1);
       CREATE PUBLICATION pub_keyless FOR TABLE public.keyless, public.nothing, public.truncated`,
    );
    const { probe } = openFeed(t, 'pub_keyless');
    await probe.resync('connected');
    await sql(
      `INSERT INTO public.keyless VALUES (2, 'b'); UPDATE public.keyless SET note = 'c'; DELETE FROM public.keyless WHERE id = 1`,
    );
    await counted(probe, 'public.keyless', 4);
    assert.deepEqual([...new Set(keysOf(probe, 'public.keyless'))], [null]);
    await sql('INSERT INTO public.nothing VALUES (1), (2)');
    await counted(probe, 'public.nothing', 2);
    assert.deepEqual([...new Set(keysOf(probe, 'public.nothing'))], [null]);
    await sql('TRUNCATE public.truncated');
    await counted(probe, 'public.truncated', 1);
    assert.deepEqual(keysOf(probe, 'public.truncated'), [null]);
  });

  test('past maxKeys rows of a table in one batch, they fold into one table-level event with their sum', async (t) => {
    const pub = await published('fold', 'CREATE TABLE public.fold (id int PRIMARY KEY)');
    const { probe } = openFeed(t, pub, { maxKeys: 5, debounce: 500 });
    await probe.resync('connected');
    await sql('INSERT INTO public.fold SELECT g FROM generate_series(1, 4) g');
    await counted(probe, 'public.fold', 4);
    assert.deepEqual(keysOf(probe, 'public.fold'), [['1'], ['2'], ['3'], ['4']], 'under the bound: rows');
    const mark = probe.mark();
    await sql('INSERT INTO public.fold SELECT g FROM generate_series(101, 120) g');
    await counted(probe, 'public.fold', 20, mark);
    assert.deepEqual(
      eventsOf(probe, 'public.fold', mark).map((event) => [event.key, event.count]),
      [[null, 20]],
      'one transaction in one 500 ms batch: one table-level event, count 20',
    );
  });

  test("a partition's row is named under its root with the partition's key, whatever publish_via_partition_root says; leaf naming keeps the partition's name", async (t) => {
    await sql(
      `CREATE TABLE public.parted (id int, region text, note text, PRIMARY KEY (region, id)) PARTITION BY LIST (region);
       CREATE TABLE public.parted_eu PARTITION OF public.parted FOR VALUES IN ('eu');
       CREATE TABLE public.parted_us PARTITION OF public.parted FOR VALUES IN ('us') PARTITION BY RANGE (id);
       CREATE TABLE public.parted_us_low PARTITION OF public.parted_us FOR VALUES FROM (0) TO (1000);
       CREATE PUBLICATION pub_parted FOR TABLE public.parted;
       CREATE PUBLICATION pub_parted_root FOR TABLE public.parted WITH (publish_via_partition_root = true);`,
    );
    const leafless = openFeed(t, 'pub_parted');
    const viaRoot = openFeed(t, 'pub_parted_root');
    const leaf = openFeed(t, 'pub_parted', { partitions: 'leaf' });
    for (const { probe } of [leafless, viaRoot, leaf]) await probe.resync('connected');
    await sql(`INSERT INTO public.parted VALUES (1, 'eu', 'a'), (2, 'us', 'b')`);
    await sql(`UPDATE public.parted SET note = 'c' WHERE id = 2`);
    for (const { probe } of [leafless, viaRoot]) {
      await counted(probe, 'public.parted', 3);
      assert.deepEqual(countsByKey(eventsOf(probe, 'public.parted')), { 'eu,1': 1, 'us,2': 2 });
      assert.equal(eventsOf(probe, 'public.parted')[0]!.payload, 'public.parted:eu,1');
    }
    await counted(leaf.probe, 'public.parted_eu', 1);
    await counted(leaf.probe, 'public.parted_us_low', 2);
    assert.deepEqual(keysOf(leaf.probe, 'public.parted_eu'), [['eu', '1']]);
    assert.deepEqual(countsByKey(eventsOf(leaf.probe, 'public.parted_us_low')), { 'us,2': 2 });
  });

  test('a key-only publication (FOR TABLE t (id)) keys every change of its tables', async (t) => {
    const pub = await published(
      'key_only',
      'CREATE TABLE public.key_only (id int PRIMARY KEY, a text, b text)',
      'public.key_only (id)',
    );
    const { probe } = openFeed(t, pub);
    await probe.resync('connected');
    await sql(`INSERT INTO public.key_only VALUES (1, 'a', 'b'), (2, 'a', 'b')`);
    await sql(`UPDATE public.key_only SET a = 'z' WHERE id = 1`);
    await sql('UPDATE public.key_only SET id = 3 WHERE id = 2');
    await sql('DELETE FROM public.key_only WHERE id = 1');
    await counted(probe, 'public.key_only', 6);
    assert.deepEqual(countsByKey(eventsOf(probe, 'public.key_only')), { 1: 3, 2: 2, 3: 1 });
  });

  test('a streamed transaction releases its keys only at commit; a rolled-back subtransaction and an aborted transaction never nudge', async (t) => {
    await sql(
      `CREATE TABLE public.big (id int PRIMARY KEY, pad text);
       CREATE TABLE public.sentinel (id serial PRIMARY KEY);
       CREATE PUBLICATION pub_big FOR TABLE public.big, public.sentinel`,
    );
    const { feed, probe } = openFeed(t, 'pub_big', { maxKeys: 10_000 });
    await probe.resync('connected');
    const sentinels = () => eventsOf(probe, 'public.sentinel').reduce((n, event) => n + event.count, 0);
    /** Commits a sentinel row and waits for it: everything committed before it was decoded. */
    const drained = async () => {
      const seen = sentinels();
      await sql('INSERT INTO public.sentinel DEFAULT VALUES');
      await waitFor(() => sentinels() > seen, { what: 'the sentinel row' });
    };
    const client = await superuserClient(info, db.name);
    t.after(() => client.end());
    const large = (from: number) =>
      `INSERT INTO public.big SELECT g, repeat('x', 100) FROM generate_series(${from}, ${from + LARGE - 1}) g`;
    await client.query('BEGIN');
    await client.query(large(1));
    await client.query('SAVEPOINT s');
    await client.query(large(100_001));
    await client.query('ROLLBACK TO SAVEPOINT s');
    await drained();
    assert.equal(eventsOf(probe, 'public.big').length, 0, 'nothing of an uncommitted transaction nudges');
    await client.query('COMMIT');
    await counted(probe, 'public.big', LARGE);
    await client.query('BEGIN');
    await client.query(large(200_001));
    await drained();
    await client.query('ROLLBACK');
    await drained();
    const counts = countsByKey(eventsOf(probe, 'public.big'));
    assert.equal(Object.keys(counts).length, LARGE, 'one key per committed row');
    for (let id = 1; id <= LARGE; id++) assert.equal(counts[String(id)], 1, `row ${id}`);
    await waitFor(
      async () => {
        const [row] = await runSql<{ stream_txns: string }>(
          info,
          `SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name = '${feed.slotName}'`,
          db.name,
        );
        return Number(row?.stream_txns ?? 0) > 0;
      },
      { what: 'the slot to have streamed a transaction in progress' },
    );
  });
});

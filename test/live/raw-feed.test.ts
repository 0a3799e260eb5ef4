// RawFeed against a real server at wal_level = replica (contract R27, R28, and §3 as it applies): a cluster of
// its own per major, with prepared transactions enabled, and no slot anywhere before, during or after.
// Faults (terminate, restart, a blackholed link, SIGKILL) are in raw-feed-faults.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, type TestContext, test } from 'node:test';
import { Batch, type RawFeedOptions, Resync } from '../../src/index.js';
import { Cluster, type ClusterInfo, liveCluster, runSql, scratchDatabase } from '../support/cluster.js';
import { type FeedProbe, feedConnection, openRawFeed } from '../support/feed-probe.js';
import type { ScratchDatabase } from '../support/live-database.js';
import { waitFor } from '../support/wait.js';

let cluster: Cluster | undefined;
let info: ClusterInfo;
let db: ScratchDatabase;
let skip: string | undefined;

const sql = (text: string, database = db.name) => runSql(info, text, database);

/** A RawFeed on this file's database with a short debounce, closed when the test ends. */
const openFeed = (t: TestContext, options: RawFeedOptions = {}) =>
  openRawFeed(t, { ...feedConnection(info, db.name), ...options });

/** Every replication slot on the server: a RawFeed never makes one. */
async function slots(): Promise<string[]> {
  const rows = await runSql<{ slot_name: string }>(info, 'SELECT slot_name FROM pg_replication_slots');
  return rows.map((row) => row.slot_name);
}

/** Waits until `payload`'s counts since `from` are exactly `expected` and stay there past a marker. */
async function settles(probe: FeedProbe, payload: string, expected: number, from: number, marker: string) {
  // A committed write to another table afterwards: once its wakeup arrives, everything before it has.
  await sql(`INSERT INTO marks (note) VALUES ('${marker}')`);
  await probe.counted('public.marks', 1, from);
  assert.equal(probe.count(payload, from), expected, `${payload} after ${marker}`);
}

describe('RawFeed at wal_level = replica', { timeout: 180_000 }, () => {
  // The cluster's hooks belong to the suite, not the file: node:test runs a file's root after hooks late,
  // and the running postmaster would keep the file's process alive past its tests.
  before(async () => {
    const shared = await liveCluster();
    if (shared.external) {
      skip = 'needs a cluster of its own (wal_level = replica, prepared transactions)';
      return;
    }
    cluster = await Cluster.start({
      major: shared.major,
      walLevel: 'replica',
      settings: { max_prepared_transactions: 4 },
    });
    info = cluster.info;
    db = await scratchDatabase(info, 'raw');
  });
  after(() => cluster?.stop());

  before(async () => {
    if (skip) return;
    await sql(
      `CREATE TABLE public.marks (id serial PRIMARY KEY, note text);
       CREATE TABLE public.items (id int PRIMARY KEY, tag int, note text);
       CREATE INDEX ON public.items (tag);`,
    );
  });

  test('starts with Resync(connected) once streaming, replays nothing, and holds no slot', async (t) => {
    if (skip) return t.skip(skip);
    await sql("INSERT INTO items VALUES (1, 1, 'before the feed')");
    assert.deepEqual(await slots(), []);
    const { probe } = openFeed(t);
    const first = await probe.resync('connected');
    assert.ok(first instanceof Resync);
    assert.equal(probe.items[0], first);
    const [sender] = await runSql<{ n: number }>(
      info,
      "SELECT count(*)::int AS n FROM pg_stat_replication WHERE application_name = 'pgnudge'",
    );
    assert.deepEqual(sender, { n: 1 }, 'one physical walsender serves the feed');
    assert.deepEqual(await slots(), [], 'no slot while streaming');
    const mark = probe.mark();
    await settles(probe, 'public.items', 0, mark, 'no backfill');
    assert.equal(probe.count('public.items'), 0, 'a write committed before the feed connected was replayed');
  });

  test('INSERT, UPDATE, HOT UPDATE and DELETE count per row; COPY of 500 rows counts 500', async (t) => {
    if (skip) return t.skip(skip);
    const { probe } = openFeed(t, { tables: ['public.items', 'public.marks'], debounce: 100 });
    await probe.resync('connected');
    const from = probe.mark();
    await sql("INSERT INTO items VALUES (10, 1, 'a'), (11, 1, 'b'), (12, 2, 'c')");
    // A HOT update (no indexed column changes) and a plain one (the indexed tag changes).
    await sql("UPDATE items SET note = 'hot' WHERE id = 10");
    await sql('UPDATE items SET tag = 3 WHERE id = 11');
    await sql('DELETE FROM items WHERE id = 12');
    await settles(probe, 'public.items', 6, from, 'dml');
    const copy = probe.mark();
    await sql("COPY items (id, tag) FROM PROGRAM 'seq 1000 1499 | sed s/$/,7/' WITH (FORMAT csv)");
    await settles(probe, 'public.items', 500, copy, 'copy');
    const batch = probe.items
      .slice(copy)
      .find(
        (item): item is Batch =>
          item instanceof Batch && item.events.some((e) => e.payload === 'public.items'),
      );
    assert.equal(batch?.events.find((e) => e.payload === 'public.items')?.count, 500, 'one event, count 500');
  });

  test('a rolled-back transaction is silent; a rolled-back savepoint drops only its rows', async (t) => {
    if (skip) return t.skip(skip);
    const { probe } = openFeed(t, { tables: ['public.items', 'public.marks'] });
    await probe.resync('connected');
    const from = probe.mark();
    await sql("BEGIN; INSERT INTO items VALUES (20, 0, 'rolled back'); ROLLBACK;");
    await settles(probe, 'public.items', 0, from, 'rollback');
    const sub = probe.mark();
    await sql(
      `BEGIN;
       INSERT INTO items VALUES (21, 0, 'kept');
       SAVEPOINT a; INSERT INTO items VALUES (22, 0, 'dropped'), (23, 0, 'dropped'); ROLLBACK TO a;
       SAVEPOINT b; INSERT INTO items VALUES (24, 0, 'kept too'); RELEASE b;
       COMMIT;`,
    );
    await settles(probe, 'public.items', 2, sub, 'savepoints');
  });

  test('a prepared transaction nudges at COMMIT PREPARED, when its rows become visible, never at PREPARE', async (t) => {
    if (skip) return t.skip(skip);
    const { probe } = openFeed(t, { tables: ['public.items', 'public.marks'] });
    await probe.resync('connected');
    const from = probe.mark();
    await sql(
      "BEGIN; INSERT INTO items VALUES (30, 0, 'prepared'), (31, 0, 'prepared'); PREPARE TRANSACTION 'raw_p1';",
    );
    await settles(probe, 'public.items', 0, from, 'prepared');
    await sql("COMMIT PREPARED 'raw_p1'");
    await probe.counted('public.items', 2, from);
    const aborted = probe.mark();
    await sql("BEGIN; DELETE FROM items WHERE id = 30; PREPARE TRANSACTION 'raw_p2';");
    await sql("ROLLBACK PREPARED 'raw_p2'");
    await settles(probe, 'public.items', 0, aborted, 'rollback prepared');
  });

  test('TRUNCATE, VACUUM FULL and CLUSTER nudge once each; DROP TABLE and CREATE TABLE do not', async (t) => {
    if (skip) return t.skip(skip);
    await sql(
      `CREATE TABLE public.swap (id int PRIMARY KEY, note text);
       INSERT INTO swap SELECT g, 'x' FROM generate_series(1, 20) g;
       CREATE TABLE public.doomed (id int);`,
    );
    const { probe } = openFeed(t, {
      tables: ['public.swap', 'public.doomed', 'public.fresh', 'public.marks'],
    });
    await probe.resync('connected');
    const from = probe.mark();
    await sql('TRUNCATE swap');
    await probe.counted('public.swap', 1, from);
    await sql("INSERT INTO swap SELECT g, 'y' FROM generate_series(1, 5) g");
    await probe.counted('public.swap', 6, from);
    await sql('VACUUM FULL swap');
    await probe.counted('public.swap', 7, from);
    await sql('CLUSTER swap USING swap_pkey');
    await probe.counted('public.swap', 8, from);
    // The same table again: the cache followed its file through every rewrite.
    await sql('TRUNCATE swap');
    await probe.counted('public.swap', 9, from);
    const ddl = probe.mark();
    await sql('DROP TABLE doomed');
    await sql('CREATE TABLE public.fresh (id int)');
    await settles(probe, 'public.doomed', 0, ddl, 'drop');
    assert.equal(probe.count('public.fresh', ddl), 0, 'CREATE TABLE nudged');
    assert.deepEqual(
      probe.items.slice(from).filter((item) => item.type === 'resync'),
      [],
      'no Resync: every file was named',
    );
  });

  test('another database is invisible; unlogged tables are too, TRUNCATE included', async (t) => {
    if (skip) return t.skip(skip);
    const other = await scratchDatabase(info, 'raw_other');
    t.after(() => other.drop());
    await runSql(info, 'CREATE TABLE public.items (id int)', other.name);
    await sql('CREATE UNLOGGED TABLE public.scratch (id int)');
    const { probe } = openFeed(t);
    await probe.resync('connected');
    const from = probe.mark();
    await runSql(info, 'INSERT INTO items SELECT generate_series(1, 50)', other.name);
    await sql('INSERT INTO scratch SELECT generate_series(1, 50)');
    await sql('TRUNCATE scratch');
    await settles(probe, 'public.items', 0, from, 'other database');
    assert.deepEqual(probe.payloads(from), ['public.marks']);
  });

  test('partitions nudge under their root, at any depth, including one created after the feed started (contract R20)', async (t) => {
    if (skip) return t.skip(skip);
    await sql(
      `CREATE TABLE public.events (id int, region text, at int) PARTITION BY LIST (region);
       CREATE TABLE public.events_eu PARTITION OF events FOR VALUES IN ('eu') PARTITION BY RANGE (at);
       CREATE TABLE public.events_eu_1 PARTITION OF events_eu FOR VALUES FROM (0) TO (100);
       CREATE TABLE public.events_us PARTITION OF events FOR VALUES IN ('us');`,
    );
    // The filter names the middle level: its partitions match, and report under the root.
    const { probe } = openFeed(t, { tables: ['public.events_eu', 'public.marks'] });
    await probe.resync('connected');
    const from = probe.mark();
    await sql("INSERT INTO events VALUES (1, 'eu', 5), (2, 'eu', 6), (3, 'us', 1)");
    await settles(probe, 'public.events', 2, from, 'partitions');
    await sql('CREATE TABLE public.events_eu_2 PARTITION OF events_eu FOR VALUES FROM (100) TO (200)');
    await sql("INSERT INTO events VALUES (4, 'eu', 150)");
    await probe.counted('public.events', 3, from);
    await sql('TRUNCATE events');
    await probe.counted('public.events', 4, from);
    assert.deepEqual(probe.payloads(from).sort(), ['public.events', 'public.marks']);
  });

  test('a renamed table nudges under its new name; quoted identifiers arrive unquoted (contract R13)', async (t) => {
    if (skip) return t.skip(skip);
    await sql(`CREATE TABLE public.before_name (id int); CREATE SCHEMA "Odd Schema";
       CREATE TABLE "Odd Schema"."Tab.le ✓ ""q""" (id int);`);
    const { probe } = openFeed(t);
    await probe.resync('connected');
    const from = probe.mark();
    await sql('INSERT INTO before_name VALUES (1)');
    await probe.counted('public.before_name', 1, from);
    await sql('ALTER TABLE before_name RENAME TO after_name');
    await sql('INSERT INTO after_name VALUES (2)');
    await probe.counted('public.after_name', 1, from);
    await sql(`INSERT INTO "Odd Schema"."Tab.le ✓ ""q""" VALUES (1)`);
    await probe.counted('Odd Schema.Tab.le ✓ "q"', 1, from);
    assert.equal(probe.count('public.before_name', from), 1);
  });

  test('a transaction already running at connect: its commit is a Resync, since some of its rows predate the stream', async (t) => {
    if (skip) return t.skip(skip);
    const client = (cluster as Cluster).client(db.name);
    await client.connect();
    t.after(() => client.end().catch(() => {}));
    await client.query("BEGIN; INSERT INTO items VALUES (40, 0, 'early')");
    const { probe } = openFeed(t, { tables: ['public.items', 'public.marks'] });
    // The consumer has taken the connect Resync before the transaction commits.
    await probe.resync('connected');
    const from = probe.mark();
    await client.query("INSERT INTO items VALUES (41, 0, 'late'); COMMIT");
    const resync = await probe.resync('overflow', from);
    assert.ok(resync instanceof Resync);
  });
});

describe('RawFeed at wal_level = logical (the shared cluster)', { timeout: 60_000 }, () => {
  test('works the same: counts, no slot (contract R27)', async (t) => {
    const shared = await liveCluster();
    if (shared.external) return t.skip('external server');
    const scratch = await scratchDatabase(shared, 'raw_logical');
    t.after(() => scratch.drop());
    await runSql(shared, 'CREATE TABLE public.t (id int)', scratch.name);
    const { probe } = openRawFeed(t, { ...feedConnection(shared, scratch.name), debounce: 50 });
    await probe.resync('connected', 0, 30_000);
    const from = probe.mark();
    await runSql(shared, 'INSERT INTO t SELECT generate_series(1, 25)', scratch.name);
    await probe.counted('public.t', 25, from, 30_000);
    await waitFor(() => probe.count('public.t', from) === 25, { what: 'the count to be exact' });
    const rows = await runSql<{ n: number }>(
      shared,
      `SELECT count(*)::int AS n FROM pg_replication_slots WHERE database = '${scratch.name}'`,
    );
    assert.deepEqual(rows, [{ n: 0 }]);
  });
});

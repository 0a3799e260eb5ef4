// WalFeed with a publication (contract R25) against a real server, 15–18: pgoutput counts per table, a
// large transaction streamed while in progress nudges only at its commit, aborted streamed transactions
// and rolled-back subtransactions never nudge, TRUNCATE of several tables, ALTER TABLE inside a
// transaction, partitions under their root with and without publish_via_partition_root (contract R20),
// a key-only publication, a missing publication (contract R11, with the CREATE PUBLICATION to run) and
// one dropped while streaming. On the runner's cluster, in a database of its own whose
// logical_decoding_work_mem is 64kB (a database setting reaches its walsenders), so 2,000 rows stream.
import assert from 'node:assert/strict';
import { after, before, describe, type TestContext, test } from 'node:test';
import { lineageSql } from '../../src/feed/relation-lineage.js';
import { PublicationError, type WalFeedOptions } from '../../src/index.js';
import { type ClusterInfo, runSql, superuserClient } from '../support/cluster.js';
import { feedConnection, openFeed as openTestFeed, slotsIn } from '../support/feed-probe.js';
import { openLiveDatabase, type ScratchDatabase } from '../support/live-database.js';
import { waitFor } from '../support/wait.js';

/** Rows of a transaction large enough to stream at logical_decoding_work_mem = 64kB. */
const LARGE = 2000;

let info: ClusterInfo;
let db: ScratchDatabase;
before(async () => {
  ({ info, db } = await openLiveDatabase(
    'pgfeed',
    `CREATE TABLE public.orders (id int PRIMARY KEY, note text);
     CREATE TABLE public.stations (id int PRIMARY KEY, name text);
     CREATE TABLE public.big (id int PRIMARY KEY, pad text);
     CREATE TABLE public.big2 (id int PRIMARY KEY, pad text);
     CREATE TABLE public.gone (id int PRIMARY KEY, pad text);
     CREATE TABLE public.kept (id int PRIMARY KEY);
     CREATE TABLE public.altered (id int PRIMARY KEY);
     CREATE TABLE public.trunc_a (id int PRIMARY KEY);
     CREATE TABLE public.trunc_b (id int PRIMARY KEY);
     CREATE TABLE public.trunc_c (id int PRIMARY KEY);
     CREATE TABLE public.sentinel (id serial PRIMARY KEY);
     CREATE TABLE public.keyed (id int PRIMARY KEY, a text, b text);
     CREATE TABLE public.parted (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
     CREATE TABLE public.parted_eu PARTITION OF public.parted FOR VALUES IN ('eu');
     CREATE TABLE public.parted_us PARTITION OF public.parted FOR VALUES IN ('us') PARTITION BY RANGE (id);
     CREATE TABLE public.parted_us_low PARTITION OF public.parted_us FOR VALUES FROM (0) TO (1000);
     CREATE TABLE public.parted_us_high PARTITION OF public.parted_us FOR VALUES FROM (1000) TO (MAXVALUE);
     CREATE TABLE public.loner (id int, region text NOT NULL, PRIMARY KEY (id, region));
     CREATE PUBLICATION pub_all FOR ALL TABLES;
     CREATE PUBLICATION pub_root FOR ALL TABLES WITH (publish_via_partition_root = true);
     CREATE PUBLICATION pub_mid FOR TABLE public.parted_us WITH (publish_via_partition_root = true);
     CREATE PUBLICATION "pub keys" FOR TABLE public.keyed (id), public.orders (id);
     CREATE PUBLICATION pub_dropped FOR TABLE public.sentinel;`,
  ));
  await runSql(info, `ALTER DATABASE ${db.name} SET logical_decoding_work_mem = '64kB'`);
});
after(() => db?.drop());

const sql = (text: string) => runSql(info, text, db.name);
const large = (table: string, from = 1) =>
  `INSERT INTO ${table} SELECT g, repeat('x', 100) FROM generate_series(${from}, ${from + LARGE - 1}) g`;

/** A feed on this file's database through `publication`, closed when the test ends. */
function openFeed(t: TestContext, publication: string, options: WalFeedOptions = {}) {
  return openTestFeed(t, { ...feedConnection(info, db.name), publication, ...options });
}

/** Commits a sentinel row and waits until `probes` have all seen it: everything before it was decoded. */
async function drained(...probes: ReturnType<typeof openFeed>['probe'][]): Promise<void> {
  const marks = probes.map((probe) => probe.count('public.sentinel'));
  await sql('INSERT INTO public.sentinel DEFAULT VALUES');
  await Promise.all(probes.map((probe, i) => probe.counted('public.sentinel', marks[i]! + 1)));
}

/** Transactions the feed's slot streamed while in progress (pg_stat_replication_slots). */
async function streamedTransactions(slot: string | null): Promise<number> {
  const [row] = await sql(`SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name = '${slot}'`);
  return Number((row as { stream_txns?: string } | undefined)?.stream_txns ?? 0);
}

describe('WalFeed with a publication (pgoutput)', { timeout: 120_000 }, () => {
  test('counts every change per table after Resync(connected), with a pgoutput slot; tables filters in the client', async (t) => {
    const all = openFeed(t, 'pub_all');
    const filtered = openFeed(t, 'pub_all', { tables: ['public.stations', 'public.sentinel'] });
    await Promise.all([all.probe.resync('connected'), filtered.probe.resync('connected')]);
    assert.equal(all.probe.items[0]?.type, 'resync');
    assert.equal(all.feed.plugin, 'pgoutput');
    assert.deepEqual(
      await sql(
        `SELECT temporary, plugin FROM pg_replication_slots WHERE slot_name = '${all.feed.slotName}'`,
      ),
      [{ temporary: true, plugin: 'pgoutput' }],
    );
    await sql(`INSERT INTO public.orders VALUES (1, 'a'), (2, 'b'), (3, 'c');
      UPDATE public.orders SET note = 'z' WHERE id = 1; DELETE FROM public.orders WHERE id = 2;
      INSERT INTO public.stations VALUES (1, 'x'), (2, 'y')`);
    // Its own query: inside a multi-statement query, ROLLBACK would undo the statements before it too.
    await sql(`BEGIN; INSERT INTO public.orders VALUES (99, 'rolled back'); ROLLBACK`);
    await drained(all.probe, filtered.probe);
    assert.equal(all.probe.count('public.orders'), 5);
    assert.equal(all.probe.count('public.stations'), 2);
    assert.deepEqual(filtered.probe.payloads(), ['public.stations', 'public.sentinel']);
    assert.equal(filtered.probe.count('public.stations'), 2);
  });

  test('a large transaction streamed while in progress nudges only when it commits, with its exact count', async (t) => {
    const { feed, probe } = openFeed(t, 'pub_all', { tables: ['public.big', 'public.sentinel'] });
    await probe.resync('connected');
    const client = await superuserClient(info, db.name);
    t.after(() => client.end());
    await client.query('BEGIN');
    await client.query(large('public.big'));
    // The sentinel commits after the big insert's changes were decoded (and streamed): none may show.
    await drained(probe);
    assert.equal(probe.count('public.big'), 0, 'nothing of an uncommitted transaction nudges');
    await client.query('COMMIT');
    await probe.counted('public.big', LARGE);
    await drained(probe);
    assert.equal(probe.count('public.big'), LARGE);
    await waitFor(async () => (await streamedTransactions(feed.slotName)) > 0, {
      what: 'the slot to have streamed a transaction in progress',
    });
  });

  test('an aborted streamed transaction and a rolled-back subtransaction never nudge', async (t) => {
    const { feed, probe } = openFeed(t, 'pub_all', {
      tables: ['public.big2', 'public.gone', 'public.kept', 'public.sentinel'],
    });
    await probe.resync('connected');
    const client = await superuserClient(info, db.name);
    t.after(() => client.end());
    await client.query('BEGIN');
    await client.query(large('public.big2'));
    await client.query('SAVEPOINT s');
    await client.query(large('public.gone'));
    await client.query('ROLLBACK TO SAVEPOINT s');
    await client.query('INSERT INTO public.kept VALUES (1)');
    await client.query('COMMIT');
    await client.query('BEGIN');
    await client.query(large('public.gone', 10_001));
    // Decoded (so streamed) while still in progress: PostgreSQL 18 drops a transaction it finds already
    // aborted instead of streaming it, and paced reads can let the walsender fall that far behind.
    await drained(probe);
    await client.query('ROLLBACK');
    await drained(probe);
    await probe.counted('public.big2', LARGE);
    assert.equal(probe.count('public.big2'), LARGE);
    assert.equal(probe.count('public.kept'), 1);
    assert.equal(probe.count('public.gone'), 0);
    await waitFor(async () => (await streamedTransactions(feed.slotName)) >= 2, {
      what: 'the slot to have streamed both transactions in progress',
    });
  });

  test('TRUNCATE of several tables nudges each once; ALTER TABLE between inserts of one streamed transaction loses none', async (t) => {
    const { probe } = openFeed(t, 'pub_all', {
      tables: ['public.trunc_a', 'public.trunc_b', 'public.trunc_c', 'public.altered', 'public.sentinel'],
    });
    await probe.resync('connected');
    await sql(`INSERT INTO public.trunc_a VALUES (1); INSERT INTO public.trunc_b VALUES (1);
      INSERT INTO public.trunc_c VALUES (1); TRUNCATE public.trunc_a, public.trunc_b`);
    await sql(`BEGIN; INSERT INTO public.altered SELECT g FROM generate_series(1, ${LARGE}) g;
      ALTER TABLE public.altered ADD COLUMN extra text;
      INSERT INTO public.altered VALUES (${LARGE + 1}, 'after'); COMMIT`);
    await drained(probe);
    assert.deepEqual(
      ['trunc_a', 'trunc_b', 'trunc_c', 'altered'].map((table) => probe.count(`public.${table}`)),
      [2, 2, 1, LARGE + 1],
    );
  });

  test('partitions count under their root, with and without publish_via_partition_root, also when created, attached or detached later, or by their own name with partitions: leaf (contract R20)', async (t) => {
    const leaf = openFeed(t, 'pub_all');
    const root = openFeed(t, 'pub_root');
    const mid = openFeed(t, 'pub_mid');
    const us = openFeed(t, 'pub_all', { tables: ['public.parted_us', 'public.sentinel'] });
    const named = openFeed(t, 'pub_all', {
      tables: ['public.parted_us', 'public.sentinel'],
      partitions: 'leaf',
    });
    const feeds = [leaf, root, mid, us, named];
    await Promise.all(feeds.map(({ probe }) => probe.resync('connected')));
    await sql(`INSERT INTO public.parted VALUES (1, 'eu'), (2, 'us'), (2000, 'us');
      CREATE TABLE public.parted_asia PARTITION OF public.parted FOR VALUES IN ('asia');
      INSERT INTO public.parted VALUES (3, 'asia');
      ALTER TABLE public.parted ATTACH PARTITION public.loner FOR VALUES IN ('loner');
      INSERT INTO public.loner VALUES (4, 'loner');`);
    // A change to a relation not yet placed waits for its look-up while later ones pass (the stream never
    // waits), so a sentinel proves nothing about them: wait for each expected count, then drain for extras.
    await Promise.all([
      leaf.probe.counted('public.parted', 5),
      root.probe.counted('public.parted', 5),
      mid.probe.counted('public.parted', 2),
      us.probe.counted('public.parted', 2),
      named.probe.counted('public.parted_us_low', 1),
      named.probe.counted('public.parted_us_high', 1),
    ]);
    await drained(leaf.probe, root.probe, us.probe, named.probe);
    for (const [name, { probe }] of [
      ['pub_all', leaf],
      ['pub_root', root],
    ] as const) {
      assert.equal(probe.count('public.parted'), 5, name);
      assert.deepEqual(
        probe.payloads().filter((payload) => payload !== 'public.sentinel'),
        ['public.parted'],
        name,
      );
    }
    assert.deepEqual(mid.probe.payloads(), ['public.parted']);
    assert.equal(us.probe.count('public.parted'), 2);
    // partitions: 'leaf': the same entry matches, and each change is named by the partition it went to.
    assert.deepEqual(
      named.probe
        .payloads()
        .filter((payload) => payload !== 'public.sentinel')
        .sort(),
      ['public.parted_us_high', 'public.parted_us_low'],
    );
    // Detached, a partition is a table of its own again: its changes carry its own name.
    const before = leaf.probe.mark();
    await sql(`ALTER TABLE public.parted DETACH PARTITION public.parted_eu;
      INSERT INTO public.parted_eu VALUES (5, 'eu')`);
    await Promise.all([
      leaf.probe.counted('public.parted_eu', 1, before),
      root.probe.counted('public.parted_eu', 1),
    ]);
    await drained(leaf.probe, root.probe);
    assert.deepEqual(
      leaf.probe.payloads(before).filter((payload) => payload !== 'public.sentinel'),
      ['public.parted_eu'],
    );
    assert.equal(root.probe.count('public.parted_eu'), 1);
  });

  test('a key-only publication counts every change of its tables; a watched table it does not cover is named in a warning', async (t) => {
    const { probe, log } = openFeed(t, 'pub keys', {
      tables: ['public.keyed', 'public.orders', 'public.stations'],
    });
    await probe.resync('connected');
    await log.failure(
      /publication "pub keys" does not cover "public\.stations": .*ALTER PUBLICATION "pub keys" ADD TABLE/,
    );
    await sql(`INSERT INTO public.keyed VALUES (1, 'a', 'b'), (2, 'c', 'd');
      UPDATE public.keyed SET a = 'changed' WHERE id = 1; DELETE FROM public.keyed WHERE id = 2;
      INSERT INTO public.orders VALUES (50, 'x'); INSERT INTO public.stations VALUES (50, 'not published')`);
    await probe.counted('public.orders', 1);
    await probe.counted('public.keyed', 4);
    assert.equal(probe.count('public.keyed'), 4);
    assert.equal(probe.count('public.stations'), 0);
  });

  test('a missing publication fails the feed at once with the CREATE PUBLICATION to run, and leaves no slot (contract R11)', async (t) => {
    const { probe } = openFeed(t, 'pub_missing', {
      tables: ['public.orders', 'public.parted', 'public.not_yet'],
    });
    await probe.finished;
    assert.ok(probe.error instanceof PublicationError, String(probe.error));
    assert.equal(probe.error.code, 'PGNUDGE_ERR_PUBLICATION_MISSING');
    assert.equal(probe.error.publication, 'pub_missing');
    assert.ok(
      probe.error.message.includes(
        'CREATE PUBLICATION pub_missing FOR TABLE public.orders (id), public.parted (id, region);',
      ),
      probe.error.message,
    );
    assert.match(probe.error.message, /public\.not_yet does not exist yet/);
    assert.deepEqual(probe.items, []);
    assert.deepEqual(await slotsIn(info, db.name), []);
  });

  test('a publication dropped while streaming ends the session; once it exists again the feed resyncs and nudges', async (t) => {
    const { probe, log } = openFeed(t, 'pub_dropped');
    await probe.resync('connected');
    const mark = log.mark();
    await sql('DROP PUBLICATION pub_dropped; INSERT INTO public.sentinel DEFAULT VALUES');
    await log.failure(/pub_dropped/, mark);
    await sql('CREATE PUBLICATION pub_dropped FOR TABLE public.sentinel');
    const back = await probe.resync('reconnected', 0, 30_000);
    const from = probe.after(back);
    await sql('INSERT INTO public.sentinel DEFAULT VALUES');
    await probe.counted('public.sentinel', 1, from);
  });
});

describe('the partition look-up waits for its transaction to be visible', { timeout: 60_000 }, () => {
  test("an xid is reported until the look-up's snapshot sees it committed: running, newest of all, or aborted", async (t) => {
    const writer = await superuserClient(info, db.name);
    const reader = await superuserClient(info, db.name);
    t.after(() => Promise.all([writer.end(), reader.end()]));
    const [{ oid }] = (await reader.query("SELECT 'public.orders'::regclass::oid AS oid")).rows as [
      { oid: number },
    ];
    // pg parses the json column itself; the feed reads it as text through parseRunning (unit-tested).
    const running = async (xids: number[]) => {
      const result = await reader.query({ text: lineageSql([oid], false, xids), rowMode: 'array' });
      return new Set((result.rows[0] as unknown[])[3] as number[] | null);
    };
    const xid32 = (full: string) => Number(BigInt(full) % 2n ** 32n);
    await writer.query('BEGIN');
    const open = xid32((await writer.query('SELECT pg_current_xact_id()::text AS x')).rows[0].x);
    // The newest transaction of all, still open: past every snapshot's xmax, listed in no xip.
    assert.deepEqual(await running([open]), new Set([open]));
    await writer.query('COMMIT');
    assert.deepEqual(await running([open]), new Set());
    // Older and committed: seen; one not assigned yet: not.
    assert.deepEqual(await running([open, open + 1000]), new Set([open + 1000]));
  });
});

// WalFeed against a real server, once per plugin the major has: the feed contract end to end (contract §3:
// R1–R4, R13–R15, R8's confirmed position).
import assert from 'node:assert/strict';
import { after, before, describe, type TestContext, test } from 'node:test';
import { Batch, Resync, WalFeed, type WalFeedOptions } from '../../src/index.js';
import { type ClusterInfo, pluginUnavailable, runSql, scratchDatabase } from '../support/cluster.js';
import { feedConnection, openFeed as openTestFeed, slotsIn } from '../support/feed-probe.js';
import { openLiveDatabase, type ScratchDatabase } from '../support/live-database.js';
import { waitFor } from '../support/wait.js';

let info: ClusterInfo;
let db: ScratchDatabase;
before(async () => {
  ({ info, db } = await openLiveDatabase(
    'feed',
    `CREATE TABLE public.orders (id int PRIMARY KEY, note text);
     CREATE TABLE public.stations (id int PRIMARY KEY, name text);
     CREATE TABLE public.ignored (id int PRIMARY KEY);
     CREATE SCHEMA "Odd Schema";
     CREATE TABLE "Odd Schema"."Tab.le ✓ ""q""" (id int PRIMARY KEY);
     CREATE SCHEMA "a.b"; CREATE TABLE "a.b"."c" (id int);
     CREATE SCHEMA a; CREATE TABLE a."b.c" (id int);
     CREATE TABLE public."user" (id int);`,
  ));
});
after(() => db?.drop());

const sql = (text: string) => runSql(info, text, db.name);
const ODD = '"Odd Schema"."Tab.le ✓ ""q"""';
const ODD_PAYLOAD = 'Odd Schema.Tab.le ✓ "q"';

/** A feed on this file's database with a short debounce, closed when the test ends. */
const openFeed = (t: TestContext, options: WalFeedOptions = {}) =>
  openTestFeed(t, { ...feedConnection(info, db.name), ...options });

for (const plugin of ['wal2json', 'test_decoding'] as const) {
  describe(`WalFeed with ${plugin}`, { timeout: 60_000 }, () => {
    let skip: string | undefined;
    before(() => {
      skip = pluginUnavailable(info, plugin);
    });

    test('starts with Resync(connected) once streaming, over verified TLS with SCRAM, and never backfills', async (t) => {
      if (skip) return t.skip(skip);
      await sql(`INSERT INTO orders VALUES (${plugin === 'wal2json' ? 1 : 2}, 'before the feed')`);
      const { feed, probe } = openFeed(t, { plugin });
      const first = await probe.resync('connected');
      assert.ok(first instanceof Resync);
      assert.equal(probe.items[0], first, 'the first item is the Resync');
      assert.equal(feed.plugin, plugin);
      const [slot] = await runSql<{ temporary: boolean; plugin: string }>(
        info,
        `SELECT temporary, plugin FROM pg_replication_slots WHERE slot_name = '${feed.slotName}'`,
      );
      assert.deepEqual(slot, { temporary: true, plugin });
      if (info.caFile) {
        const [session] = await runSql<{ ssl: boolean }>(
          info,
          `SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_replication r USING (pid) WHERE r.application_name = 'pgnudge' AND r.pid IN (SELECT active_pid FROM pg_replication_slots WHERE slot_name = '${feed.slotName}')`,
        );
        assert.deepEqual(session, { ssl: true });
      }
      // A marker write after the Resync: the pre-connect insert must not appear before or with it.
      const mark = probe.mark();
      await sql(
        "INSERT INTO stations VALUES (1000, 'marker') ON CONFLICT (id) DO UPDATE SET name = excluded.name",
      );
      await probe.counted('public.stations', 1, mark);
      assert.equal(
        probe.count('public.orders'),
        0,
        'a write committed before the feed connected was replayed',
      );
    });

    test('a 50-row transaction is one event with count 50', async (t) => {
      if (skip) return t.skip(skip);
      // The default-sized debounce window: a 5 ms one can split a transaction's rows on a loaded machine.
      const { probe } = openFeed(t, { plugin, tables: ['public.stations'], debounce: 250 });
      await probe.resync('connected');
      const mark = probe.mark();
      const base = plugin === 'wal2json' ? 0 : 100;
      await sql(
        `INSERT INTO stations SELECT g, 'row ' || g FROM generate_series(${base + 1}, ${base + 50}) g`,
      );
      const batch = await probe.next((item): item is Batch => item instanceof Batch, {
        from: mark,
        what: 'a batch',
      });
      assert.equal(batch.events.length, 1);
      assert.equal(batch.events[0]?.payload, 'public.stations');
      assert.equal(batch.events[0]?.count, 50);
      assert.ok(batch.events[0]?.firstSeen instanceof Date);
    });

    test('INSERT, UPDATE, DELETE and TRUNCATE each nudge; a rolled-back transaction does not', async (t) => {
      if (skip) return t.skip(skip);
      const table = `ops_${plugin}`;
      await sql(`CREATE TABLE ${table} (id int PRIMARY KEY, v int)`);
      const { probe } = openFeed(t, { plugin, tables: [`public.${table}`] });
      await probe.resync('connected');
      const payload = `public.${table}`;
      const steps: [string, number][] = [
        [`INSERT INTO ${table} VALUES (1, 1), (2, 2)`, 2],
        [`UPDATE ${table} SET v = v + 1`, 4],
        [`DELETE FROM ${table} WHERE id = 1`, 5],
        [`TRUNCATE ${table}`, 6],
      ];
      for (const [statement, total] of steps) {
        await sql(statement);
        await probe.counted(payload, total);
      }
      await sql(`BEGIN; INSERT INTO ${table} VALUES (10, 10); ROLLBACK;`);
      // A committed marker afterwards proves the rolled-back insert was skipped, not merely late.
      await sql(`INSERT INTO ${table} VALUES (11, 11)`);
      await probe.counted(payload, 7);
      await waitFor(() => probe.count(payload) === 7, { what: 'counts to settle', timeoutMs: 2000 });
      assert.equal(probe.count(payload), 7);
    });

    test('UPDATE and DELETE of tables without a replica identity nudge too, counted as with any table (contract R3)', async (t) => {
      if (skip) return t.skip(skip);
      // wal2json writes no record for these rows, only a WARNING that names the table (raw, so a name
      // holding "." is ambiguous: the filter keeps the one reading that is watched).
      const schema = `p"."q_${plugin}`;
      const tables = {
        [`public.nopk_${plugin}`]: `public.nopk_${plugin}`,
        [`public.nothing_${plugin}`]: `public.nothing_${plugin}`,
        [`"${schema.replaceAll('"', '""')}".r`]: `${schema}.r`,
      };
      await sql(
        `CREATE TABLE public.nopk_${plugin} (id int, v int);
         CREATE TABLE public.nothing_${plugin} (id int PRIMARY KEY, v int);
         ALTER TABLE public.nothing_${plugin} REPLICA IDENTITY NOTHING;
         CREATE SCHEMA "${schema.replaceAll('"', '""')}";
         CREATE TABLE "${schema.replaceAll('"', '""')}".r (id int, v int);`,
      );
      const { probe } = openFeed(t, { plugin, tables: Object.keys(tables) });
      await probe.resync('connected');
      const steps: [string, number][] = [
        ['INSERT INTO %s VALUES (1, 1), (2, 2)', 2],
        ['UPDATE %s SET v = v + 1', 4],
        ['DELETE FROM %s WHERE id = 1', 5],
      ];
      for (const [statement, total] of steps) {
        await sql(
          Object.keys(tables)
            .map((table) => `${statement.replace('%s', table)};`)
            .join(' '),
        );
        for (const payload of Object.values(tables)) await probe.counted(payload, total);
      }
      await sql(`INSERT INTO public.nopk_${plugin} VALUES (9, 9)`);
      await probe.counted(`public.nopk_${plugin}`, 6);
      for (const payload of Object.values(tables)) {
        assert.equal(probe.count(payload), payload === `public.nopk_${plugin}` ? 6 : 5, payload);
      }
      assert.deepEqual(probe.payloads().sort(), Object.values(tables).sort());
    });

    test('identifiers arrive unquoted and byte-identical, and a filter matches by real identity (contract R13, R14)', async (t) => {
      if (skip) return t.skip(skip);
      const { probe } = openFeed(t, { plugin, tables: [ODD, '"a.b"."c"', 'public."user"'] });
      await probe.resync('connected');
      const mark = probe.mark();
      await sql(`INSERT INTO ${ODD} VALUES (${plugin === 'wal2json' ? 1 : 2})`);
      await sql('INSERT INTO a."b.c" VALUES (1)');
      await sql('INSERT INTO "a.b"."c" VALUES (1)');
      await sql('INSERT INTO public."user" VALUES (1)');
      await sql('INSERT INTO public.ignored VALUES (1) ON CONFLICT DO NOTHING');
      await probe.counted('public.user', 1, mark);
      await probe.counted(ODD_PAYLOAD, 1, mark);
      // "a"."b.c" shares the payload "a.b.c" with "a.b"."c" but is a different table: exactly one counts.
      assert.equal(probe.count('a.b.c', mark), 1);
      assert.deepEqual(
        probe.payloads(mark).sort(),
        ['Odd Schema.Tab.le ✓ "q"', 'a.b.c', 'public.user'].sort(),
      );
    });

    test('multi-table TRUNCATE nudges every table once', async (t) => {
      if (skip) return t.skip(skip);
      const [x, y] = [`tx_${plugin}`, `ty_${plugin}`];
      await sql(`CREATE TABLE ${x} (id int); CREATE TABLE ${y} (id int)`);
      const { probe } = openFeed(t, { plugin, tables: [`public.${x}`, `public.${y}`] });
      await probe.resync('connected');
      await sql(`TRUNCATE ${x}, ${y}`);
      await probe.counted(`public.${x}`, 1);
      await probe.counted(`public.${y}`, 1);
    });

    test('writes only to filtered-out tables and to another database still advance confirmed_flush_lsn (contract R8)', async (t) => {
      if (skip) return t.skip(skip);
      const { feed, probe } = openFeed(t, {
        plugin,
        tables: ['public.orders'],
        statusInterval: 100,
        livenessTimeout: 5000,
      });
      await probe.resync('connected');
      const slot = feed.slotName;
      const confirmed = async () => {
        const [row] = await runSql<{ lsn: string }>(
          info,
          `SELECT (confirmed_flush_lsn - '0/0'::pg_lsn)::text AS lsn FROM pg_replication_slots WHERE slot_name = '${slot}'`,
        );
        return BigInt(row?.lsn ?? '0');
      };
      const other = await scratchDatabase(info, 'other');
      t.after(() => other.drop());
      await runSql(info, 'CREATE TABLE noise (id int)', other.name);
      const start = await confirmed();
      for (let i = 0; i < 5; i++) {
        await sql(
          'INSERT INTO ignored VALUES (DEFAULT) ON CONFLICT DO NOTHING'.replace('DEFAULT', String(100 + i)),
        );
        await runSql(info, 'INSERT INTO noise VALUES (1)', other.name);
      }
      const [{ lsn: current } = { lsn: '0' }] = await runSql<{ lsn: string }>(
        info,
        "SELECT (pg_current_wal_lsn() - '0/0'::pg_lsn)::text AS lsn",
      );
      await waitFor(async () => (await confirmed()) >= BigInt(current), {
        what: `confirmed_flush_lsn to pass ${current} (was ${start})`,
        timeoutMs: 15_000,
      });
      assert.equal(probe.count('public.ignored'), 0);
    });

    test('failsafe yields Resync(failsafe) on its interval', async (t) => {
      if (skip) return t.skip(skip);
      const { probe } = openFeed(t, { plugin, failsafe: 150 });
      await probe.resync('connected');
      await probe.resync('failsafe', 1);
    });
  });
}

describe('plugin auto', () => {
  test('uses wal2json where installed, else test_decoding with one warning (contract R15)', async (t) => {
    const { feed, probe, log } = openFeed(t);
    await probe.resync('connected');
    const expected = info.plugins.includes('wal2json') ? 'wal2json' : 'test_decoding';
    assert.equal(feed.plugin, expected);
    assert.equal(
      log.failures().filter((w) => /wal2json is not usable on the server/.test(w)).length,
      expected === 'wal2json' ? 0 : 1,
    );
  });
});

describe('ending the feed', () => {
  test('break ends the iteration and the slot disappears (contract R10, R12)', async (t) => {
    const feed = new WalFeed({ ...feedConnection(info, db.name), debounce: 5 });
    t.after(() => feed.close());
    let slot: string | null = null;
    for await (const item of feed) {
      assert.equal(item.type, 'resync');
      slot = feed.slotName;
      break;
    }
    assert.ok(slot);
    assert.equal(feed.closed, true);
    await waitFor(async () => !(await slotsIn(info, db.name)).includes(slot as string), {
      what: `slot ${slot} to disappear`,
    });
  });

  test('an AbortSignal ends a pending next() and Symbol.asyncDispose closes', async () => {
    const controller = new AbortController();
    const feed = new WalFeed({ ...feedConnection(info, db.name), signal: controller.signal });
    const iterator = feed[Symbol.asyncIterator]();
    const first = await iterator.next();
    assert.equal(first.done, false);
    const pending = iterator.next();
    controller.abort();
    assert.deepEqual(await pending, { done: true, value: undefined });
    await feed[Symbol.asyncDispose]();
    assert.equal(feed.closed, true);
  });
});

// Partitioned tables against a real server (contract R20), once per plugin the major has: a change to a
// partition at any depth is reported under the partition root, a `tables` entry naming a partitioned table
// at any level matches every partition below it, partitions created, attached or detached while the feed
// runs follow (their first change nudges or resyncs), and `partitions: 'leaf'` keeps PostgreSQL's naming.
import assert from 'node:assert/strict';
import { after, before, describe, type TestContext, test } from 'node:test';
import type { FeedItem } from '../../src/feed/items.js';
import type { WalFeedOptions } from '../../src/index.js';
import { type ClusterInfo, pluginUnavailable, runSql } from '../support/cluster.js';
import { type FeedProbe, feedConnection, openFeed as openTestFeed } from '../support/feed-probe.js';
import { openLiveDatabase, type ScratchDatabase } from '../support/live-database.js';
import { waitFor } from '../support/wait.js';

let info: ClusterInfo;
let db: ScratchDatabase;
before(async () => {
  ({ info, db } = await openLiveDatabase('partitions'));
});
after(() => db?.drop());

const sql = (text: string) => runSql(info, text, db.name);

/** A feed on this file's database, closed when the test ends. */
const openFeed = (t: TestContext, options: WalFeedOptions) =>
  openTestFeed(t, { ...feedConnection(info, db.name), ...options });

/** The US partition's table name: a quote and a backslash, which the catalog lookup must carry as they are. */
const usName = (prefix: string) => `${prefix} U'S\\`;

/**
 * A two-level partitioned table `<prefix>` of its own per test (so no test sees another's writes): list
 * partitions by region, `eu` partitioned again by id, and `us` in another schema with an awkward name.
 */
async function createEvents(prefix: string): Promise<{ root: string; us: string }> {
  const us = `"Part Schema"."${usName(prefix)}"`;
  await sql(
    `CREATE SCHEMA IF NOT EXISTS "Part Schema";
     CREATE TABLE public.${prefix} (id int, region text, note text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
     CREATE TABLE public.${prefix}_eu PARTITION OF public.${prefix} FOR VALUES IN ('eu') PARTITION BY RANGE (id);
     CREATE TABLE public.${prefix}_eu_low PARTITION OF public.${prefix}_eu FOR VALUES FROM (0) TO (1000);
     CREATE TABLE public.${prefix}_eu_high PARTITION OF public.${prefix}_eu FOR VALUES FROM (1000) TO (MAXVALUE);
     CREATE TABLE ${us} PARTITION OF public.${prefix} FOR VALUES IN ('us');
     CREATE TABLE public.${prefix}_plain (id int PRIMARY KEY);`,
  );
  return { root: `public.${prefix}`, us };
}

/** Waits for a Resync or a batch naming `payload` at or after `from`: "the first change nudges or resyncs". */
function nudgedOrResynced(probe: FeedProbe, payload: string, from: number): Promise<FeedItem> {
  return probe.next(
    (item): item is FeedItem =>
      item.type === 'resync' || item.events.some((event) => event.payload === payload),
    { from, what: `a batch naming ${payload}, or a Resync` },
  );
}

/** Waits until nothing more arrives for the changes counted so far (a settled count, not a sleep). */
async function settled(probe: FeedProbe, payload: string, from: number, expected: number) {
  await probe.counted(payload, expected, from);
  await waitFor(() => probe.count(payload, from) === expected, {
    what: `the count of ${payload} to stay ${expected}`,
    timeoutMs: 2000,
  });
}

for (const plugin of ['wal2json', 'test_decoding'] as const) {
  describe(`partitions with ${plugin}`, { timeout: 240_000 }, () => {
    let skip: string | undefined;
    before(() => {
      skip = pluginUnavailable(info, plugin);
    });
    const name = (what: string) => `${what}_${plugin === 'wal2json' ? 'w' : 't'}`;

    test('changes through the root and into a leaf are reported under the root, with every op counted', async (t) => {
      if (skip) return t.skip(skip);
      const { root, us } = await createEvents(name('ev_root'));
      const { probe } = openFeed(t, { plugin, debounce: 50 });
      await probe.resync('connected');
      const steps: [string, number][] = [
        // One row per leaf: eu_low, eu_high (two levels down) and the US partition in another schema.
        [`INSERT INTO ${root} VALUES (1, 'eu', 'a'), (2000, 'eu', 'b'), (3, 'us', 'c')`, 3],
        [`UPDATE ${root} SET note = 'x' WHERE id IN (1, 3)`, 5],
        [`DELETE FROM ${root} WHERE id = 2000`, 6],
        // Straight into a leaf, bypassing the root.
        [`INSERT INTO ${root}_eu_low VALUES (4, 'eu', 'd')`, 7],
        [`INSERT INTO ${us} VALUES (5, 'us', 'e')`, 8],
      ];
      for (const [statement, total] of steps) {
        await sql(statement);
        await probe.counted(root, total);
      }
      // A row moved between partitions: a delete from one and an insert into the other (two changes at most).
      const moved = probe.mark();
      await sql(`UPDATE ${root} SET region = 'us' WHERE id = 4`);
      await probe.counted(root, 1, moved);
      await sql(`INSERT INTO ${root}_plain VALUES (1)`);
      await probe.counted(`${root}_plain`, 1, moved);
      assert.ok(
        probe.count(root, moved) <= 2,
        `a moved row counts at most twice (${probe.count(root, moved)})`,
      );
      // TRUNCATE through the root, and of one leaf: at least 1 each.
      const truncated = probe.mark();
      await sql(`TRUNCATE ${root}`);
      await probe.counted(root, 1, truncated);
      const leaf = probe.mark();
      await sql(`TRUNCATE ${root}_eu_high`);
      await probe.counted(root, 1, leaf);
      assert.deepEqual(probe.payloads().sort(), [root, `${root}_plain`].sort(), 'no partition is named');
    });

    test('a filter naming the root matches every partition at any depth, and nothing else', async (t) => {
      if (skip) return t.skip(skip);
      const { root, us } = await createEvents(name('ev_filter'));
      const { probe } = openFeed(t, { plugin, tables: [root] });
      await probe.resync('connected');
      await sql(`INSERT INTO ${root}_plain VALUES (1)`);
      await sql(`INSERT INTO ${root}_eu_high VALUES (1001, 'eu', 'a')`);
      await sql(`INSERT INTO ${us} VALUES (2, 'us', 'b')`);
      await sql(`UPDATE ${root} SET note = 'c'`);
      await settled(probe, root, 0, 4);
      assert.deepEqual(probe.payloads(), [root]);
    });

    test('a filter naming a mid-level partitioned table matches only the partitions below it', async (t) => {
      if (skip) return t.skip(skip);
      const { root, us } = await createEvents(name('ev_mid'));
      const { probe } = openFeed(t, { plugin, tables: [`${root}_eu`] });
      await probe.resync('connected');
      await sql(`INSERT INTO ${us} VALUES (1, 'us', 'not below eu')`);
      await sql(`INSERT INTO ${root} VALUES (2, 'eu', 'a'), (2002, 'eu', 'b')`);
      await settled(probe, root, 0, 2);
      assert.deepEqual(probe.payloads(), [root], 'reported under the root, US not matched');
    });

    test("partitions: 'leaf' names each partition itself, with the same matching", async (t) => {
      if (skip) return t.skip(skip);
      const { root, us } = await createEvents(name('ev_leaf'));
      const { probe } = openFeed(t, { plugin, tables: [root], partitions: 'leaf' });
      await probe.resync('connected');
      await sql(`INSERT INTO ${root}_plain VALUES (1)`);
      await sql(`INSERT INTO ${root} VALUES (1, 'eu', 'a'), (1001, 'eu', 'b'), (2, 'us', 'c')`);
      await sql(`INSERT INTO ${us} VALUES (3, 'us', 'd')`);
      const usPayload = `Part Schema.${usName(name('ev_leaf'))}`;
      await settled(probe, usPayload, 0, 2);
      await probe.counted(`${root}_eu_low`, 1);
      await probe.counted(`${root}_eu_high`, 1);
      assert.deepEqual(probe.payloads().sort(), [`${root}_eu_high`, `${root}_eu_low`, usPayload].sort());
    });

    test('one transaction over 1,200 tables the feed has not looked up is one batch: the debounce waits for the lookups', {
      timeout: 120_000,
    }, async (t) => {
      if (skip) return t.skip(skip);
      const tables = Array.from({ length: 1200 }, (_, i) => `public.${name('wide')}_${i}`);
      await sql(tables.map((table) => `CREATE TABLE ${table} (id int);`).join('\n'));
      t.after(() => sql(tables.map((table) => `DROP TABLE ${table};`).join('\n')));
      // Every table is unknown to a feed watching all of them, so each first change waits for a lookup:
      // the first asks for one table, the next for the rest, well past a 100 ms debounce. The cap is far
      // away, so only the lookups could cut the transaction in two.
      const { probe } = openFeed(t, { plugin, debounce: 100, maxBatchWait: 60_000 });
      await probe.resync('connected');
      const mark = probe.mark();
      await sql(`BEGIN; ${tables.map((table) => `INSERT INTO ${table} VALUES (1);`).join(' ')} COMMIT;`);
      await waitFor(() => tables.every((table) => probe.count(table, mark) === 1), {
        timeoutMs: 60_000,
        what: () => `all 1,200 tables (have ${probe.payloads(mark).length})`,
      });
      assert.deepEqual(
        probe.items.slice(mark).map((item) => (item.type === 'batch' ? item.events.length : item.reason)),
        [1200],
        'one batch of every table',
      );
    });

    test('a partition created while the feed runs nudges from its first change', async (t) => {
      if (skip) return t.skip(skip);
      const { root } = await createEvents(name('ev_new'));
      const { probe } = openFeed(t, { plugin, tables: [root] });
      await probe.resync('connected');
      await sql(`INSERT INTO ${root} VALUES (1, 'eu', 'warm the cache')`);
      await probe.counted(root, 1);
      // A new second-level partition too, below a partition the feed already knows (eu holds no id < 0 yet).
      await sql(
        `CREATE TABLE ${root}_apac PARTITION OF ${root} FOR VALUES IN ('apac');
         CREATE TABLE ${root}_eu_neg PARTITION OF ${root}_eu FOR VALUES FROM (MINVALUE) TO (0);`,
      );
      const mark = probe.mark();
      await sql(`INSERT INTO ${root} VALUES (7, 'apac', 'new partition')`);
      await nudgedOrResynced(probe, root, mark);
      const mid = probe.mark();
      await sql(`INSERT INTO ${root} VALUES (-5, 'eu', 'new second-level partition')`);
      await nudgedOrResynced(probe, root, mid);
      assert.deepEqual(probe.payloads(), [root]);
    });

    test('a table attached while the feed runs is reported under its new root from then on', async (t) => {
      if (skip) return t.skip(skip);
      const { root } = await createEvents(name('ev_attach'));
      const side = `${root}_sa`;
      await sql(`CREATE TABLE ${side} (id int, region text, note text, PRIMARY KEY (id, region))`);
      const { probe } = openFeed(t, { plugin });
      await probe.resync('connected');
      // Known to the feed as a table of its own before the attach.
      await sql(`INSERT INTO ${side} VALUES (1, 'sa', 'standalone')`);
      await probe.counted(side, 1);
      await sql(`ALTER TABLE ${root} ATTACH PARTITION ${side} FOR VALUES IN ('sa')`);
      const mark = probe.mark();
      await sql(`INSERT INTO ${side} VALUES (2, 'sa', 'attached')`);
      // Its first change after the attach nudges the root, or comes as a Resync.
      await nudgedOrResynced(probe, root, mark);
      const later = probe.mark();
      await sql(`INSERT INTO ${side} VALUES (3, 'sa', 'attached, known')`);
      await probe.counted(root, 1, later);
      assert.equal(probe.count(side, later), 0, 'no longer reported under its own name');
    });

    test('a table attached while a filtered feed runs joins the filter', async (t) => {
      if (skip) return t.skip(skip);
      const { root } = await createEvents(name('ev_attach_f'));
      const side = `${root}_sa`;
      await sql(`CREATE TABLE ${side} (id int, region text, note text, PRIMARY KEY (id, region))`);
      const { probe } = openFeed(t, { plugin, tables: [root] });
      await probe.resync('connected');
      await sql(`INSERT INTO ${side} VALUES (1, 'sa', 'not watched yet')`);
      await sql(`INSERT INTO ${root} VALUES (1, 'eu', 'marker')`);
      await probe.counted(root, 1);
      await sql(`ALTER TABLE ${root} ATTACH PARTITION ${side} FOR VALUES IN ('sa')`);
      const mark = probe.mark();
      await sql(`INSERT INTO ${side} VALUES (2, 'sa', 'attached')`);
      await nudgedOrResynced(probe, root, mark);
      const later = probe.mark();
      await sql(`INSERT INTO ${side} VALUES (3, 'sa', 'attached, known')`);
      await probe.counted(root, 1, later);
    });

    test('a detached partition stops being reported under its former root', async (t) => {
      if (skip) return t.skip(skip);
      const { root } = await createEvents(name('ev_detach'));
      const { probe } = openFeed(t, { plugin });
      await probe.resync('connected');
      await sql(`INSERT INTO ${root}_eu_low VALUES (1, 'eu', 'a partition')`);
      await probe.counted(root, 1);
      await sql(`ALTER TABLE ${root}_eu DETACH PARTITION ${root}_eu_low`);
      const mark = probe.mark();
      await sql(`INSERT INTO ${root}_eu_low VALUES (2, 'eu', 'detached')`);
      // Its first change after the detach names it, or comes as a Resync (then maybe also the old root).
      await nudgedOrResynced(probe, `${root}_eu_low`, mark);
      const later = probe.mark();
      await sql(`INSERT INTO ${root}_eu_low VALUES (3, 'eu', 'detached, known')`);
      await settled(probe, `${root}_eu_low`, later, 1);
      assert.equal(probe.count(root, later), 0, 'no longer reported under the root');
    });
  });
}

// WalFeed faults that need a cluster of their own, booted for this file on the runner's major: a server
// crash and restart (contract R7, R12), a fast (orderly) shutdown that ends the stream, no free replication slot
// (contract R11, retryable), wal_level=replica (contract R11, fatal on the first connection, retried once live). Two boots
// per major: one logical cluster reused, one replica.
import assert from 'node:assert/strict';
import { after, before, describe, type TestContext, test } from 'node:test';
import type pg from 'pg';
import { type PgnudgeError, Resync, WalFeed, type WalFeedOptions } from '../../src/index.js';
import { runCli } from '../support/cli-process.js';
import { Cluster, type ClusterInfo, liveCluster, scratchDatabase } from '../support/cluster.js';
import { type FeedProbe, feedConnection, openFeed as openTestFeed, slotsIn } from '../support/feed-probe.js';
import { emptyHome, type ScratchDatabase } from '../support/live-database.js';
import { LogCapture } from '../support/log-capture.js';
import { waitFor, withDeadline } from '../support/wait.js';

let info: ClusterInfo;
let skip: string | undefined;
const home = emptyHome('dedicated');
before(async () => {
  info = await liveCluster();
  if (info.external) skip = 'external server: this file boots clusters of its own';
});

describe('a dedicated cluster with max_replication_slots = 2', { timeout: 240_000 }, () => {
  let cluster: Cluster | undefined;
  let db: ScratchDatabase;
  before(async () => {
    if (skip) return;
    cluster = await Cluster.start({ major: info.major, settings: { max_replication_slots: 2 } });
    db = await scratchDatabase(cluster.info, 'dedicated');
    await cluster.sql('CREATE TABLE public.ticks (id serial PRIMARY KEY, note text)', db.name);
  });
  after(() => cluster?.stop());

  const openFeed = (t: TestContext, options: WalFeedOptions = {}) =>
    openTestFeed(t, { ...feedConnection((cluster as Cluster).info, db.name), ...options });

  /** Writes a tick and waits for its wakeup at or after index `from`: the feed works. */
  async function wakes(probe: FeedProbe, from: number, note: string): Promise<void> {
    await (cluster as Cluster).sql(`INSERT INTO ticks (note) VALUES ('${note}')`, db.name);
    await probe.counted('public.ticks', 1, from);
  }

  test('a server crash and restart: retried with warnings, Resync(reconnected), the old slot did not survive, writes arrive', {
    timeout: 60_000,
  }, async (t) => {
    if (skip || !cluster) return t.skip(skip);
    const live = cluster;
    const { feed, probe, log } = openFeed(t);
    await probe.resync('connected', 0, 30_000);
    const oldSlot = feed.slotName;
    assert.ok(oldSlot);
    const from = probe.mark();
    const logged = log.mark();
    await live.restart();
    const resync = await probe.resync('reconnected', from, 45_000);
    assert.ok(resync instanceof Resync);
    assert.ok(log.failures(logged).length > 0, 'the lost connection and any refused attempts were logged');
    assert.equal(probe.error, undefined);
    const newSlot = feed.slotName;
    assert.ok(newSlot);
    assert.notEqual(newSlot, oldSlot);
    // A temporary slot never survives the server (contract R12): only the fresh one exists.
    assert.deepEqual(await slotsIn(live.info, db.name), [newSlot]);
    await wakes(probe, probe.after(resync), 'after restart');
    await feed.close();
    await waitFor(async () => (await slotsIn(live.info, db.name)).length === 0, {
      what: 'the closed feed slot to go',
    });
  });

  test('a fast shutdown ends the stream as a lost connection, not a protocol error, and the feed comes back', {
    timeout: 60_000,
  }, async (t) => {
    if (skip || !cluster) return t.skip(skip);
    const live = cluster;
    const { probe, log } = openFeed(t);
    await probe.resync('connected', 0, 30_000);
    const from = probe.mark();
    const logged = log.mark();
    // The walsender of an orderly shutdown sends its last keepalive, waits for the reply, then ends the
    // stream with a bare CommandComplete (no CopyDone): the chaos test saw that logged as a protocol error.
    await live.restart('fast');
    const ended = await log.failure(/./, logged, 30_000);
    assert.match(ended, /ended the replication stream \(PGNUDGE_ERR_CONNECTION\)/);
    assert.deepEqual(
      log.failures(logged).filter((line) => /PGNUDGE_ERR_PROTOCOL/.test(line)),
      [],
      'no failure is reported as a protocol violation',
    );
    const resync = await probe.resync('reconnected', from, 45_000);
    await wakes(probe, probe.after(resync), 'after a fast restart');
  });

  test('a long-running transaction holds up slot creation: reported past livenessTimeout, never abandoned, so no walsender piles up', {
    timeout: 60_000,
  }, async (t) => {
    if (skip || !cluster) return t.skip(skip);
    const live = cluster;
    await waitFor(async () => (await slotsIn(live.info, db.name)).length === 0, {
      what: 'no slot left over from earlier tests',
    });
    // A transaction with an xid: the server creates a logical slot only once it has ended.
    const long = live.client(db.name);
    await long.connect();
    t.after(() => long.end().catch(() => {}));
    await long.query("BEGIN; INSERT INTO ticks (note) VALUES ('long-running')");
    const { probe, log } = openFeed(t, { statusInterval: 100, livenessTimeout: 500 });
    await log.failure(/CREATE_REPLICATION_SLOT .* has waited 500 ms.*long-running transaction/, 0, 20_000);
    // Giving up and retrying would leave each attempt's walsender blocked on the server. Once the
    // creation has waited three livenessTimeouts, exactly one walsender is there, still creating.
    const creating = await waitFor(
      async () => {
        const rows = await live.sql<{ n: string; waited: boolean }>(
          "SELECT count(*) AS n, bool_and(now() - query_start > interval '1.5 s') AS waited FROM pg_stat_activity WHERE backend_type = 'walsender' AND query LIKE 'CREATE_REPLICATION_SLOT%'",
        );
        return rows[0]?.waited ? rows[0] : false;
      },
      { timeoutMs: 20_000, what: 'the slot creation to have waited 1.5 s' },
    );
    assert.equal(creating.n, '1');
    assert.deepEqual(
      log.failures().filter((line) => /reconnecting/.test(line)),
      [],
      'the slot creation was not abandoned',
    );
    await long.query('COMMIT');
    const resync = await probe.resync('connected', 0, 30_000);
    assert.equal(probe.items[0], resync);
    await wakes(probe, probe.mark(), 'after the long transaction');
  });

  test('no free replication slot: a new feed retries with backoff and connects once a slot frees (contract R11)', {
    timeout: 60_000,
  }, async (t) => {
    if (skip || !cluster) return t.skip(skip);
    const live = cluster;
    // Occupy both slots with temporary slots held by ordinary sessions.
    const holders: pg.Client[] = [];
    t.after(() => Promise.all(holders.map((client) => client.end().catch(() => {}))));
    await waitFor(async () => (await slotsIn(live.info, db.name)).length === 0, {
      what: 'no slot left over from earlier tests',
    });
    for (const n of [1, 2]) {
      const client = live.client(db.name);
      await client.connect();
      holders.push(client);
      await client.query(`SELECT pg_create_logical_replication_slot('holder_${n}', 'test_decoding', true)`);
    }
    const { feed, probe, log } = openFeed(t);
    // Several consecutive refusals, each logged and retried: not a failure of the feed.
    await log.failure(/attempt 3\)/, 0, 20_000);
    const retries = log.failures().filter((line) => /reconnecting in/.test(line));
    assert.ok(retries.length >= 3);
    assert.ok(
      retries.every((line) => /53400/.test(line) && /replication slots/.test(line)),
      `each failure names the exhausted slots: ${log.failures().join(' | ')}`,
    );
    assert.equal(probe.items.length, 0);
    assert.equal(probe.error, undefined);
    assert.equal(feed.closed, false);
    await holders.shift()?.end();
    const resync = await probe.resync('connected', 0, 30_000);
    assert.equal(probe.items[0], resync, 'the first item is Resync(connected)');
    assert.ok(feed.slotName);
    assert.deepEqual((await slotsIn(live.info, db.name)).sort(), ['holder_2', feed.slotName].sort());
    await wakes(probe, probe.mark(), 'after a slot freed');
  });

  test('a live feed retries through wal_level=replica and resumes once logical is back (contract R11)', {
    timeout: 60_000,
  }, async (t) => {
    if (skip || !cluster) return t.skip(skip);
    const live = cluster;
    const { feed, probe, log } = openFeed(t);
    await probe.resync('connected', 0, 30_000);
    const from = probe.mark();
    const logged = log.mark();
    t.after(async () => {
      // Leave the cluster as the other tests expect it, whatever happened here.
      if ((await live.sql<{ wal_level: string }>('SHOW wal_level'))[0]?.wal_level !== 'logical') {
        await live.sql('ALTER SYSTEM RESET wal_level');
        await live.restart();
      }
    });
    await live.sql("ALTER SYSTEM SET wal_level = 'replica'");
    await live.restart();
    // Not fatal once the feed has been live: the server may be reconfigured back.
    await log.failure(/PGNUDGE_ERR_WAL_LEVEL/, logged, 30_000);
    assert.equal(probe.error, undefined);
    assert.equal(feed.closed, false);
    await live.sql('ALTER SYSTEM RESET wal_level');
    await live.restart();
    const resync = await probe.resync('reconnected', from, 45_000);
    await wakes(probe, probe.after(resync), 'after wal_level came back');
  });
});

describe('a dedicated cluster with wal_level = replica', { timeout: 180_000 }, () => {
  let cluster: Cluster | undefined;
  let db: ScratchDatabase;
  before(async () => {
    if (skip) return;
    cluster = await Cluster.start({ major: info.major, walLevel: 'replica' });
    db = await scratchDatabase(cluster.info, 'replica');
  });
  after(() => cluster?.stop());

  test('a feed fails on its first connection with PGNUDGE_ERR_WAL_LEVEL, without retrying', {
    timeout: 60_000,
  }, async (t) => {
    if (skip || !cluster) return t.skip(skip);
    const log = new LogCapture();
    const feed = new WalFeed({ ...feedConnection(cluster.info, db.name), debounce: 5, logger: log.logger });
    t.after(() => feed.close());
    const iterate = async () => {
      for await (const _ of feed) assert.fail('a feed on wal_level=replica yielded an item');
    };
    await assert.rejects(withDeadline(iterate(), 30_000, 'the feed to fail'), (error: PgnudgeError) => {
      assert.equal(error.code, 'PGNUDGE_ERR_WAL_LEVEL');
      assert.equal(error.retryable, false);
      assert.match(error.message, /wal_level = logical/);
      return true;
    });
    assert.deepEqual(
      log.failures().filter((line) => /reconnecting/.test(line)),
      [],
      'nothing was retried',
    );
    assert.equal(feed.closed, true);
    assert.deepEqual(await slotsIn(cluster.info, db.name), []);
  });

  test('pgnudge watch exits 1 naming the cause and the fix', { timeout: 60_000 }, async (t) => {
    if (skip || !cluster) return t.skip(skip);
    const r = cluster.info.roles.replication;
    const dsn = `postgresql://${r.user}:${r.password}@${cluster.info.host}:${cluster.info.port}/${db.name}?sslmode=disable`;
    const { code, stdout, stderr } = await runCli(['watch', '--json', '--dsn', dsn], {
      home,
      timeoutMs: 30_000,
    });
    assert.equal(code, 1, stderr);
    assert.equal(stdout, '');
    assert.match(stderr, /PGNUDGE_ERR_WAL_LEVEL/);
    assert.match(stderr, /wal_level = logical/);
  });
});

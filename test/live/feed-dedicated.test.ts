// WalFeed faults that need a cluster of their own, booted for this file on the runner's major: a server
// crash and restart (contract R7, R12), a fast (orderly) shutdown that ends the stream, no free replication slot
// (contract R11, retryable), wal_level=replica (contract R11, fatal on the first connection, retried once live). Two boots
// per major: one logical cluster reused, one replica.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, type TestContext, test } from 'node:test';
import type pg from 'pg';
import { type PgnudgeError, Resync, WalFeed, type WalFeedOptions } from '../../src/index.js';
import { Cluster, type ClusterInfo, liveCluster, repoPath, scratchDatabase } from '../support/cluster.js';
import { FeedProbe, feedConnection, slotsIn } from '../support/feed-probe.js';
import { waitFor, withDeadline } from '../support/wait.js';

let info: ClusterInfo;
let skip: string | undefined;
before(async () => {
  info = await liveCluster();
  if (info.external) skip = 'external server: this file boots clusters of its own';
});

/** Log lines a feed wrote; failures are logged as warnings (and an error after several in a row). */
function capturingLogger() {
  const failures: string[] = [];
  return {
    failures,
    logger: { warn: (m: string) => failures.push(m), error: (m: string) => failures.push(m) },
  };
}

async function waitForFailure(failures: string[], pattern: RegExp, from: number, timeoutMs = 20_000) {
  return waitFor(() => failures.slice(from).find((line) => pattern.test(line)), {
    timeoutMs,
    what: `a logged failure matching ${pattern} (have ${JSON.stringify(failures.slice(from))})`,
  });
}

describe('a dedicated cluster with max_replication_slots = 2', { timeout: 240_000 }, () => {
  let cluster: Cluster | undefined;
  let db: { name: string; drop(): Promise<void> };
  before(async () => {
    if (skip) return;
    cluster = await Cluster.start({ major: info.major, settings: { max_replication_slots: 2 } });
    db = await scratchDatabase(cluster.info, 'dedicated');
    await cluster.sql('CREATE TABLE public.ticks (id serial PRIMARY KEY, note text)', db.name);
  });
  after(() => cluster?.stop());

  function openFeed(t: TestContext, options: WalFeedOptions = {}) {
    const { failures, logger } = capturingLogger();
    const feed = new WalFeed({
      ...feedConnection((cluster as Cluster).info, db.name),
      debounce: 5,
      backoff: { initial: 50, maximum: 500 },
      logger,
      ...options,
    });
    const probe = new FeedProbe(feed);
    t.after(() => feed.close());
    return { feed, probe, failures };
  }

  test('a server crash and restart: retried with warnings, Resync(reconnected), the old slot did not survive, writes arrive', {
    timeout: 60_000,
  }, async (t) => {
    if (skip || !cluster) return t.skip(skip);
    const live = cluster;
    const { feed, probe, failures } = openFeed(t);
    await probe.resync('connected', 0, 30_000);
    const oldSlot = feed.slotName;
    assert.ok(oldSlot);
    const from = probe.mark();
    const logged = failures.length;
    await live.restart();
    const resync = await probe.resync('reconnected', from, 45_000);
    assert.ok(resync instanceof Resync);
    assert.ok(failures.length > logged, 'the lost connection and any refused attempts were logged');
    assert.equal(probe.error, undefined);
    const newSlot = feed.slotName;
    assert.ok(newSlot);
    assert.notEqual(newSlot, oldSlot);
    // A temporary slot never survives the server (contract R12): only the fresh one exists.
    assert.deepEqual(await slotsIn(live.info, db.name), [newSlot]);
    const mark = probe.items.indexOf(resync) + 1;
    await live.sql("INSERT INTO ticks (note) VALUES ('after restart')", db.name);
    await probe.counted('public.ticks', 1, mark);
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
    const { probe, failures } = openFeed(t);
    await probe.resync('connected', 0, 30_000);
    const from = probe.mark();
    const logged = failures.length;
    // The walsender of an orderly shutdown sends its last keepalive, waits for the reply, then ends the
    // stream with a bare CommandComplete (no CopyDone): the chaos test saw that logged as a protocol error.
    await live.restart('fast');
    const ended = await waitForFailure(failures, /./, logged, 30_000);
    assert.match(ended, /ended the replication stream \(PGNUDGE_ERR_CONNECTION\)/);
    assert.deepEqual(
      failures.slice(logged).filter((line) => /PGNUDGE_ERR_PROTOCOL/.test(line)),
      [],
      'no failure is reported as a protocol violation',
    );
    const resync = await probe.resync('reconnected', from, 45_000);
    const mark = probe.items.indexOf(resync) + 1;
    await live.sql("INSERT INTO ticks (note) VALUES ('after a fast restart')", db.name);
    await probe.counted('public.ticks', 1, mark);
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
    const { probe, failures } = openFeed(t, { statusInterval: 100, livenessTimeout: 500 });
    await waitForFailure(
      failures,
      /CREATE_REPLICATION_SLOT .* has waited 500 ms.*long-running transaction/,
      0,
    );
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
      failures.filter((line) => /reconnecting/.test(line)),
      [],
      'the slot creation was not abandoned',
    );
    await long.query('COMMIT');
    const resync = await probe.resync('connected', 0, 30_000);
    assert.equal(probe.items[0], resync);
    const mark = probe.mark();
    await live.sql("INSERT INTO ticks (note) VALUES ('after the long transaction')", db.name);
    await probe.counted('public.ticks', 1, mark);
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
    const { feed, probe, failures } = openFeed(t);
    // Several consecutive refusals, each logged and retried: not a failure of the feed.
    await waitForFailure(failures, /attempt 3\)/, 0);
    const retries = failures.filter((line) => /reconnecting in/.test(line));
    assert.ok(retries.length >= 3);
    assert.ok(
      retries.every((line) => /53400/.test(line) && /replication slots/.test(line)),
      `each failure names the exhausted slots: ${failures.join(' | ')}`,
    );
    assert.equal(probe.items.length, 0);
    assert.equal(probe.error, undefined);
    assert.equal(feed.closed, false);
    await holders.shift()?.end();
    const resync = await probe.resync('connected', 0, 30_000);
    assert.equal(probe.items[0], resync, 'the first item is Resync(connected)');
    assert.ok(feed.slotName);
    assert.deepEqual((await slotsIn(live.info, db.name)).sort(), ['holder_2', feed.slotName].sort());
    const mark = probe.mark();
    await live.sql("INSERT INTO ticks (note) VALUES ('after a slot freed')", db.name);
    await probe.counted('public.ticks', 1, mark);
  });

  test('a live feed retries through wal_level=replica and resumes once logical is back (contract R11)', {
    timeout: 60_000,
  }, async (t) => {
    if (skip || !cluster) return t.skip(skip);
    const live = cluster;
    const { feed, probe, failures } = openFeed(t);
    await probe.resync('connected', 0, 30_000);
    const from = probe.mark();
    const logged = failures.length;
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
    await waitForFailure(failures, /PGNUDGE_ERR_WAL_LEVEL/, logged, 30_000);
    assert.equal(probe.error, undefined);
    assert.equal(feed.closed, false);
    await live.sql('ALTER SYSTEM RESET wal_level');
    await live.restart();
    const resync = await probe.resync('reconnected', from, 45_000);
    const mark = probe.items.indexOf(resync) + 1;
    await live.sql("INSERT INTO ticks (note) VALUES ('after wal_level came back')", db.name);
    await probe.counted('public.ticks', 1, mark);
  });
});

describe('a dedicated cluster with wal_level = replica', { timeout: 180_000 }, () => {
  let cluster: Cluster | undefined;
  let db: { name: string; drop(): Promise<void> };
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
    const { failures, logger } = capturingLogger();
    const feed = new WalFeed({ ...feedConnection(cluster.info, db.name), debounce: 5, logger });
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
      failures.filter((line) => /reconnecting/.test(line)),
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
    const child = spawn(
      process.execPath,
      [repoPath('build/src/cli/main.js'), 'watch', '--json', '--dsn', dsn],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    const code = await withDeadline(
      new Promise<number | null>((resolve) => child.once('exit', (exitCode) => resolve(exitCode))),
      30_000,
      'pgnudge watch to exit',
    );
    assert.equal(code, 1, stderr);
    assert.equal(stdout, '');
    assert.match(stderr, /PGNUDGE_ERR_WAL_LEVEL/);
    assert.match(stderr, /wal_level = logical/);
  });
});

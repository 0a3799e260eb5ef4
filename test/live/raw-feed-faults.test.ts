// RawFeed under faults, on a cluster of its own at wal_level = replica (it restarts it): reconnect with a
// Resync when its walsender or its catalog backend is terminated and when the server restarts (contract R7),
// liveness on a blackholed link (contract R8), and nothing left on the server however it ends: no slot ever, and
// no session once the server noticed (contract R10, R12), SIGKILL of `pgnudge watch --physical` included.
import assert from 'node:assert/strict';
import { after, before, describe, type TestContext, test } from 'node:test';
import { type RawFeedOptions, Resync } from '../../src/index.js';
import { CliProcess, connectionKeyValue } from '../support/cli-process.js';
import { Cluster, type ClusterInfo, liveCluster, runSql, scratchDatabase } from '../support/cluster.js';
import { type FeedProbe, feedConnection, openRawFeed } from '../support/feed-probe.js';
import { emptyHome, type ScratchDatabase } from '../support/live-database.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { waitFor, withDeadline } from '../support/wait.js';

let cluster: Cluster | undefined;
let info: ClusterInfo;
let db: ScratchDatabase;
let skip: string | undefined;
const home = emptyHome('raw-faults');

const TICKS = 'public.ticks';
let applications = 0;

/** A RawFeed with an application_name of its own, so the test can find its two server sessions. */
function openFeed(t: TestContext, options: RawFeedOptions = {}) {
  applications += 1;
  const applicationName = `pgnudge_raw_${applications}`;
  return {
    ...openRawFeed(t, { ...feedConnection(info, db.name), applicationName, ...options }),
    applicationName,
  };
}

/** Writes a tick and waits for its wakeup after index `from`: the feed works (again). */
async function wakes(probe: FeedProbe, from: number, note: string): Promise<void> {
  await runSql(info, `INSERT INTO ticks (note) VALUES ('${note}')`, db.name);
  await probe.counted(TICKS, 1, from, 30_000);
}

/** The server sessions of `application`: its walsender and its catalog backend. */
async function sessionsOf(application: string) {
  return runSql<{ pid: number; backend_type: string }>(
    info,
    `SELECT pid, backend_type FROM pg_stat_activity WHERE application_name = '${application}'`,
  );
}

async function pidOf(application: string, backendType: 'walsender' | 'client backend'): Promise<number> {
  return waitFor(
    async () => (await sessionsOf(application)).find((row) => row.backend_type === backendType)?.pid,
    { what: `the ${backendType} of ${application}` },
  );
}

/** Waits until the server holds no session of `application` and no replication slot at all. */
async function nothingLeft(application: string): Promise<void> {
  let last: unknown[] = [];
  await waitFor(
    async () => {
      const slots = await runSql(info, 'SELECT slot_name FROM pg_replication_slots');
      last = [...slots, ...(await sessionsOf(application))];
      return last.length === 0;
    },
    {
      timeoutMs: 30_000,
      intervalMs: 100,
      what: `nothing of ${application} on the server (${JSON.stringify(last)})`,
    },
  );
}

describe('RawFeed faults', { timeout: 240_000 }, () => {
  // The cluster's hooks belong to the suite, not the file: node:test runs a file's root after hooks late,
  // and the running postmaster would keep the file's process alive past its tests.
  before(async () => {
    const shared = await liveCluster();
    if (shared.external) {
      skip = 'needs a cluster of its own (wal_level = replica; it restarts it)';
      return;
    }
    cluster = await Cluster.start({ major: shared.major, walLevel: 'replica' });
    info = cluster.info;
    db = await scratchDatabase(info, 'raw_faults');
    await runSql(info, 'CREATE TABLE public.ticks (id serial PRIMARY KEY, note text)', db.name);
  });
  after(() => cluster?.stop());

  for (const backendType of ['walsender', 'client backend'] as const) {
    test(`pg_terminate_backend of its ${backendType === 'walsender' ? 'walsender' : 'catalog connection'}: Resync(reconnected), writes arrive`, {
      timeout: 60_000,
    }, async (t) => {
      if (skip) return t.skip(skip);
      const { probe, log, applicationName } = openFeed(t);
      await probe.resync('connected', 0, 30_000);
      const pid = await pidOf(applicationName, backendType);
      const from = probe.mark();
      await runSql(info, `SELECT pg_terminate_backend(${pid})`);
      const resync = await probe.resync('reconnected', from, 30_000);
      assert.ok(resync instanceof Resync);
      assert.ok(log.failures().length >= 1, 'the lost connection was logged');
      await wakes(probe, probe.after(resync), `after terminating the ${backendType}`);
    });
  }

  test('a blackholed link: liveness fails it, the feed reconnects, writes arrive again (contract R8)', {
    timeout: 60_000,
  }, async (t) => {
    if (skip) return t.skip(skip);
    const proxy = await TcpProxy.start({ host: info.host, port: info.port });
    t.after(() => proxy.close());
    const { probe, log } = openFeed(t, {
      host: proxy.host,
      port: proxy.port,
      sslmode: 'disable',
      statusInterval: 100,
      livenessTimeout: 1000,
      connectTimeout: 3000,
    });
    await probe.resync('connected', 0, 30_000);
    const from = probe.mark();
    const logged = log.mark();
    proxy.blackhole();
    const warning = await log.failure(/PGNUDGE_ERR_LIVENESS_TIMEOUT/, logged, 20_000);
    assert.match(warning, /1000 ms/);
    proxy.restore();
    const resync = await probe.resync('reconnected', from, 30_000);
    await wakes(probe, probe.after(resync), 'after the blackhole');
  });

  test('a server crash and restart: Resync(reconnected), writes arrive, and still no slot', {
    timeout: 90_000,
  }, async (t) => {
    if (skip) return t.skip(skip);
    const { probe } = openFeed(t);
    await probe.resync('connected', 0, 30_000);
    const from = probe.mark();
    await (cluster as Cluster).restart('immediate');
    const resync = await probe.resync('reconnected', from, 45_000);
    assert.equal(probe.error, undefined);
    await wakes(probe, probe.after(resync), 'after the restart');
    assert.deepEqual(await runSql(info, 'SELECT slot_name FROM pg_replication_slots'), []);
  });

  test('close() leaves nothing: no slot during or after, and both sessions end (contract R10, R12)', {
    timeout: 60_000,
  }, async (t) => {
    if (skip) return t.skip(skip);
    const { feed, probe, applicationName } = openFeed(t);
    await probe.resync('connected', 0, 30_000);
    const sessions = (await sessionsOf(applicationName)).map((row) => row.backend_type).sort();
    assert.deepEqual(sessions, ['client backend', 'walsender']);
    assert.deepEqual(await runSql(info, 'SELECT slot_name FROM pg_replication_slots'), []);
    await feed.close();
    await nothingLeft(applicationName);
  });

  test('SIGKILL of a `pgnudge watch --physical` process leaves nothing on the server', {
    timeout: 60_000,
  }, async (t) => {
    if (skip) return t.skip(skip);
    const dsn = connectionKeyValue(info, db.name, info.roles.replication, {
      application_name: 'pgnudge_raw_cli',
    });
    const watch = new CliProcess(['watch', '--physical', '--json', '--dsn', dsn], {
      home,
      after: (fn) => t.after(fn),
    });
    await watch.line(
      (line) => line.includes('{"type":"resync","reason":"connected"}'),
      'the connected Resync',
    );
    const from = watch.lines().length;
    await runSql(info, "INSERT INTO ticks (note) VALUES ('cli')", db.name);
    await watch.line((line) => line.includes('"payload":"public.ticks"'), 'the wakeup', from);
    assert.equal((await sessionsOf('pgnudge_raw_cli')).length, 2);
    watch.kill('SIGKILL');
    assert.deepEqual(await withDeadline(watch.exited, 10_000, 'the killed child to exit'), {
      code: null,
      signal: 'SIGKILL',
    });
    await nothingLeft('pgnudge_raw_cli');
  });
});

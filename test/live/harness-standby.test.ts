// Smoke tests of the harness's streaming hot standby (feeds on a standby, issue 16), on 16–18 where
// logical decoding on a standby exists: a dedicated primary, a standby made from an online base backup,
// streaming over TLS as the replication role without a slot, following a primary restart, a logical slot
// on the standby, promotion, and nothing left behind.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Cluster, type ClusterInfo, liveCluster } from '../support/cluster.js';
import { type Standby, startStandby } from '../support/standby.js';
import { waitFor } from '../support/wait.js';

/** Whether a process exists and is not a zombie waiting to be reaped. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

let info: ClusterInfo;
let skip: string | undefined;
before(async () => {
  info = await liveCluster();
  if (info.external) skip = 'external server: this file boots clusters of its own';
  else if (info.major < 16)
    skip = `logical decoding on a standby needs PostgreSQL 16+ (this is ${info.major})`;
});

describe('a streaming hot standby', { timeout: 180_000 }, () => {
  let primary: Cluster | undefined;
  let standby: Standby | undefined;
  const timings: string[] = [];
  before(async () => {
    if (skip) return;
    let started = Date.now();
    primary = await Cluster.start({ major: info.major });
    timings.push(`primary booted in ${Date.now() - started} ms`);
    started = Date.now();
    standby = await startStandby(primary);
    timings.push(`standby (backup, copy, boot to consistent) in ${Date.now() - started} ms`);
  });
  after(() => {
    standby?.stop();
    primary?.stop();
  });

  test('is in recovery and streams from the primary over TLS as the replication role, with no slot', async (t) => {
    if (skip || !primary || !standby) return t.skip(skip);
    for (const line of timings) t.diagnostic(line);
    const [recovery] = await standby.sql<{ in_recovery: boolean; feedback: string; wal_level: string }>(
      "SELECT pg_is_in_recovery() AS in_recovery, current_setting('hot_standby_feedback') AS feedback, current_setting('wal_level') AS wal_level",
    );
    assert.deepEqual(recovery, { in_recovery: true, feedback: 'on', wal_level: 'logical' });
    assert.equal(standby.info.version, primary.info.version);
    const senders = await primary.sql(
      `SELECT r.usename, r.state, s.ssl FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)
        WHERE r.application_name = '${standby.applicationName}'`,
    );
    assert.deepEqual(senders, [
      { usename: primary.info.roles.replication.user, state: 'streaming', ssl: true },
    ]);
    assert.deepEqual(await primary.sql('SELECT slot_name FROM pg_replication_slots'), []);
  });

  test('a commit on the primary is readable on the standby once waitForReplay returns', async (t) => {
    if (skip || !primary || !standby) return t.skip(skip);
    await primary.sql(
      'CREATE TABLE public.replayed (id int PRIMARY KEY); INSERT INTO public.replayed VALUES (1)',
    );
    await standby.waitForReplay();
    assert.deepEqual(await standby.sql('SELECT id FROM public.replayed'), [{ id: 1 }]);
    await assert.rejects(standby.sql('INSERT INTO public.replayed VALUES (2)'), /read-only transaction/);
  });

  test('a temporary logical slot can be created on the standby (the primary logging snapshots) and dropped', async (t) => {
    if (skip || !primary || !standby) return t.skip(skip);
    const client = standby.client();
    await client.connect();
    t.after(() => client.end());
    const started = Date.now();
    await standby.snapshotsWhile(
      client.query(
        "SELECT * FROM pg_create_logical_replication_slot('harness_standby', 'test_decoding', true)",
      ),
    );
    t.diagnostic(
      `logical slot created on the standby in ${Date.now() - started} ms (snapshots every 100 ms)`,
    );
    const { rows } = await client.query(
      "SELECT slot_type, temporary FROM pg_replication_slots WHERE slot_name = 'harness_standby'",
    );
    assert.deepEqual(rows, [{ slot_type: 'logical', temporary: true }]);
    await client.query("SELECT pg_drop_replication_slot('harness_standby')");
    assert.deepEqual(await primary.sql('SELECT slot_name FROM pg_replication_slots'), []);
  });

  test('follows the primary through a crash and restart', async (t) => {
    if (skip || !primary || !standby) return t.skip(skip);
    const started = Date.now();
    await primary.restart();
    await primary.sql('INSERT INTO public.replayed VALUES (3)');
    await standby.waitForReplay(undefined, 30_000);
    t.diagnostic(`restart of the primary to replay on the standby: ${Date.now() - started} ms`);
    assert.deepEqual(await standby.sql('SELECT id FROM public.replayed ORDER BY id'), [{ id: 1 }, { id: 3 }]);
  });

  test('promote(): the standby leaves recovery and accepts writes of its own', async (t) => {
    if (skip || !primary || !standby) return t.skip(skip);
    const started = Date.now();
    await standby.promote();
    t.diagnostic(`promoted in ${Date.now() - started} ms`);
    assert.deepEqual(await standby.sql('SELECT pg_is_in_recovery() AS in_recovery'), [
      { in_recovery: false },
    ]);
    await standby.sql('INSERT INTO public.replayed VALUES (4)');
    assert.deepEqual(await primary.sql('SELECT id FROM public.replayed ORDER BY id'), [{ id: 1 }, { id: 3 }]);
  });

  test('stop() ends the standby and removes its files; the primary keeps serving', async (t) => {
    if (skip || !primary || !standby) return t.skip(skip);
    const dir = standby.info.socketDir;
    assert.ok(dir && existsSync(dir));
    const postmaster = Number(
      readFileSync(join(standby.cluster.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0],
    );
    standby.stop();
    assert.equal(existsSync(dir), false);
    await waitFor(() => !isRunning(postmaster), {
      what: `the standby's postmaster (pid ${postmaster}) to exit`,
    });
    assert.deepEqual(await primary.sql('SELECT 1 AS up'), [{ up: 1 }]);
  });
});

// Smoke tests of the harness's PgBouncer (a pooler in front of the cluster, issue 21): transaction pooling,
// SCRAM to clients and TLS both ways, and the refusal a walsender gets from it. PgBouncer does not depend on
// the PostgreSQL major, so this file runs once per test run.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, type TestContext, test } from 'node:test';
import pg from 'pg';
import { binaryUnavailable } from '../support/background-server.js';
import { type ClusterInfo, liveCluster, type Role } from '../support/cluster.js';
import { PGBOUNCER, type Pgbouncer, type PgbouncerInfo, startPgbouncer } from '../support/pgbouncer.js';
import { runsInAnotherSuite } from '../support/run-once.js';

let info: ClusterInfo;
let skip: string | undefined;
before(async () => {
  info = await liveCluster();
  skip = runsInAnotherSuite(info) ?? binaryUnavailable(PGBOUNCER, 'pgbouncer');
});

function clientOf(
  bouncer: PgbouncerInfo,
  role: Role,
  options: { database?: string; tls?: boolean; replication?: string } = {},
): pg.Client {
  return new pg.Client({
    host: bouncer.host,
    port: bouncer.port,
    user: role.user,
    password: role.password,
    database: options.database ?? 'postgres',
    connectionTimeoutMillis: 5000,
    ssl: options.tls ? { ca: readFileSync(bouncer.caFile ?? '', 'utf8'), servername: 'localhost' } : false,
    // pg sends `replication` as a startup parameter; its types leave it out.
    ...(options.replication ? ({ replication: options.replication } as object) : {}),
  });
}

async function connected(t: TestContext, client: pg.Client): Promise<pg.Client> {
  await client.connect();
  t.after(() => client.end().catch(() => {}));
  return client;
}

describe('PgBouncer in transaction mode', { timeout: 60_000 }, () => {
  let bouncer: Pgbouncer | undefined;
  let bootMs = 0;
  before(async () => {
    if (skip) return;
    const started = Date.now();
    bouncer = await startPgbouncer(info);
    bootMs = Date.now() - started;
  });
  after(() => bouncer?.stop());

  test('runs an ordinary query over TLS, reaching the cluster over TLS as the same role', async (t) => {
    if (skip || !bouncer) return t.skip(skip);
    t.diagnostic(`PgBouncer (with its TLS files) answered ${bootMs} ms after the start call`);
    if (process.getuid?.() === 0) {
      assert.doesNotMatch(readFileSync(`/proc/${bouncer.pid}/status`, 'utf8'), /^Uid:\s+0\s/m);
    }
    const role = bouncer.info.roles.replication;
    const client = await connected(t, clientOf(bouncer.info, role, { tls: true }));
    const { rows } = await client.query(
      'SELECT current_user AS who, inet_server_port() AS port, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS server_tls',
    );
    assert.equal(rows[0]?.who, role.user);
    assert.equal(rows[0]?.port, info.port);
    // An external server may not offer TLS (PgBouncer then prefers it); ours does, verified in full.
    if (!info.external) assert.equal(rows[0]?.server_tls, true);
    const tlsOnly = await connected(t, clientOf(bouncer.info, bouncer.info.roles.tlsOnly));
    assert.deepEqual((await tlsOnly.query('SELECT 1 AS one')).rows, [{ one: 1 }]);
  });

  test('the admin console reports transaction pooling', async (t) => {
    if (skip || !bouncer) return t.skip(skip);
    const admin = await connected(t, clientOf(bouncer.info, info.superuser, { database: 'pgbouncer' }));
    const { rows } = await admin.query<{ database: string; user: string; pool_mode: string }>('SHOW POOLS');
    // The console is a pool of its own (database `pgbouncer`, statement mode); the earlier test made these.
    const pools = rows.filter((row) => row.database === 'postgres').map((row) => [row.user, row.pool_mode]);
    assert.deepEqual(pools.sort(), [
      [info.roles.replication.user, 'transaction'],
      [info.roles.tlsOnly.user, 'transaction'],
    ]);
  });

  test('a replication=database startup packet is refused: FATAL 08P01 unsupported startup parameter', async (t) => {
    if (skip || !bouncer) return t.skip(skip);
    const client = clientOf(bouncer.info, bouncer.info.roles.replication, { replication: 'database' });
    await assert.rejects(client.connect(), (error: pg.DatabaseError) => {
      assert.equal(error.severity, 'FATAL');
      assert.equal(error.code, '08P01');
      assert.equal(error.message, 'unsupported startup parameter: replication');
      return true;
    });
  });

  test('kill() refuses connections, restart() serves on the same port, stop() leaves nothing', async (t) => {
    if (skip || !bouncer) return t.skip(skip);
    const live = bouncer;
    const role = live.info.roles.login;
    await live.kill();
    await assert.rejects(connected(t, clientOf(live.info, role)), /ECONNREFUSED/);
    const restarted = Date.now();
    await live.restart();
    t.diagnostic(`PgBouncer restarted in ${Date.now() - restarted} ms`);
    const client = await connected(t, clientOf(live.info, role));
    assert.deepEqual((await client.query('SELECT current_user AS who')).rows, [{ who: role.user }]);
    await client.end();
    const dir = live.dir;
    live.stop();
    assert.equal(existsSync(dir), false);
  });
});

// Smoke tests of the harness's wal_level=replica cluster (RawFeed's server), on every major: physical
// walsenders need a `replication` hba line for their role, logical ones match the database lines, and no
// logical slot can exist. The cluster has its own hba lines (StartOptions.hba): the `all` line for every
// role, a `replication` line for the replication role only.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { Cluster, type ClusterInfo, liveCluster, type Role } from '../support/cluster.js';

let info: ClusterInfo;
let skip: string | undefined;
before(async () => {
  info = await liveCluster();
  if (info.external) skip = 'external server: this file boots a cluster of its own';
});

/** Opens a walsender (`true` physical, `database` logical) or an ordinary session, and ends it. */
async function identify(
  cluster: ClusterInfo,
  role: Role,
  replication: 'true' | 'database',
): Promise<Record<string, unknown>> {
  const client = new pg.Client({
    host: cluster.host,
    port: cluster.port,
    user: role.user,
    password: role.password,
    database: 'postgres',
    connectionTimeoutMillis: 5000,
    // pg sends `replication` as a startup parameter; its types leave it out.
    ...({ replication } as object),
  });
  await client.connect();
  try {
    const { rows } = await client.query('IDENTIFY_SYSTEM');
    return rows[0] ?? {};
  } finally {
    await client.end().catch(() => {});
  }
}

describe('a wal_level=replica cluster', { timeout: 90_000 }, () => {
  let cluster: Cluster | undefined;
  let bootMs = 0;
  before(async () => {
    if (skip) return;
    const started = Date.now();
    cluster = await Cluster.start({
      major: info.major,
      walLevel: 'replica',
      hba: [
        'host      all          all            127.0.0.1/32   scram-sha-256',
        `host      replication  ${info.roles.replication.user}     127.0.0.1/32   scram-sha-256`,
      ],
    });
    bootMs = Date.now() - started;
  });
  after(() => cluster?.stop());

  test('reports wal_level = replica', async (t) => {
    if (skip || !cluster) return t.skip(skip);
    const [row] = await cluster.sql<{ wal_level: string }>('SHOW wal_level');
    assert.equal(row?.wal_level, 'replica');
    assert.equal(cluster.info.walLevel, 'replica');
    t.diagnostic(`PostgreSQL ${cluster.info.version} at wal_level=replica booted in ${bootMs} ms`);
  });

  test('the replication role opens a physical walsender (its `replication` line) and a logical one', async (t) => {
    if (skip || !cluster) return t.skip(skip);
    const physical = await identify(cluster.info, cluster.info.roles.replication, 'true');
    assert.equal(physical.dbname, null, 'a physical walsender is bound to no database');
    assert.match(String(physical.xlogpos), /^[0-9A-F]+\/[0-9A-F]+$/);
    assert.equal(Number(physical.timeline), 1);
    const logical = await identify(cluster.info, cluster.info.roles.replication, 'database');
    assert.equal(logical.dbname, 'postgres');
  });

  test('a REPLICATION role without a `replication` line: physical refused, logical walsender allowed', async (t) => {
    if (skip || !cluster) return t.skip(skip);
    const role = cluster.info.roles.tlsOnly;
    await assert.rejects(identify(cluster.info, role, 'true'), (error: Error & { code?: string }) => {
      assert.equal(error.code, '28000');
      assert.match(error.message, /no pg_hba\.conf entry for replication connection/);
      return true;
    });
    const logical = await identify(cluster.info, role, 'database');
    assert.equal(logical.dbname, 'postgres', 'a replication=database walsender matches the `all` line');
  });

  test('no logical slot can be created: logical decoding needs wal_level logical', async (t) => {
    if (skip || !cluster) return t.skip(skip);
    await assert.rejects(
      cluster.sql("SELECT pg_create_logical_replication_slot('harness_replica', 'test_decoding', true)"),
      (error: Error & { code?: string }) => {
        assert.equal(error.code, '55000');
        assert.match(error.message, /wal_level/);
        return true;
      },
    );
    assert.deepEqual(await cluster.sql('SELECT slot_name FROM pg_replication_slots'), []);
  });
});

// Smoke tests of the live harness itself, per major: the server is configured as every other live
// test assumes (logical WAL, TLS, plugins, roles and their hba lines).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { type ClusterInfo, liveCluster, pluginUnavailable, type Role, runSql } from '../support/cluster.js';

let info: ClusterInfo;
before(async () => {
  info = await liveCluster();
});

function connect(role: Role, options: { tls?: boolean; replication?: boolean } = {}): Promise<pg.Client> {
  const client = new pg.Client({
    host: info.host,
    port: info.port,
    user: role.user,
    password: role.password,
    database: 'postgres',
    connectionTimeoutMillis: 5000,
    ssl: options.tls
      ? { ca: info.caFile ? readFileSync(info.caFile, 'utf8') : undefined, servername: 'localhost' }
      : false,
    ...(options.replication ? { replication: 'database' } : {}),
  });
  return client.connect().then(() => client);
}

async function canLogIn(
  role: Role,
  options: { tls?: boolean; replication?: boolean } = {},
): Promise<true | string> {
  try {
    const client = await connect(role, options);
    await client.end();
    return true;
  } catch (error) {
    return (error as Error).message;
  }
}

describe('live harness', () => {
  test('wal_level is logical', async () => {
    const [row] = await runSql<{ wal_level: string }>(info, 'SHOW wal_level');
    assert.equal(row?.wal_level, 'logical');
  });

  for (const plugin of ['wal2json', 'test_decoding', 'pgoutput']) {
    test(`a temporary logical slot can be created and dropped with ${plugin}`, async (t) => {
      const skip = pluginUnavailable(info, plugin);
      if (skip) return t.skip(skip);
      const slot = `harness_${plugin}_${process.pid}`;
      const client = await connect(info.superuser);
      after(() => client.end());
      await client.query('SELECT pg_create_logical_replication_slot($1, $2, true)', [slot, plugin]);
      const { rows } = await client.query('SELECT temporary FROM pg_replication_slots WHERE slot_name = $1', [
        slot,
      ]);
      assert.deepEqual(rows, [{ temporary: true }]);
      await client.query('SELECT pg_drop_replication_slot($1)', [slot]);
    });
  }

  test('TLS is on and verifies against the harness CA for localhost', { skip: false }, async (t) => {
    if (info.external) return t.skip('external server: its certificates are not ours');
    const client = await connect(info.roles.replication, { tls: true });
    after(() => client.end());
    const { rows } = await client.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    assert.deepEqual(rows, [{ ssl: true }]);
  });

  test('roles log in exactly as their hba lines say', async (t) => {
    if (info.external) return t.skip('external server: hba lines are not ours');
    const r = info.roles;
    assert.equal(await canLogIn(r.replication), true);
    assert.equal(await canLogIn(r.replication, { replication: true }), true);
    assert.equal(await canLogIn(r.cleartext, { tls: true }), true);
    assert.equal(await canLogIn(r.md5, { tls: true }), true);
    assert.equal(await canLogIn(r.login), true);
    assert.match(String(await canLogIn(r.login, { replication: true })), /replication|WAL sender/i);
    assert.match(String(await canLogIn(r.tlsOnly)), /no encryption|rejects connection/i);
    assert.equal(await canLogIn(r.tlsOnly, { tls: true }), true);
    assert.match(
      String(await canLogIn({ user: r.replication.user, password: 'wrong' })),
      /password authentication failed/,
    );
  });

  test('the md5 role really uses md5 and the cleartext role the password method', async (t) => {
    if (info.external) return t.skip('external server: hba lines are not ours');
    const rows = await runSql<{ rolname: string; kind: string }>(
      info,
      `SELECT rolname, left(rolpassword, 3) AS kind FROM pg_authid WHERE rolname IN ('${info.roles.md5.user}', '${info.roles.cleartext.user}') ORDER BY rolname`,
    );
    assert.deepEqual(rows, [
      { rolname: info.roles.cleartext.user, kind: 'SCR' },
      { rolname: info.roles.md5.user, kind: 'md5' },
    ]);
  });
});

// Live tests of TLS client-certificate authentication (hba method `cert`): the certificate is the only
// proof, no password is ever asked for, and its absence or a wrong key fails with a typed error.
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { ConfigError, PgnudgeError, TlsError, WalFeed } from '../../src/index.js';
import type { ConnectionOptions } from '../../src/transport/settings.js';
import { resolveConnectionSettings } from '../../src/transport/settings.js';
import { type ClusterInfo, liveCluster, scratchDatabase } from '../support/cluster.js';
import { FeedProbe } from '../support/feed-probe.js';
import { DEADLINE, NO_FILES_IO, openConnection, refusal } from '../support/live-connection.js';

let info: ClusterInfo;

before(async () => {
  info = await liveCluster();
});

/** The cert role, or the reason this server cannot have one. */
function certRole(): NonNullable<ClusterInfo['certRole']> | string {
  return info.certRole ?? 'external server: the harness did not issue its client certificate';
}

/** Settings for the cert role: no password anywhere, so only the certificate can prove who we are. */
function certSettings(role: NonNullable<ClusterInfo['certRole']>, options: ConnectionOptions) {
  return resolveConnectionSettings(
    {
      host: info.host,
      port: info.port,
      user: role.user,
      database: 'postgres',
      connectTimeout: 10_000,
      ...options,
    },
    {},
    NO_FILES_IO,
  );
}

describe('client certificate authentication (hba cert)', () => {
  test('a certificate alone logs in, over verify-full, as a replication session', DEADLINE, async (t) => {
    const role = certRole();
    if (typeof role === 'string') return t.skip(role);
    const connection = await openConnection(
      t,
      certSettings(role, {
        host: 'localhost',
        sslmode: 'verify-full',
        sslrootcert: info.caFile!,
        sslcert: role.certFile,
        sslkey: role.keyFile,
      }),
      { replication: 'database' },
    );
    assert.equal(connection.tls, true);
    assert.equal(connection.authMethod, 'trust', 'the server asked for no password');
    const [result] = await connection.query('IDENTIFY_SYSTEM');
    assert.equal(result?.rows.length, 1, 'the walsender answers replication commands');
  });

  test('without the certificate the same role is refused, typed and not retryable', DEADLINE, async (t) => {
    const role = certRole();
    if (typeof role === 'string') return t.skip(role);
    const error = await refusal(certSettings(role, { sslmode: 'require' }));
    assert.ok(error instanceof PgnudgeError);
    assert.equal(error.retryable, false, `${error.code}: ${error.message}`);
    assert.match(error.message, /certificate/i);
  });

  test(
    'a key that does not belong to the certificate is a configuration error before connecting, not a lost connection to retry',
    DEADLINE,
    async (t) => {
      const role = certRole();
      if (typeof role === 'string') return t.skip(role);
      // The server's key file is readable only by the server's owner; the CA key is ours and is wrong.
      const wrongKey = role.keyFile.replace(/client\.key$/, 'ca.key');
      const error = await refusal(
        certSettings(role, { sslmode: 'require', sslcert: role.certFile, sslkey: wrongKey }),
      );
      assert.ok(error instanceof TlsError || error instanceof ConfigError, `${error.name}: ${error.message}`);
      assert.match(error.message, /sslkey|key/i);
    },
  );

  test('a missing key file names the option and the path', DEADLINE, async (t) => {
    const role = certRole();
    if (typeof role === 'string') return t.skip(role);
    const error = await refusal(
      certSettings(role, {
        sslmode: 'require',
        sslcert: role.certFile,
        sslkey: '/nonexistent/pgnudge.key',
      }),
    );
    assert.match(error.message, /sslkey/);
    assert.match(error.message, /\/nonexistent\/pgnudge\.key/);
  });

  test('a key file others can read is refused before connecting, as libpq does', DEADLINE, async (t) => {
    const role = certRole();
    if (typeof role === 'string') return t.skip(role);
    const dir = mkdtempSync(join(tmpdir(), 'pgnudge-cert-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const exposed = join(dir, 'client.key');
    copyFileSync(role.keyFile, exposed);
    chmodSync(exposed, 0o644);
    const error = await refusal(
      certSettings(role, { sslmode: 'require', sslcert: role.certFile, sslkey: exposed }),
    );
    assert.ok(error instanceof ConfigError, `${error.name}: ${error.message}`);
    assert.equal(error.option, 'sslkey');
    assert.match(error.message, /mode 0644.*chmod 06[04]0/);
  });

  test(
    'a certificate without its key (or a key without its certificate) is refused up front',
    DEADLINE,
    async (t) => {
      const role = certRole();
      if (typeof role === 'string') return t.skip(role);
      const noKey = await refusal(certSettings(role, { sslmode: 'require', sslcert: role.certFile }));
      assert.ok(noKey instanceof ConfigError);
      assert.match(noKey.message, /sslcert is set but sslkey is not/);
      const noCert = await refusal(certSettings(role, { sslmode: 'require', sslkey: role.keyFile }));
      assert.ok(noCert instanceof ConfigError);
      assert.match(noCert.message, /sslkey is set but sslcert is not/);
    },
  );

  test('WalFeed authenticates with the certificate and goes live', { timeout: 60_000 }, async (t) => {
    const role = certRole();
    if (typeof role === 'string') return t.skip(role);
    const db = await scratchDatabase(info, 'cert_feed');
    t.after(() => db.drop());
    const feed = new WalFeed({
      host: 'localhost',
      port: info.port,
      user: role.user,
      database: db.name,
      sslmode: 'verify-full',
      sslrootcert: info.caFile!,
      sslcert: role.certFile,
      sslkey: role.keyFile,
      plugin: 'test_decoding',
    });
    const probe = new FeedProbe(feed);
    t.after(() => feed.close());
    await probe.resync('connected', 0, 30_000);
  });
});

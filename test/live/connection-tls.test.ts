// Live tests of TLS in the connection shell: every sslmode against the harness server, certificate and host
// name verification, SCRAM-SHA-256-PLUS, and the hostnossl-rejected role (contract §4, R11, R17).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { type AddressInfo, createServer, connect as netConnect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { TlsError } from '../../src/errors.js';
import type { PgConnection } from '../../src/transport/connection.js';
import { type ClusterInfo, liveCluster, makeCa } from '../support/cluster.js';
import { DEADLINE, openConnection, refusal, settingsFor } from '../support/live-connection.js';
import { TcpProxy } from '../support/tcp-proxy.js';

let info: ClusterInfo;
let scratch: string;
let wrongCa: string;

before(async () => {
  info = await liveCluster();
  scratch = mkdtempSync(join(tmpdir(), 'pgnudge-tls-test-'));
  // A CA that never signed the server's certificate: verification must refuse the server.
  wrongCa = makeCa(scratch, 'other-ca', 'pgnudge unrelated CA').cert;
});

after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** The skip reason when the server's certificates are not the harness's own. */
function noHarnessTls(): string | undefined {
  return info.caFile === null || info.external ? 'external server: its certificates are not ours' : undefined;
}

/** A bare TCP forwarder listening on `address`, so the server can be reached under another name. */
async function pipeFrom(
  address: string,
  target: { host: string; port: number },
): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = netConnect(target);
    sockets.add(client);
    sockets.add(upstream);
    const close = () => {
      sockets.delete(client);
      sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, address, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    // server.close waits for open links, so end them first.
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

async function serverSeesSsl(connection: PgConnection): Promise<string | null | undefined> {
  const [result] = await connection.query('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
  return result?.rows[0]?.[0];
}

describe('connection shell: TLS', () => {
  test(
    'verify-full to localhost verifies the chain and host name and uses SCRAM-SHA-256-PLUS',
    DEADLINE,
    async (t) => {
      const skip = noHarnessTls();
      if (skip) return t.skip(skip);
      const connection = await openConnection(
        t,
        settingsFor(info, info.roles.replication, {
          host: 'localhost',
          sslmode: 'verify-full',
          sslrootcert: info.caFile!,
        }),
      );
      assert.equal(connection.tls, true);
      assert.equal(connection.authMethod, 'SCRAM-SHA-256-PLUS');
      assert.equal(await serverSeesSsl(connection), 't');
      assert.ok(connection.parameters.get('server_version'), 'ParameterStatus server_version arrived');
      assert.ok(connection.processId > 0, 'BackendKeyData arrived');
    },
  );

  test('verify-full to 127.0.0.1 matches the certificate IP SAN', DEADLINE, async (t) => {
    const skip = noHarnessTls();
    if (skip) return t.skip(skip);
    const connection = await openConnection(
      t,
      settingsFor(info, info.roles.replication, {
        host: '127.0.0.1',
        sslmode: 'verify-full',
        sslrootcert: info.caFile!,
      }),
    );
    assert.equal(connection.tls, true);
    assert.equal(connection.authMethod, 'SCRAM-SHA-256-PLUS');
    assert.equal(await serverSeesSsl(connection), 't');
  });

  test('verify-full with an unrelated CA fails with TlsError before authenticating', DEADLINE, async (t) => {
    const skip = noHarnessTls();
    if (skip) return t.skip(skip);
    const error = await refusal(
      settingsFor(info, info.roles.replication, {
        host: 'localhost',
        sslmode: 'verify-full',
        sslrootcert: wrongCa,
      }),
    );
    assert.ok(error instanceof TlsError, `expected TlsError, got ${error.name}: ${error.message}`);
    assert.equal(error.code, 'PGNUDGE_ERR_TLS');
    assert.equal(error.retryable, false);
    assert.ok(!error.message.includes(info.roles.replication.password));
  });

  test('verify-ca with an unrelated CA fails with TlsError too', DEADLINE, async (t) => {
    const skip = noHarnessTls();
    if (skip) return t.skip(skip);
    const error = await refusal(
      settingsFor(info, info.roles.replication, { sslmode: 'verify-ca', sslrootcert: wrongCa }),
    );
    assert.equal(error.code, 'PGNUDGE_ERR_TLS');
  });

  test('verify-ca accepts the right CA', DEADLINE, async (t) => {
    const skip = noHarnessTls();
    if (skip) return t.skip(skip);
    const connection = await openConnection(
      t,
      settingsFor(info, info.roles.replication, { sslmode: 'verify-ca', sslrootcert: info.caFile! }),
    );
    assert.equal(connection.tls, true);
    assert.equal(connection.authMethod, 'SCRAM-SHA-256-PLUS');
  });

  test(
    'a host name outside the certificate: verify-ca accepts it, verify-full refuses it',
    DEADLINE,
    async (t) => {
      const skip = noHarnessTls();
      if (skip) return t.skip(skip);
      // 127.0.0.2 is not in the certificate's SANs; a pipe listening there reaches the same server.
      const pipe = await pipeFrom('127.0.0.2', { host: info.host, port: info.port }).catch(() => null);
      if (pipe === null) return t.skip('cannot listen on 127.0.0.2 here');
      t.after(() => pipe.close());
      const base = { host: '127.0.0.2', port: pipe.port, sslrootcert: info.caFile! } as const;
      const connection = await openConnection(
        t,
        settingsFor(info, info.roles.replication, { ...base, sslmode: 'verify-ca' }),
      );
      assert.equal(connection.tls, true);
      const error = await refusal(
        settingsFor(info, info.roles.replication, { ...base, sslmode: 'verify-full' }),
      );
      assert.ok(error instanceof TlsError, `expected TlsError, got ${error.name}: ${error.message}`);
      assert.match(error.message, /127\.0\.0\.2/);
    },
  );

  test('require without a root certificate encrypts without verifying', DEADLINE, async (t) => {
    const connection = await openConnection(
      t,
      settingsFor(info, info.roles.replication, { sslmode: 'require' }),
    );
    assert.equal(connection.tls, true);
    assert.equal(connection.authMethod, 'SCRAM-SHA-256-PLUS');
    assert.equal(await serverSeesSsl(connection), 't');
  });

  test('disable stays in plaintext and uses plain SCRAM-SHA-256', DEADLINE, async (t) => {
    const connection = await openConnection(
      t,
      settingsFor(info, info.roles.replication, { sslmode: 'disable' }),
    );
    assert.equal(connection.tls, false);
    assert.equal(connection.authMethod, 'SCRAM-SHA-256');
    assert.equal(await serverSeesSsl(connection), 'f');
  });

  test('prefer uses TLS when the server offers it', DEADLINE, async (t) => {
    const connection = await openConnection(
      t,
      settingsFor(info, info.roles.replication, { sslmode: 'prefer' }),
    );
    assert.equal(connection.tls, true);
    assert.equal(await serverSeesSsl(connection), 't');
  });

  test('allow starts in plaintext when the server accepts it', DEADLINE, async (t) => {
    const connection = await openConnection(
      t,
      settingsFor(info, info.roles.replication, { sslmode: 'allow' }),
    );
    assert.equal(connection.tls, false);
    assert.equal(connection.authMethod, 'SCRAM-SHA-256');
  });

  for (const role of ['md5', 'cleartext'] as const) {
    test(
      `allow moves to TLS when the server asks for a ${role} password over plaintext (contract R17)`,
      DEADLINE,
      async (t) => {
        if (info.external) return t.skip('external server: hba lines are not ours');
        const connection = await openConnection(t, settingsFor(info, info.roles[role], { sslmode: 'allow' }));
        assert.equal(connection.tls, true);
        assert.equal(connection.authMethod, role === 'md5' ? 'md5' : 'password');
        assert.equal(await serverSeesSsl(connection), 't');
      },
    );
  }

  describe('the role that pg_hba.conf rejects without TLS (hostnossl reject)', () => {
    test('is refused over plaintext with a typed error', DEADLINE, async (t) => {
      if (info.external) return t.skip('external server: hba lines are not ours');
      const error = await refusal(settingsFor(info, info.roles.tlsOnly, { sslmode: 'disable' }));
      assert.equal(error.name, 'ServerError');
      assert.equal(error.code, 'PGNUDGE_ERR_AUTH_FAILED');
      assert.match(error.message, /no encryption/);
      assert.equal((error as { sqlState?: string }).sqlState, '28000');
    });

    test('is accepted over TLS (require)', DEADLINE, async (t) => {
      if (info.external) return t.skip('external server: hba lines are not ours');
      const connection = await openConnection(
        t,
        settingsFor(info, info.roles.tlsOnly, { sslmode: 'require' }),
      );
      assert.equal(connection.tls, true);
      assert.equal(connection.authMethod, 'SCRAM-SHA-256-PLUS');
    });

    test('sslmode=allow falls back to TLS after the plaintext refusal', DEADLINE, async (t) => {
      if (info.external) return t.skip('external server: hba lines are not ours');
      const connection = await openConnection(t, settingsFor(info, info.roles.tlsOnly, { sslmode: 'allow' }));
      assert.equal(connection.tls, true);
      assert.equal(await serverSeesSsl(connection), 't');
    });

    test('sslmode=allow falls back to TLS on a replication connection too', DEADLINE, async (t) => {
      if (info.external) return t.skip('external server: hba lines are not ours');
      const connection = await openConnection(
        t,
        settingsFor(info, info.roles.tlsOnly, { sslmode: 'allow' }),
        {
          replication: 'database',
        },
      );
      assert.equal(connection.tls, true);
      const [result] = await connection.query('IDENTIFY_SYSTEM');
      assert.equal(result?.rows.length, 1);
    });

    test('sslmode=prefer uses TLS and is accepted', DEADLINE, async (t) => {
      if (info.external) return t.skip('external server: hba lines are not ours');
      const connection = await openConnection(
        t,
        settingsFor(info, info.roles.tlsOnly, { sslmode: 'prefer' }),
      );
      assert.equal(connection.tls, true);
    });
  });
});

describe('how a TLS session is read', () => {
  /** A query whose answer spans many reads: 20,000 rows of 100 bytes, about 2.5 MB with framing. */
  async function largeAnswer(connection: PgConnection): Promise<void> {
    const [result] = await connection.query(
      'SELECT i, repeat(chr(65 + i % 26), 100) FROM generate_series(1, 20000) AS i',
    );
    assert.equal(result?.rows.length, 20_000);
    for (const [index, row] of result!.rows.entries()) {
      const i = index + 1;
      assert.equal(row[0], String(i));
      assert.equal(row[1], String.fromCharCode(65 + (i % 26)).repeat(100));
    }
  }

  test('after an SSLRequest the session reads into a slab, and every byte arrives', DEADLINE, async (t) => {
    const skip = noHarnessTls();
    if (skip) return t.skip(skip);
    const connection = await openConnection(
      t,
      settingsFor(info, info.roles.replication, {
        host: 'localhost',
        sslmode: 'verify-full',
        sslrootcert: info.caFile!,
      }),
    );
    assert.equal(connection.tls, true);
    assert.equal(connection.readsIntoSlab, true);
    await largeAnswer(connection);
  });

  test("read as a stream (Node's internals not as expected), it works the same", DEADLINE, async (t) => {
    const skip = noHarnessTls();
    if (skip) return t.skip(skip);
    const connection = await openConnection(
      t,
      settingsFor(info, info.roles.replication, {
        host: 'localhost',
        sslmode: 'verify-full',
        sslrootcert: info.caFile!,
      }),
      { streamWrappedTls: true },
    );
    assert.equal(connection.tls, true);
    assert.equal(connection.readsIntoSlab, false);
    assert.equal(connection.authMethod, 'SCRAM-SHA-256-PLUS');
    await largeAnswer(connection);
  });
});

describe('direct TLS (sslnegotiation=direct)', () => {
  test(
    'on PostgreSQL 17+ the first byte on the wire is a TLS handshake, not an SSLRequest',
    DEADLINE,
    async (t) => {
      const skip =
        noHarnessTls() ?? (info.major < 17 ? `PostgreSQL ${info.major} has no direct TLS` : undefined);
      if (skip) return t.skip(skip);
      const proxy = await TcpProxy.start({ host: info.host, port: info.port });
      t.after(() => proxy.close());
      const connection = await openConnection(
        t,
        settingsFor(info, info.roles.replication, {
          host: 'localhost',
          port: proxy.port,
          sslmode: 'verify-full',
          sslrootcert: info.caFile!,
          sslnegotiation: 'direct',
        }),
      );
      assert.equal(connection.tls, true);
      assert.equal(connection.authMethod, 'SCRAM-SHA-256-PLUS');
      assert.equal(await serverSeesSsl(connection), 't');
      // 0x16 is a TLS handshake record; an SSLRequest would start with its length, 00 00 00 08.
      assert.equal(proxy.clientBytes()[0], 0x16);
    },
  );

  test('before PostgreSQL 17 direct TLS fails with a typed error instead of hanging', DEADLINE, async (t) => {
    const skip =
      noHarnessTls() ?? (info.major >= 17 ? `PostgreSQL ${info.major} supports direct TLS` : undefined);
    if (skip) return t.skip(skip);
    const error = await refusal(
      settingsFor(info, info.roles.replication, {
        host: 'localhost',
        sslmode: 'verify-full',
        sslrootcert: info.caFile!,
        sslnegotiation: 'direct',
        connectTimeout: 5_000,
      }),
    );
    assert.ok(
      ['PGNUDGE_ERR_TLS', 'PGNUDGE_ERR_CONNECTION'].includes(error.code),
      `${error.code}: ${error.message}`,
    );
  });
});

// Direct TLS (sslnegotiation=direct) on a connection node:tls opens itself, the path that reads through
// onread (slab-reads.ts): a connect that fails before TCP is up is said and retried as every other
// connect (the next host is tried, a DNS failure included); a server that does not speak PostgreSQL's ALPN is a TlsError.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer as createNetServer } from 'node:net';
import { after, describe, test } from 'node:test';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { ConnectionError, TlsError } from '../../../src/errors.js';
import { PgConnection } from '../../../src/transport/connection.js';
import { resolveConnectionSettings } from '../../../src/transport/settings.js';
import { tlsMaterial } from '../../support/hostile-run.js';
import { NO_FILES_IO } from '../../support/live-connection.js';
import { withDeadline } from '../../support/wait.js';

const DEADLINE = { timeout: 10_000 };
const material = tlsMaterial();
after(() => material.remove());

/** A port nothing listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createNetServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Direct TLS without verification to `hosts` and `ports` (libpq's comma lists). */
function directSettings(hosts: string, ports: string) {
  return resolveConnectionSettings(
    {
      connectionString: `host=${hosts} port=${ports} user=u dbname=d sslmode=require sslnegotiation=direct`,
    },
    {},
    NO_FILES_IO,
  );
}

async function failure(attempt: Promise<unknown>): Promise<unknown> {
  return withDeadline(
    attempt.then(
      () => assert.fail('the connect succeeded'),
      (error: unknown) => error,
    ),
    8_000,
    'the connect to fail',
  );
}

describe('direct TLS on its own connection', () => {
  test('a refused connect is a retryable ConnectionError that names the address', DEADLINE, async () => {
    const port = await closedPort();
    const error = await failure(
      PgConnection.connect(directSettings('127.0.0.1', String(port)), { replication: 'database' }),
    );
    assert.ok(error instanceof ConnectionError, `got ${error}`);
    assert.equal(error.retryable, true);
    assert.match(error.message, new RegExp(`^cannot connect to 127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
  });

  test(
    'a host name that does not resolve is skipped for the next host, reached over direct TLS',
    DEADLINE,
    async () => {
      const protocols: (string | false | null)[] = [];
      const server = createTlsServer({
        cert: material.cert,
        key: material.key,
        ALPNProtocols: ['postgresql'],
      });
      server.on('secureConnection', (socket: TLSSocket) => {
        protocols.push(socket.alpnProtocol);
        socket.destroy();
      });
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const { port } = server.address() as AddressInfo;
      try {
        const error = await failure(
          // .invalid never resolves (RFC 6761): the lookup fails before any TCP, as ENOTFOUND.
          PgConnection.connect(directSettings('pgnudge-test.invalid,127.0.0.1', `${port},${port}`), {
            replication: 'database',
          }),
        );
        assert.ok(error instanceof ConnectionError, `got ${error}`);
        assert.deepEqual(protocols, ['postgresql'], 'the second host was reached, over direct TLS');
      } finally {
        server.close();
      }
    },
  );

  test(
    'a server without ALPN "postgresql" is a TlsError that says direct TLS needs PostgreSQL 17',
    DEADLINE,
    async () => {
      const server = createTlsServer({ cert: material.cert, key: material.key });
      server.on('secureConnection', (socket: TLSSocket) => socket.on('error', () => {}));
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      const { port } = server.address() as AddressInfo;
      try {
        const error = await failure(
          PgConnection.connect(directSettings('127.0.0.1', String(port)), { replication: 'database' }),
        );
        assert.ok(error instanceof TlsError, `got ${error}`);
        assert.match(error.message, /ALPN "postgresql"; direct TLS needs PostgreSQL 17/);
      } finally {
        server.close();
      }
    },
  );
});

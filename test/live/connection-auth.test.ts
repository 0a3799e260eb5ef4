// Live tests of authentication in the connection shell: SCRAM, channel binding, the refusal to send cleartext
// or MD5 passwords without TLS (proved on the wire through a proxy), typed errors for wrong passwords and
// missing REPLICATION, and password functions (contract §4, R11, R17).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { before, describe, test } from 'node:test';
import { AuthenticationError, ConfigError, ServerError } from '../../src/errors.js';
import { PgConnection } from '../../src/transport/connection.js';
import { type ClusterInfo, liveCluster, type Role } from '../support/cluster.js';
import { DEADLINE, openConnection, refusal, settingsFor } from '../support/live-connection.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait.js';

let info: ClusterInfo;
before(async () => {
  info = await liveCluster();
});

const SSL_REQUEST_CODE = 80877103;
const PROTOCOL_3_0 = 196608;

/**
 * The frontend messages in a recorded client byte stream: the untyped SSLRequest and StartupMessage by
 * name, then every typed message by its code letter ('p' is a password, SASL or GSS response).
 */
function frontendMessages(bytes: Buffer): string[] {
  const found: string[] = [];
  let offset = 0;
  while (offset + 8 <= bytes.length) {
    const length = bytes.readInt32BE(offset);
    const code = bytes.readInt32BE(offset + 4);
    if (code === SSL_REQUEST_CODE) found.push('SSLRequest');
    else if (code === PROTOCOL_3_0) found.push('StartupMessage');
    else break;
    offset += length;
    if (code === PROTOCOL_3_0) break;
  }
  while (offset + 5 <= bytes.length) {
    found.push(String.fromCharCode(bytes[offset]!));
    offset += 1 + bytes.readInt32BE(offset + 1);
  }
  return found;
}

/** Starts a proxy to the cluster that the test closes. */
async function proxyFor(t: { after(fn: () => unknown): void }): Promise<TcpProxy> {
  const proxy = await TcpProxy.start({ host: info.host, port: info.port });
  t.after(() => proxy.close());
  return proxy;
}

/** Waits until every client socket through `proxy` closed, so all bytes it sent are recorded. */
async function drained(proxy: TcpProxy): Promise<Buffer> {
  await waitFor(() => proxy.open === 0, { timeoutMs: 5_000, what: 'the proxied connection to close' });
  return proxy.clientBytes();
}

function md5Hex(text: string): string {
  return createHash('md5').update(text).digest('hex');
}

describe('connection shell: authentication', () => {
  test(
    'a wrong password fails with PGNUDGE_ERR_AUTH_FAILED and never echoes the password',
    DEADLINE,
    async () => {
      const wrong = `wrong-${info.roles.replication.password}-x`;
      for (const sslmode of ['disable', 'require'] as const) {
        const error = await refusal(
          settingsFor(info, { ...info.roles.replication, password: wrong }, { sslmode }),
        );
        assert.ok(
          error instanceof ServerError || error instanceof AuthenticationError,
          `expected ServerError or AuthenticationError, got ${error.name}: ${error.message}`,
        );
        assert.equal(error.code, 'PGNUDGE_ERR_AUTH_FAILED', `${sslmode}: ${error.message}`);
        assert.equal(error.retryable, false);
        assert.ok(!error.message.includes(wrong), 'the message carries the password');
        assert.ok(!error.message.includes(info.roles.replication.password), 'the message carries a password');
        assert.ok(!JSON.stringify(error).includes(wrong), 'an own property carries the password');
      }
    },
  );

  test(
    'no password for a SCRAM role fails with PGNUDGE_ERR_AUTH_FAILED before anything is sent',
    DEADLINE,
    async () => {
      const settings = settingsFor(info, info.roles.replication, { sslmode: 'disable' });
      const error = await refusal({ ...settings, password: undefined });
      assert.ok(error instanceof AuthenticationError);
      assert.equal(error.code, 'PGNUDGE_ERR_AUTH_FAILED');
    },
  );

  for (const kind of ['cleartext', 'md5'] as const) {
    const method = kind === 'cleartext' ? 'password' : 'md5';

    test(
      `the ${kind} role over plaintext is refused and its password never crosses the wire`,
      DEADLINE,
      async (t) => {
        if (info.external) return t.skip('external server: hba lines are not ours');
        const role: Role = info.roles[kind];
        const proxy = await proxyFor(t);
        const error = await refusal(
          settingsFor(info, role, { host: proxy.host, port: proxy.port, sslmode: 'disable' }),
        );
        assert.ok(error instanceof AuthenticationError, `expected AuthenticationError, got ${error.name}`);
        assert.equal(error.code, 'PGNUDGE_ERR_AUTH_INSECURE');
        assert.ok(!error.message.includes(role.password));

        const sent = await drained(proxy);
        assert.ok(sent.includes(role.user), 'the proxy recorded the startup message');
        assert.deepEqual(frontendMessages(sent), ['StartupMessage'], 'nothing but the startup was sent');
        const inner = md5Hex(role.password + role.user);
        for (const secret of [role.password, inner, `md5${inner}`]) {
          assert.equal(
            sent.indexOf(secret),
            -1,
            `${secret === role.password ? 'the password' : 'its md5'} was sent`,
          );
        }
      },
    );

    test(
      `the ${kind} role over TLS authenticates with ${method}, encrypted on the wire`,
      DEADLINE,
      async (t) => {
        if (info.external) return t.skip('external server: hba lines are not ours');
        const role: Role = info.roles[kind];
        const proxy = await proxyFor(t);
        const connection = await openConnection(
          t,
          settingsFor(info, role, { host: proxy.host, port: proxy.port, sslmode: 'require' }),
        );
        assert.equal(connection.tls, true);
        assert.equal(connection.authMethod, method);
        const [result] = await connection.query('SELECT current_user');
        assert.deepEqual(result?.rows, [[role.user]]);
        await connection.end();
        const sent = await drained(proxy);
        assert.deepEqual(frontendMessages(sent).slice(0, 1), ['SSLRequest']);
        assert.equal(sent.indexOf(role.password), -1, 'the password crossed the proxy unencrypted');
      },
    );

    test(`the ${kind} role with channel_binding=require over TLS fails closed`, DEADLINE, async (t) => {
      if (info.external) return t.skip('external server: hba lines are not ours');
      const error = await refusal(
        settingsFor(info, info.roles[kind], { sslmode: 'require', channelBinding: 'require' }),
      );
      assert.ok(error instanceof AuthenticationError, `expected AuthenticationError, got ${error.name}`);
      assert.equal(error.code, 'PGNUDGE_ERR_CHANNEL_BINDING');
    });
  }

  describe('channel binding', () => {
    test('require over TLS authenticates with SCRAM-SHA-256-PLUS', DEADLINE, async (t) => {
      const connection = await openConnection(
        t,
        settingsFor(info, info.roles.replication, { sslmode: 'require', channelBinding: 'require' }),
      );
      assert.equal(connection.tls, true);
      assert.equal(connection.authMethod, 'SCRAM-SHA-256-PLUS');
    });

    test('require with sslmode=disable is refused when the settings are resolved', () => {
      assert.throws(
        () => settingsFor(info, info.roles.replication, { sslmode: 'disable', channelBinding: 'require' }),
        (error: unknown) => error instanceof ConfigError && error.code === 'PGNUDGE_ERR_CONFIG',
      );
    });

    test(
      'require without TLS fails closed with PGNUDGE_ERR_CHANNEL_BINDING before sending a proof',
      DEADLINE,
      async (t) => {
        // The settings layer refuses this pair up front; the shell must still fail closed if handed it.
        const proxy = await proxyFor(t);
        const settings = settingsFor(info, info.roles.replication, {
          host: proxy.host,
          port: proxy.port,
          sslmode: 'require',
          channelBinding: 'require',
        });
        const error = await refusal({ ...settings, sslmode: 'disable' });
        assert.ok(error instanceof AuthenticationError, `expected AuthenticationError, got ${error.name}`);
        assert.equal(error.code, 'PGNUDGE_ERR_CHANNEL_BINDING');
        assert.deepEqual(frontendMessages(await drained(proxy)), ['StartupMessage']);
      },
    );

    test('require over a Unix socket (never TLS) fails closed', DEADLINE, async (t) => {
      if (info.socketDir === null) return t.skip('external server: no Unix socket');
      const error = await refusal(
        settingsFor(info, info.roles.replication, { host: info.socketDir, channelBinding: 'require' }),
      );
      assert.equal(error.code, 'PGNUDGE_ERR_CHANNEL_BINDING');
    });

    test('disable over TLS authenticates with plain SCRAM-SHA-256', DEADLINE, async (t) => {
      const connection = await openConnection(
        t,
        settingsFor(info, info.roles.replication, { sslmode: 'require', channelBinding: 'disable' }),
      );
      assert.equal(connection.tls, true);
      assert.equal(connection.authMethod, 'SCRAM-SHA-256');
    });
  });

  describe('the REPLICATION attribute', () => {
    for (const replication of ['database', 'physical'] as const) {
      test(
        `a role without it is refused replication=${replication} with PGNUDGE_ERR_REPLICATION_DENIED`,
        DEADLINE,
        async () => {
          const error = await refusal(settingsFor(info, info.roles.login), { replication });
          assert.ok(
            error instanceof ServerError,
            `expected ServerError, got ${error.name}: ${error.message}`,
          );
          assert.equal(error.code, 'PGNUDGE_ERR_REPLICATION_DENIED');
          assert.equal(error.retryable, false);
          assert.match(error.message, /REPLICATION/);
        },
      );
    }

    test('the same role connects with replication=off', DEADLINE, async (t) => {
      const connection = await openConnection(t, settingsFor(info, info.roles.login), { replication: 'off' });
      const [result] = await connection.query(
        'SELECT rolreplication FROM pg_roles WHERE rolname = current_user',
      );
      assert.deepEqual(result?.rows, [['f']]);
    });
  });

  describe('password functions', () => {
    test('a synchronous password function is called per attempt', DEADLINE, async (t) => {
      let calls = 0;
      const password = () => {
        calls += 1;
        return info.roles.replication.password;
      };
      const connection = await openConnection(
        t,
        settingsFor(info, { ...info.roles.replication }, { password }),
      );
      assert.equal(connection.authMethod.startsWith('SCRAM-SHA-256'), true);
      const again = await openConnection(t, settingsFor(info, info.roles.replication, { password }));
      assert.equal(again.closed, false);
      assert.equal(calls, 2);
    });

    test('an asynchronous password function works', DEADLINE, async (t) => {
      const password = async () => {
        await new Promise((resolve) => setImmediate(resolve));
        return info.roles.replication.password;
      };
      const connection = await openConnection(
        t,
        settingsFor(info, info.roles.replication, { password, sslmode: 'disable' }),
      );
      assert.equal(connection.authMethod, 'SCRAM-SHA-256');
    });

    test('a throwing password function gives a typed error', DEADLINE, async () => {
      for (const password of [
        () => {
          throw new Error('token service down');
        },
        async () => {
          throw new Error('token service down');
        },
      ]) {
        const error = await refusal(settingsFor(info, info.roles.replication, { password }));
        assert.ok(error instanceof AuthenticationError, `expected AuthenticationError, got ${error.name}`);
        assert.equal(error.code, 'PGNUDGE_ERR_AUTH_FAILED');
        assert.match(error.message, /token service down/);
      }
    });

    test('a password function returning a non-string gives a typed error', DEADLINE, async () => {
      const password = (() => 42) as unknown as () => string;
      const error = await refusal(settingsFor(info, info.roles.replication, { password }));
      assert.equal(error.code, 'PGNUDGE_ERR_AUTH_FAILED');
    });
  });

  test('a Unix socket connection authenticates with SCRAM-SHA-256', DEADLINE, async (t) => {
    if (info.socketDir === null) return t.skip('external server: no Unix socket');
    const settings = settingsFor(info, info.roles.replication, { host: info.socketDir });
    const connection = await PgConnection.connect(settings, { replication: 'database' });
    t.after(() => connection.abort());
    assert.equal(connection.tls, false);
    assert.equal(connection.authMethod, 'SCRAM-SHA-256');
    const [result] = await connection.query('IDENTIFY_SYSTEM');
    assert.equal(result?.rows.length, 1);
  });
});

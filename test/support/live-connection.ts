// Helpers for live tests of the connection shell: settings for a harness role (no PG* environment, no
// files), a connect that always cleans up, and a way to assert how a connect attempt was refused.
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { TestContext } from 'node:test';
import { PgnudgeError } from '../../src/errors.js';
import type { PrimaryKeepalive } from '../../src/protocol/replication.js';
import { type ConnectOptions, PgConnection } from '../../src/transport/connection.js';
import {
  type ConnectionOptions,
  type ConnectionSettings,
  resolveConnectionSettings,
  type SettingsIo,
} from '../../src/transport/settings.js';
import type { ClusterInfo, Role } from './cluster.js';

/** No password file, no ~/.postgresql: only what a test passes counts. */
export const NO_FILES_IO: SettingsIo = { readPasswordFile: () => undefined, homedir: '' };

/** A generous per-test deadline: a hung read fails the test instead of the run. */
export const DEADLINE = { timeout: 20_000 } as const;

/**
 * Settings for `role` on the harness cluster over TCP, resolved with an empty environment so the
 * runner's PG* variables cannot leak in. `options` override anything (host, sslmode, ...); with a
 * `connectionString`, its hosts and ports are used instead of the cluster's.
 */
export function settingsFor(
  info: ClusterInfo,
  role: Role,
  options: ConnectionOptions = {},
): ConnectionSettings {
  return resolveConnectionSettings(
    {
      // A connection string brings its own hosts; the explicit host and port would override it.
      ...(options.connectionString === undefined ? { host: info.host, port: info.port } : {}),
      user: role.user,
      password: role.password,
      database: 'postgres',
      connectTimeout: 10_000,
      ...options,
    },
    {},
    NO_FILES_IO,
  );
}

/** Connects and registers `abort()` with the test, so the socket never outlives it. */
export async function openConnection(
  t: TestContext,
  settings: ConnectionSettings,
  options: Partial<ConnectOptions> = {},
): Promise<PgConnection> {
  const connection = await PgConnection.connect(settings, { replication: 'off', ...options });
  t.after(() => connection.abort());
  return connection;
}

/**
 * Expects the connect to fail and returns the error, asserting it is a typed PgnudgeError. A connect
 * that unexpectedly succeeds is aborted before the assertion fails.
 */
export async function refusal(
  settings: ConnectionSettings,
  options: Partial<ConnectOptions> = {},
): Promise<PgnudgeError> {
  let connection: PgConnection;
  try {
    connection = await PgConnection.connect(settings, { replication: 'off', ...options });
  } catch (error) {
    assert.ok(error instanceof PgnudgeError, `expected a PgnudgeError, got ${String(error)}`);
    return error;
  }
  connection.abort();
  assert.fail(`expected the connection to be refused, but it authenticated with ${connection.authMethod}`);
}

/** A TCP port on 127.0.0.1 that nothing listens on (bound, read, released). */
export function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

/**
 * Answers a keepalive that asks for a reply, as every replication client must: a walsender that hears
 * nothing back within wal_sender_timeout ends the session.
 */
export function answerKeepalive(connection: PgConnection, message: PrimaryKeepalive): void {
  if (!message.replyRequested) return;
  connection.sendStatusUpdate({ write: message.walEnd, flush: 0n, apply: 0n, replyRequested: false });
}

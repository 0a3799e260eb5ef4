// contract R10 for a connect that never completes: a blackholed host retries its SYN for about two minutes,
// and an attempt abandoned meanwhile (AbortSignal, close(), connect_timeout) must destroy its socket, or
// the socket keeps the process alive. No local address leaves a SYN unanswered, so a fake socket that
// never emits 'connect' stands in for it.
import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { ConnectionError } from '../../../src/errors.js';
import { PgConnection } from '../../../src/transport/connection.js';
import { resolveConnectionSettings } from '../../../src/transport/settings.js';
import { NO_FILES_IO } from '../../support/live-connection.js';
import { waitFor, withDeadline } from '../../support/wait.js';

const DEADLINE_MS = 5_000;

/** A socket factory whose sockets never connect, recording each and whether it was destroyed. */
function hangingSockets(): { create: () => Socket; sockets: Socket[]; destroyed: Set<Socket> } {
  const sockets: Socket[] = [];
  const destroyed = new Set<Socket>();
  return {
    sockets,
    destroyed,
    create: () => {
      const socket = new Socket();
      const destroy = socket.destroy.bind(socket);
      socket.destroy = (error?: Error) => {
        destroyed.add(socket);
        return destroy(error);
      };
      sockets.push(socket);
      return socket;
    },
  };
}

function settings(connectTimeout: number) {
  return resolveConnectionSettings(
    { host: '192.0.2.1', port: 5432, user: 'u', database: 'd', sslmode: 'disable', connectTimeout },
    {},
    NO_FILES_IO,
  );
}

describe('PgConnection.connect abandoned while TCP is still connecting', () => {
  test('an abort destroys the connecting socket', async () => {
    const fake = hangingSockets();
    const controller = new AbortController();
    const attempt = PgConnection.connect(settings(0), {
      replication: 'database',
      signal: controller.signal,
      createSocket: fake.create,
    });
    const outcome = attempt.catch((error: unknown) => error);
    await waitFor(() => fake.sockets.length === 1, { timeoutMs: DEADLINE_MS, what: 'the connect to start' });
    controller.abort();
    const error = await withDeadline(outcome, DEADLINE_MS, 'the aborted connect to reject');
    assert.ok(error instanceof ConnectionError && /aborted/.test(error.message), String(error));
    assert.ok(fake.destroyed.has(fake.sockets[0]!), 'the connecting socket was left open');
  });

  test('connect_timeout destroys the connecting socket', async () => {
    const fake = hangingSockets();
    const outcome = PgConnection.connect(settings(200), {
      replication: 'database',
      createSocket: fake.create,
    }).catch((error: unknown) => error);
    const error = await withDeadline(outcome, DEADLINE_MS, 'the connect to time out');
    assert.ok(error instanceof ConnectionError, String(error));
    assert.equal(error.code, 'PGNUDGE_ERR_CONNECT_TIMEOUT');
    assert.equal(fake.sockets.length, 1);
    assert.ok(fake.destroyed.has(fake.sockets[0]!), 'the connecting socket was left open');
  });

  test('every host of a multi-host attempt that timed out is destroyed', async () => {
    const fake = hangingSockets();
    const base = settings(200);
    const outcome = PgConnection.connect(
      {
        ...base,
        hosts: [
          { host: '192.0.2.1', port: 5432 },
          { host: '192.0.2.2', port: 5432 },
        ],
      },
      { replication: 'database', createSocket: fake.create },
    ).catch((error: unknown) => error);
    await withDeadline(outcome, DEADLINE_MS, 'both hosts to time out');
    assert.equal(fake.sockets.length, 2);
    for (const socket of fake.sockets)
      assert.ok(fake.destroyed.has(socket), 'a connecting socket was left open');
  });
});

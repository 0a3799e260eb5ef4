// A clean close says goodbye (contract R10, issue 21): Terminate, then the socket ends, without waiting for
// the server, so the server ends the session quietly instead of logging "unexpected EOF on standby
// connection". A crash or a lost link still leaves the cleanup to the server. Against a fake server that
// records every client message; the live proof against PostgreSQL's own log is test/live/server-log.test.ts.
import assert from 'node:assert/strict';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { WalFeed } from '../../../src/index.js';
import { PgConnection } from '../../../src/transport/connection.js';
import { resolveConnectionSettings } from '../../../src/transport/settings.js';
import { xlogData } from '../../support/bytes.js';
import { FeedProbe } from '../../support/feed-probe.js';
import { CASE_DEADLINE_MS, fakeOptions, fakeSettings } from '../../support/hostile-run.js';
import {
  afterAuth,
  authOk,
  copyBothResponse,
  copyData,
  HostileServer,
  type HostileSession,
  walsenderAnswer,
} from '../../support/hostile-server.js';
import { NO_FILES_IO } from '../../support/live-connection.js';
import { waitFor, withDeadline } from '../../support/wait.js';

const TEST = { timeout: 15_000 } as const;

/** The type letters of the messages `session` received after startup. */
function typesAfterStartup(session: HostileSession): string[] {
  return session.messages.map((message) => message.type).filter((type) => type !== 'startup');
}

describe('PgConnection.terminate', () => {
  test(
    'sends Terminate as the last message and returns at once; the server closing ends the socket',
    TEST,
    async () => {
      const fake = await HostileServer.start({});
      try {
        const connection = await PgConnection.connect(fakeSettings(fake), { replication: 'database' });
        await connection.query('SELECT 1');
        const closed = new Promise((resolve) => connection.onClose(resolve));
        connection.terminate();
        assert.equal(connection.closed, true, 'closed before the server answered');
        await withDeadline(closed, CASE_DEADLINE_MS, 'the close listeners');
        const session = fake.sessions[0]!;
        // The fake closes its end when it reads Terminate, as PostgreSQL does.
        await waitFor(() => session.closed, { timeoutMs: CASE_DEADLINE_MS, what: 'the session to end' });
        assert.deepEqual(typesAfterStartup(session), ['Q', 'X']);
        connection.terminate();
        assert.deepEqual(typesAfterStartup(session), ['Q', 'X'], 'a second terminate sends nothing');
      } finally {
        await fake.close();
      }
    },
  );

  test(
    'a server that never closes its end cannot keep the socket: it goes after a short grace',
    TEST,
    async () => {
      // Half-open allowed: this server neither answers nor closes when the client ends its side.
      const received: Buffer[] = [];
      let serverSide: Socket | undefined;
      let ended = false;
      const server = createServer({ allowHalfOpen: true }, (socket) => {
        serverSide = socket;
        socket.once('data', () => socket.write(Buffer.concat([authOk(), ...afterAuth()])));
        socket.on('data', (chunk: Buffer) => received.push(chunk));
        socket.on('end', () => {
          ended = true;
        });
        socket.on('error', () => {});
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      try {
        const settings = resolveConnectionSettings(
          { host: '127.0.0.1', port, user: 'u', database: 'd', sslmode: 'disable' },
          {},
          NO_FILES_IO,
        );
        let clientSide: Socket | undefined;
        const connection = await PgConnection.connect(settings, {
          replication: 'database',
          createSocket: (options) => {
            clientSide = connect(options);
            return clientSide;
          },
        });
        const before = Buffer.concat(received).length;
        connection.terminate();
        await waitFor(() => ended, { timeoutMs: CASE_DEADLINE_MS, what: 'the client to end its side' });
        assert.deepEqual([...Buffer.concat(received).subarray(before)], [0x58, 0, 0, 0, 4], 'Terminate only');
        // Until the server closes, the client reads and drops what still arrives (closing with unread
        // bytes would reset the connection); the server never does, so the grace ends it.
        assert.equal(clientSide?.destroyed, false, 'destroyed at once, before the server could close');
        serverSide?.write(Buffer.from('late bytes the client drops'));
        await waitFor(() => clientSide?.destroyed, {
          timeoutMs: CASE_DEADLINE_MS,
          what: 'the client to destroy its socket after the grace',
        });
      } finally {
        serverSide?.destroy();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  );

  test(
    'while paced reads are stopped, reading starts again: the server closing is read, not reset',
    TEST,
    async () => {
      // A walsender that never stops sending until it reads Terminate, as during a large transaction.
      const fake = await HostileServer.start({
        query: (session, sql) => {
          if (!sql.startsWith('START_REPLICATION')) return walsenderAnswer(sql);
          const pump = () => {
            if (session.closed) return;
            session.send(copyData(xlogData(0x1000n, 0x2000n, 0n, Buffer.from('{}'))));
            setImmediate(pump);
          };
          setImmediate(pump);
          return copyBothResponse();
        },
      });
      try {
        let clientSide: Socket | undefined;
        const connection = await PgConnection.connect(fakeSettings(fake), {
          replication: 'database',
          createSocket: (options) => {
            clientSide = connect(options);
            return clientSide;
          },
        });
        let ended = false;
        clientSide!.once('end', () => {
          ended = true;
        });
        // An hour: the pause outlasts the test unless terminate() ends it.
        await connection.startReplication(
          'START_REPLICATION SLOT pgnudge_terminate LOGICAL 0/0',
          { xlogData() {}, keepalive() {} },
          // Any wake-up within a second continues a busy run, at any rate: how close and how fast reads
          // arrive is the machine's.
          { readPacingMs: 3_600_000, readBusy: { busyGapMs: 1000, busyBytesPerMs: 0 } },
        );
        await waitFor(() => connection.readsPaused, { timeoutMs: CASE_DEADLINE_MS, what: 'a pause' });
        connection.terminate();
        const session = fake.sessions[0]!;
        await waitFor(() => session.closed, { timeoutMs: CASE_DEADLINE_MS, what: 'the session to end' });
        assert.equal(typesAfterStartup(session).at(-1), 'X');
        // Reading on is what lets the client see the server's close (its FIN after the last CopyData);
        // reads left stopped would leave those bytes unread until the grace destroys the socket, a reset.
        await waitFor(() => ended, {
          timeoutMs: CASE_DEADLINE_MS,
          what: "the client to read the server's close before the grace",
        });
      } finally {
        await fake.close();
      }
    },
  );

  test(
    'before startup completed there is no session to end: the socket is destroyed, nothing sent',
    TEST,
    async () => {
      let connecting: Promise<unknown> | undefined;
      const fake = await HostileServer.start({ startup: () => 'silence' });
      try {
        const controller = new AbortController();
        connecting = PgConnection.connect(fakeSettings(fake), {
          replication: 'database',
          signal: controller.signal,
        }).catch((error: unknown) => error);
        await waitFor(() => fake.sessions[0]?.messages.some((m) => m.type === 'startup'), {
          timeoutMs: CASE_DEADLINE_MS,
          what: 'the startup packet',
        });
        controller.abort();
        await withDeadline(connecting, CASE_DEADLINE_MS, 'the aborted connect');
        const session = fake.sessions[0]!;
        await waitFor(() => session.closed, { timeoutMs: CASE_DEADLINE_MS, what: 'the socket to close' });
        assert.deepEqual(typesAfterStartup(session), []);
      } finally {
        await fake.close();
      }
    },
  );
});

describe('a feed closed cleanly says goodbye', () => {
  for (const how of ['close()', 'break', 'signal'] as const) {
    test(`${how}: the stream's session ends with Terminate`, TEST, async () => {
      const fake = await HostileServer.start({});
      const controller = new AbortController();
      const feed = new WalFeed(
        { ...fakeOptions(fake), plugin: 'test_decoding', signal: controller.signal },
        { env: {} },
      );
      try {
        if (how === 'break') {
          for await (const item of feed) {
            assert.equal(item.type, 'resync');
            break;
          }
        } else {
          const probe = new FeedProbe(feed);
          await probe.resync('connected', 0, CASE_DEADLINE_MS);
          if (how === 'close()') await feed.close();
          else controller.abort();
          await withDeadline(probe.finished, CASE_DEADLINE_MS, 'the iteration to end');
        }
        const session = fake.sessions[0]!;
        await waitFor(() => session.closed, { timeoutMs: CASE_DEADLINE_MS, what: 'the session to end' });
        assert.equal(typesAfterStartup(session).at(-1), 'X', `messages: ${typesAfterStartup(session)}`);
      } finally {
        await feed.close();
        await fake.close();
      }
    });
  }
});

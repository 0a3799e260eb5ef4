// How a PgConnection ends and says so: the close listeners (contract R10) and how it files an exception
// that is not a PgnudgeError (a bug of ours, not a server's fault), against a scripted fake server.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ConnectionError, InternalError, type PgnudgeError, ProtocolError } from '../../../src/errors.js';
import { PgConnection } from '../../../src/transport/connection.js';
import { xlogData } from '../../support/bytes.js';
import { CASE_DEADLINE_MS, fakeSettings, ProcessLeakGuard } from '../../support/hostile-run.js';
import { copyBothResponse, copyData, HostileServer, walsenderAnswer } from '../../support/hostile-server.js';
import { waitFor, withDeadline } from '../../support/wait.js';

const TEST = { timeout: 15_000 } as const;
const guard = new ProcessLeakGuard();
before(() => guard.install());
after(() => guard.uninstall());

const START = 'START_REPLICATION SLOT pgnudge_close LOGICAL 0/0';

describe('PgConnection.onClose', () => {
  test(
    'a listener added after the connection ended is called with the error that ended it',
    TEST,
    async () => {
      const fake = await HostileServer.start({});
      try {
        const connection = await PgConnection.connect(fakeSettings(fake), { replication: 'off' });
        const first = new Promise<PgnudgeError>((resolve) => connection.onClose(resolve));
        connection.abort();
        const ending = await withDeadline(first, CASE_DEADLINE_MS, 'the first listener');
        assert.ok(connection.closed);
        let late: PgnudgeError | undefined;
        const heard = new Promise<PgnudgeError>((resolve) =>
          connection.onClose((error) => {
            late = error;
            resolve(error);
          }),
        );
        // Asynchronously, like every other close: not inside the onClose call.
        assert.equal(late, undefined);
        assert.equal(await withDeadline(heard, CASE_DEADLINE_MS, 'the late listener'), ending);
        assert.ok(ending instanceof ConnectionError);
        await guard.assertNone('late listener');
      } finally {
        await fake.close();
      }
    },
  );
});

describe('PgConnection: an exception of a foreign kind', () => {
  test(
    'thrown by the replication handler ends the connection as an InternalError, not a ProtocolError',
    TEST,
    async () => {
      const bug = new TypeError('a bug in a handler');
      const fake = await HostileServer.start({
        query: (_session, sql) =>
          sql.startsWith('START_REPLICATION')
            ? [copyBothResponse(), copyData(xlogData(0x1000n, 0x2000n, 0n, Buffer.from('{}')))]
            : walsenderAnswer(sql),
      });
      try {
        const connection = await PgConnection.connect(fakeSettings(fake), { replication: 'database' });
        const closed = new Promise<PgnudgeError>((resolve) => connection.onClose(resolve));
        await withDeadline(
          connection.startReplication(START, {
            xlogData() {
              throw bug;
            },
            keepalive() {},
          }),
          CASE_DEADLINE_MS,
          'START_REPLICATION',
        );
        const error = await withDeadline(closed, CASE_DEADLINE_MS, 'the close');
        assert.ok(error instanceof InternalError, `got ${error.name}: ${error.message}`);
        assert.ok(!(error instanceof ProtocolError));
        assert.equal(error.code, 'PGNUDGE_ERR_INTERNAL');
        assert.equal(error.cause, bug);
        assert.match(error.message, /internal error, please report it: TypeError: a bug in a handler/);
        await guard.assertNone('foreign exception');
      } finally {
        await fake.close();
      }
    },
  );
});

describe('PgConnection: paced reads end with the connection', () => {
  test('closing while reads are paused leaves no timer behind and no read pending', TEST, async () => {
    // A stream that never stops: one XLogData per turn of the event loop, as a busy walsender sends.
    let streaming = true;
    const fake = await HostileServer.start({
      query: (session, sql) => {
        if (!sql.startsWith('START_REPLICATION')) return walsenderAnswer(sql);
        const pump = () => {
          if (!streaming || session.closed) return;
          session.send(copyData(xlogData(0x1000n, 0x2000n, 0n, Buffer.from('{}'))));
          setImmediate(pump);
        };
        setImmediate(pump);
        return copyBothResponse();
      },
    });
    try {
      const connection = await PgConnection.connect(fakeSettings(fake), { replication: 'database' });
      let messages = 0;
      const timersBefore = timeouts();
      // An hour: were the pause's timer left running, this file would not end (scripts/test-guard.mjs).
      await connection.startReplication(
        START,
        {
          xlogData() {
            messages += 1;
          },
          keepalive() {},
        },
        // Any wake-up within a second continues a busy run, at any rate: how close and how fast reads
        // arrive is the machine's.
        { readPacingMs: 3_600_000, readBusy: { busyGapMs: 1000, busyBytesPerMs: 0 } },
      );
      await waitFor(() => connection.readsPaused && connection.readPauses === 1, {
        timeoutMs: 10_000,
        what: 'a pause of the busy stream',
      });
      const seen = messages;
      assert.ok(seen > 0);
      assert.equal(timeouts(), timersBefore + 1, 'the pause holds one timer');
      connection.abort();
      assert.equal(timeouts(), timersBefore, 'no timer outlives the connection');
      assert.equal(messages, seen);
      await guard.assertNone('closed while paused');
    } finally {
      streaming = false;
      await fake.close();
    }
  });
});

/** Timers (setTimeout) alive in this process now. */
function timeouts(): number {
  return process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
}

// The fan-out classes against a server that completes startup and then stalls (issue 14, "Hangs and
// leaks"; contract R8): a LISTEN that is never answered must not hold a NotifyFeed forever, and with
// livenessTimeout null a stalled server must not collect a queue of pings or heartbeats.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NotifyBridge } from '../../../src/fanout/bridge.js';
import { NotifyFeed } from '../../../src/fanout/notify-feed.js';
import { cstr, frame, i32 } from '../../support/bytes.js';
import { FeedProbe } from '../../support/feed-probe.js';
import {
  CASE_DEADLINE_MS,
  fakeOptions,
  ProcessLeakGuard,
  recordingLogger,
  socketsClosed,
} from '../../support/hostile-run.js';
import {
  commandComplete,
  HostileServer,
  type HostileSession,
  readyForQuery,
  walsenderAnswer,
} from '../../support/hostile-server.js';
import { ManualClock } from '../../support/manual-clock.js';
import { waitFor } from '../../support/wait.js';

const TEST = { timeout: 15_000 } as const;
const SECRET = 'a shared secret of enough bytes';
const guard = new ProcessLeakGuard();
before(() => guard.install());
after(() => guard.uninstall());

/** A NotificationResponse on a channel nobody listens to: once traced, the client has read all before it. */
const SENTINEL = frame('A', i32(1), cstr('pgnudge_test_sentinel'), cstr(''));

/** Answers a stalled query, then the sentinel, and returns how often `sql` was sent before the sentinel was read. */
async function releaseAndCount(
  session: HostileSession,
  answer: Buffer[],
  lines: { message: string }[],
  isQuery: (message: string) => boolean,
): Promise<number> {
  session.send([...answer, SENTINEL]);
  const seen = await waitFor(
    () => {
      const at = lines.findIndex((line) => line.message.endsWith('< NotificationResponse'));
      return at < 0 ? undefined : at;
    },
    {
      timeoutMs: CASE_DEADLINE_MS,
      what: 'the client to read the answer and the sentinel',
    },
  );
  return lines.slice(0, seen).filter((line) => isQuery(line.message)).length;
}

describe('NotifyFeed: a server that never answers LISTEN', () => {
  test(
    'the liveness timeout ends the attempt, and the feed retries (armed before the first query)',
    TEST,
    async () => {
      let armed = true;
      const fake = await HostileServer.start({
        query: (_session, sql) => {
          if (!sql.startsWith('LISTEN') || !armed) return walsenderAnswer(sql);
          armed = false;
          return 'silence';
        },
      });
      const { lines, logger } = recordingLogger();
      const feed = new NotifyFeed(
        {
          ...fakeOptions(fake),
          // What is timed is the LISTEN, by livenessTimeout: a loaded machine may take longer than the
          // hostile suite's 600 ms to start the session before it.
          connectTimeout: 5_000,
          channel: 'orders',
          secret: SECRET,
          statusInterval: 40,
          livenessTimeout: 400,
          backoff: { initial: 10, maximum: 20 },
          logger,
          logLevel: 'trace',
        },
        { env: {} },
      );
      const probe = new FeedProbe(feed);
      try {
        const warning = await waitFor(() => lines.find((line) => line.level === 'warn'), {
          timeoutMs: CASE_DEADLINE_MS,
          what: 'the silent LISTEN to end',
        });
        assert.match(
          warning.message,
          /no answer to LISTEN from .* in 400 ms \(livenessTimeout 400 ms\); the link is dead \(PGNUDGE_ERR_LIVENESS_TIMEOUT\); reconnecting/,
        );
        await probe.resync('connected', 0, CASE_DEADLINE_MS);
        assert.equal(fake.sessions[0]!.closed, true, 'the silent session was closed');
      } finally {
        await feed.close();
        await fake.close();
      }
      await guard.assertNone('silent LISTEN');
    },
  );
});

describe('livenessTimeout null: a stalled server gets no queue', () => {
  test('NotifyFeed: no SELECT 1 is queued behind the one in flight', TEST, async () => {
    let stalled: HostileSession | null = null;
    const fake = await HostileServer.start({
      query: (session, sql) => {
        if (sql !== 'SELECT 1' || stalled !== null) return walsenderAnswer(sql);
        stalled = session;
        return [];
      },
    });
    const clock = new ManualClock();
    const { lines, logger } = recordingLogger();
    const feed = new NotifyFeed(
      {
        ...fakeOptions(fake),
        channel: 'orders',
        secret: SECRET,
        statusInterval: 1000,
        livenessTimeout: null,
        logger,
        logLevel: 'trace',
      },
      { env: {}, clock },
    );
    const probe = new FeedProbe(feed);
    try {
      await probe.resync('connected', 0, CASE_DEADLINE_MS);
      clock.advance(1000);
      const session = await waitFor(() => stalled ?? undefined, { what: 'the first ping' });
      // A hundred ping intervals pass while the server sits on the first ping.
      clock.advance(100_000);
      const sent = await releaseAndCount(
        session,
        [commandComplete('SELECT 1'), readyForQuery()],
        lines,
        (m) => m.endsWith('> Query SELECT 1'),
      );
      assert.equal(sent, 1, 'pings queued behind an unanswered one');
    } finally {
      await feed.close();
      await fake.close();
    }
    await guard.assertNone('stalled ping');
  });

  test('NotifyBridge: no heartbeat is queued behind the one in flight', TEST, async () => {
    let stalled: HostileSession | null = null;
    const fake = await HostileServer.start({
      query: (session, sql) => {
        if (!sql.includes('"k":"hb"') || stalled !== null) return walsenderAnswer(sql);
        stalled = session;
        return [];
      },
    });
    const clock = new ManualClock();
    const { lines, logger } = recordingLogger();
    const bridge = new NotifyBridge(
      {
        ...fakeOptions(fake),
        channel: 'orders',
        secret: SECRET,
        plugin: 'test_decoding',
        heartbeatInterval: 1000,
        // No ping while the test runs: only heartbeats go out on the bridge's connection.
        statusInterval: 10_000_000,
        livenessTimeout: null,
        logger,
        logLevel: 'trace',
      },
      { env: {}, clock },
    );
    const running = bridge.run();
    try {
      // The feed's connect Resync is published first; heartbeats start after it.
      await waitFor(
        () => lines.some((line) => /> Query SELECT pg_notify\(.*"k":"resync"/.test(line.message)),
        {
          timeoutMs: CASE_DEADLINE_MS,
          what: 'the connect Resync to be published',
        },
      );
      const session = await waitFor(
        () => {
          clock.advance(1000);
          return stalled ?? undefined;
        },
        { timeoutMs: CASE_DEADLINE_MS, what: 'the first heartbeat' },
      );
      clock.advance(100_000);
      const sent = await releaseAndCount(
        session,
        [commandComplete('SELECT 1'), readyForQuery()],
        lines,
        (m) => /> Query SELECT pg_notify\(.*"k":"hb"/.test(m),
      );
      assert.equal(sent, 1, 'heartbeats queued behind an unanswered one');
    } finally {
      await bridge.close();
      await running;
      await fake.close();
    }
    await socketsClosed(fake);
    await guard.assertNone('stalled heartbeat');
  });
});

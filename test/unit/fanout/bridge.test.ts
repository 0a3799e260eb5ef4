// NotifyBridge's election and heartbeats against a fake walsender (contract R29): a standby waits while the
// election slot exists without an error on the server per poll, "already exists" keeps it standby, and
// heartbeats stop while the inner feed cannot stream (its slot waiting on someone's open transaction),
// so that listeners see the silence instead of heartbeats that hide it. Log lines show the channel printable.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NotifyBridge } from '../../../src/fanout/bridge.js';
import {
  CASE_DEADLINE_MS,
  fakeOptions,
  ProcessLeakGuard,
  recordingLogger,
  socketsClosed,
} from '../../support/hostile-run.js';
import {
  commandComplete,
  dataRow,
  errorResponse,
  HostileServer,
  type HostileSession,
  readyForQuery,
  rowDescription,
  walsenderAnswer,
} from '../../support/hostile-server.js';
import { ManualClock } from '../../support/manual-clock.js';
import { waitFor } from '../../support/wait.js';

const TEST = { timeout: 15_000 } as const;
const SECRET = 'a shared secret of enough bytes';
const guard = new ProcessLeakGuard();
before(() => guard.install());
after(() => guard.uninstall());

const isLookup = (sql: string) => sql.startsWith('SELECT 1 FROM pg_replication_slots WHERE slot_name = ');
const isElection = (sql: string) => sql.startsWith('CREATE_REPLICATION_SLOT pgnudge_bridge_');
const isHeartbeat = (sql: string) => sql.startsWith('SELECT pg_notify(') && sql.includes('"k":"hb"');
const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u;

/** The fake's answer to the look-up: one row while the slot is held by another bridge. */
function lookupAnswer(held: boolean) {
  return [
    rowDescription('?column?'),
    ...(held ? [dataRow('1')] : []),
    commandComplete(`SELECT ${held ? 1 : 0}`),
    readyForQuery(),
  ];
}

function bridgeOn(fake: HostileServer, clock: ManualClock, extra: Record<string, unknown> = {}) {
  const { lines, logger } = recordingLogger();
  const bridge = new NotifyBridge(
    {
      ...fakeOptions(fake),
      channel: 'orders',
      secret: SECRET,
      plugin: 'test_decoding',
      electionPollInterval: 500,
      heartbeatInterval: 1000,
      statusInterval: 10_000_000,
      livenessTimeout: null,
      backoff: { initial: 10, maximum: 20 },
      logger,
      // The tests read the query trace.
      logLevel: 'trace',
      ...extra,
    },
    { env: {}, clock },
  );
  return { bridge, lines, running: bridge.run() };
}

describe('NotifyBridge election', () => {
  test(
    'a standby looks the slot up each poll and creates it only once it is gone; log lines show the channel printable',
    TEST,
    async () => {
      let held = true;
      const sent: string[] = [];
      const fake = await HostileServer.start({
        query: (_session, sql) => {
          sent.push(sql);
          return isLookup(sql) ? lookupAnswer(held) : walsenderAnswer(sql);
        },
      });
      const clock = new ManualClock();
      const channel = 'ord\u001b[31mers\n2024-01-01 ERROR forged';
      const { bridge, lines, running } = bridgeOn(fake, clock, { channel });
      try {
        await waitFor(() => lines.some((line) => line.message.includes('standby:')), {
          timeoutMs: CASE_DEADLINE_MS,
          what: 'the bridge to wait as a standby',
        });
        await waitFor(
          () => {
            clock.advance(500);
            return sent.filter(isLookup).length >= 5;
          },
          { timeoutMs: CASE_DEADLINE_MS, what: 'five look-ups' },
        );
        assert.equal(sent.filter(isElection).length, 0, 'no CREATE while the slot is held');
        assert.equal(bridge.active, false);
        held = false;
        await waitFor(
          () => {
            clock.advance(500);
            return bridge.active;
          },
          { timeoutMs: CASE_DEADLINE_MS, what: 'the bridge to become active' },
        );
        assert.equal(sent.filter(isElection).length, 1);
        assert.match(bridge.bridgeId ?? '', /^[0-9a-f]{16}$/);
        assert.equal(lines.filter((line) => line.message.includes('standby:')).length, 1, 'announced once');
        const active = lines.find((line) => line.message.includes(': active on channel'));
        assert.ok(active, 'the bridge said it is active');
        assert.ok(
          active.message.includes('"ord\\u001b[31mers\\n2024-01-01 ERROR forged" as bridge'),
          active.message,
        );
        for (const line of lines) assert.doesNotMatch(line.message, UNSAFE, line.message);
      } finally {
        await bridge.close();
        await running;
        await fake.close();
      }
      await socketsClosed(fake);
      await guard.assertNone('standby');
    },
  );

  test(
    '"already exists" from CREATE keeps the bridge standby; it is elected on a later try',
    TEST,
    async () => {
      let refused = 0;
      const electing = new Set<HostileSession>();
      const fake = await HostileServer.start({
        query: (session, sql) => {
          if (isLookup(sql)) return lookupAnswer(false);
          if (isElection(sql)) electing.add(session);
          if (isElection(sql) && refused < 2) {
            refused += 1;
            return [
              errorResponse({
                S: 'ERROR',
                V: 'ERROR',
                C: '42710',
                M: 'replication slot "pgnudge_bridge_x" already exists',
              }),
              readyForQuery(),
            ];
          }
          return walsenderAnswer(sql);
        },
      });
      const clock = new ManualClock();
      const { bridge, lines, running } = bridgeOn(fake, clock);
      try {
        await waitFor(
          () => {
            clock.advance(500);
            return bridge.active;
          },
          { timeoutMs: CASE_DEADLINE_MS, what: 'the bridge to become active' },
        );
        assert.equal(refused, 2);
        assert.equal(electing.size, 1, 'every try on one session: a refused CREATE is no reconnect');
        assert.ok(
          !lines.some((line) => line.level === 'warn' || line.level === 'error'),
          JSON.stringify(lines),
        );
      } finally {
        await bridge.close();
        await running;
        await fake.close();
      }
      await guard.assertNone('taken');
    },
  );
});

describe('NotifyBridge heartbeats', () => {
  test(
    'stop while the inner feed reconnects and its slot waits, and start again once it streams',
    TEST,
    async () => {
      let heartbeats = 0;
      let feedSession: HostileSession | null = null;
      let stallSlots = false;
      let stalled: HostileSession | null = null;
      const fake = await HostileServer.start({
        query: (session, sql) => {
          if (isHeartbeat(sql)) heartbeats += 1;
          if (isLookup(sql)) return lookupAnswer(false);
          if (sql.startsWith('CREATE_REPLICATION_SLOT pgnudge_') && !isElection(sql) && stallSlots) {
            // The feed's logical slot waits for a transaction someone holds open.
            stalled = session;
            return [];
          }
          if (sql.startsWith('START_REPLICATION')) feedSession = session;
          return walsenderAnswer(sql);
        },
      });
      const clock = new ManualClock();
      const { bridge, lines, running } = bridgeOn(fake, clock);
      try {
        await waitFor(
          () => {
            clock.advance(1000);
            return heartbeats >= 2;
          },
          { timeoutMs: CASE_DEADLINE_MS, what: 'heartbeats while the feed streams' },
        );
        stallSlots = true;
        (feedSession as HostileSession | null)?.send('close');
        await waitFor(
          () => {
            clock.advance(50);
            return stalled ?? undefined;
          },
          { timeoutMs: CASE_DEADLINE_MS, what: "the feed's reconnect to wait on its slot" },
        );
        const before = heartbeats;
        // Thirty heartbeat intervals pass while the feed cannot stream.
        for (let i = 0; i < 30; i += 1) {
          clock.advance(1000);
          await new Promise((resolve) => setImmediate(resolve));
        }
        assert.equal(heartbeats, before, 'no heartbeat while the feed does not stream');
        assert.ok(bridge.active, 'the bridge keeps its election meanwhile');
        // The transaction ends: the slot is created, the feed streams, and heartbeats resume after its Resync.
        (stalled as HostileSession | null)?.send(walsenderAnswer('CREATE_REPLICATION_SLOT pgnudge_x'));
        await waitFor(
          () => {
            clock.advance(1000);
            return heartbeats > before;
          },
          { timeoutMs: CASE_DEADLINE_MS, what: 'heartbeats once the feed streams again' },
        );
        assert.ok(
          lines.some((line) =>
            /> Query SELECT pg_notify\(.*"k":"resync","r":"reconnected"/.test(line.message),
          ),
        );
      } finally {
        await bridge.close();
        await running;
        await fake.close();
      }
      await guard.assertNone('heartbeats');
    },
  );
});

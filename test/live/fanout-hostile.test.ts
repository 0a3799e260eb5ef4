// A hostile consumer against the fan-out (contract R29, issue 14): a role with LOGIN only, which can LISTEN
// and NOTIFY on any channel, forges (unsigned, wrong MAC, signed for another channel), replays what it
// captured (from the active bridge and from one it saw replaced), squats (holds the advisory lock the old
// election used, and tries to create the election slot), tries to stop the active bridge (signals its
// sessions, drops its slots) and floods, while bridges with a secret publish real commits to listeners.
// Every real commit reaches every listener exactly; nothing forged does; drops are counted and reported
// at most once a minute; and when the bridge stops (SIGSTOP, then SIGKILL) the listeners log an error
// despite forged heartbeats, and resync when a bridge is heard again.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { ServerError } from '../../src/errors.js';
import { ChannelKey } from '../../src/fanout/auth.js';
import { formatListen, formatNotify } from '../../src/fanout/channel.js';
import { electionSlotName } from '../../src/fanout/election.js';
import { type FeedItem, NotifyFeed } from '../../src/index.js';
import type { Notification, PgConnection } from '../../src/transport/connection.js';
import { CliProcess, connectionUrl } from '../support/cli-process.js';
import { type ClusterInfo, liveCluster, runSql, scratchDatabase } from '../support/cluster.js';
import { FeedProbe, feedConnection } from '../support/feed-probe.js';
import { openConnection, refusal, settingsFor } from '../support/live-connection.js';
import { LogCapture } from '../support/log-capture.js';
import { waitFor } from '../support/wait.js';

const TEST = { timeout: 240_000 } as const;
const SECRET = 'hostile test: the real secret 32';
const HEARTBEAT_TIMEOUT_MS = 3000;
const LISTENERS = 3;

let info: ClusterInfo;
let db: { name: string; drop(): Promise<void> };
let home: string;

before(async () => {
  info = await liveCluster();
  db = await scratchDatabase(info, 'hostile');
  home = mkdtempSync(join(tmpdir(), 'pgnudge-hostile-home-'));
  await runSql(
    info,
    'CREATE TABLE public.t (id serial PRIMARY KEY); CREATE TABLE public.sentinel (id int)',
    db.name,
  );
});

after(async () => {
  await db?.drop();
  if (home) rmSync(home, { recursive: true, force: true });
});

const sql = (text: string) => runSql(info, text, db.name);

/** The attacker: a LOGIN role's session that LISTENs (to capture) and NOTIFYs on the channel. */
class Attacker {
  readonly captured: { bridge: string; payload: string }[] = [];
  readonly #connection: PgConnection;
  readonly #channel: string;

  private constructor(connection: PgConnection, channel: string) {
    this.#connection = connection;
    this.#channel = channel;
    connection.onNotification((notification: Notification) => {
      // Its own NOTIFYs come back too; what it captures is what other sessions sent: the bridges'.
      if (notification.processId === connection.processId || notification.channel !== channel) return;
      const bridge = /"b":"([0-9a-f]{16})"/.exec(notification.payload)?.[1] ?? '';
      this.captured.push({ bridge, payload: notification.payload });
    });
  }

  static async start(t: TestContext, channel: string): Promise<Attacker> {
    const connection = await openConnection(t, settingsFor(info, info.roles.login, { database: db.name }));
    await connection.query(formatListen(channel));
    return new Attacker(connection, channel);
  }

  query(text: string) {
    return this.#connection.query(text);
  }

  /** NOTIFYs `payloads`, in batches of 200 per statement string. */
  async send(payloads: readonly string[]): Promise<void> {
    for (let at = 0; at < payloads.length; at += 200) {
      await this.#connection.query(formatNotify(this.#channel, payloads.slice(at, at + 200)));
    }
  }

  /** Every captured message of `bridge` (or of every bridge but it), as sent. */
  of(bridge: string, others = false): string[] {
    return this.captured.filter((m) => (m.bridge === bridge) !== others).map((m) => m.payload);
  }
}

/** Forged messages of every kind the attacker can write without the secret, `n` rounds of them. */
function forgeries(channel: string, rounds: number, realBridge: string | null): string[] {
  const wrongKey = ChannelKey.derive('not the secret, but long enough', channel);
  const otherChannel = ChannelKey.derive(SECRET, `${channel} (another)`);
  const out: string[] = [];
  for (let i = 0; i < rounds; i += 1) {
    const now = Date.now();
    const bridges = ['f0f0f0f0f0f0f0f0', ...(realBridge === null ? [] : [realBridge])];
    for (const b of bridges) {
      const bodies = [
        `{"b":"${b}","q":${1_000_000 + i},"t":${now},"k":"hb"}`,
        `{"b":"${b}","q":${1_000_000 + i},"t":${now},"k":"resync","r":"connected"}`,
        `{"b":"${b}","q":${1_000_000 + i},"t":${now},"k":"batch","p":0,"n":1,"e":[["public.t",null,1000,${now}],["public.forged",null,1,${now}]]}`,
        // The crash of issue 14: a first-change time no Date can hold.
        `{"b":"${b}","q":${1_000_000 + i},"t":${now},"k":"batch","p":0,"n":1,"e":[["public.forged",null,1,1e300]]}`,
      ];
      for (const body of bodies) {
        out.push(`v2..${body}`, `v2.${wrongKey.sign(body)}.${body}`, `v2.${otherChannel.sign(body)}.${body}`);
      }
    }
    out.push('garbage', `v2.${'A'.repeat(43)}.{}`, '{"v":1,"b":"evil","q":0,"k":"hb"}', `v2.\u001b[2J.x`);
  }
  return out;
}

function bridgeProcess(t: TestContext, name: string): CliProcess {
  const dsn = connectionUrl(info, db.name, info.roles.replication);
  return new CliProcess(['bridge', '--channel', name, '--dsn', dsn, '--debounce', '5', '-v'], {
    home,
    env: { PGNUDGE_SECRET: SECRET },
    after: (fn) => t.after(fn),
  });
}

interface Listener {
  feed: NotifyFeed;
  probe: FeedProbe;
  log: LogCapture;
}

function listener(t: TestContext, name: string): Listener {
  const log = new LogCapture();
  const feed = new NotifyFeed({
    ...feedConnection(info, db.name, info.roles.login),
    channel: name,
    secret: SECRET,
    debounce: 5,
    heartbeatTimeout: HEARTBEAT_TIMEOUT_MS,
    logger: log.logger,
  });
  t.after(() => feed.close());
  return { feed, probe: new FeedProbe(feed), log };
}

/** The old advisory-lock election's key for `channel` (its documented formula): any role could take it. */
function oldLockKey(channel: string): bigint {
  return createHash('sha256').update(`pgnudge bridge\0${channel}`).digest().readBigInt64BE(0);
}

const silenceError = /no authenticated message from (any bridge|bridge [0-9a-f]{16}) for \d+ ms/;
const dropReport = /dropped \d+ message\(s\)/;

async function everyone(listeners: readonly Listener[], step: (l: Listener) => Promise<unknown>) {
  await Promise.all(listeners.map(step));
}

/** Waits until every listener saw the sentinel row `id`: everything NOTIFYed before its commit was read. */
async function sentinel(listeners: readonly Listener[], id: number): Promise<void> {
  const marks = listeners.map((l) => l.probe.mark());
  await sql(`INSERT INTO public.sentinel VALUES (${id})`);
  await everyone(listeners, (l) =>
    l.probe.counted('public.sentinel', 1, marks[listeners.indexOf(l)], 30_000),
  );
}

const batchesOnly = (items: readonly FeedItem[]) => items.every((item) => item.type === 'batch');

describe('a LOGIN-only attacker against bridges and listeners with a secret', () => {
  test(
    'forges, replays, squats and floods: every real commit arrives, nothing forged does',
    TEST,
    async (t) => {
      const started = Date.now();
      const name = `Hostile ${process.pid}`;
      const key = ChannelKey.derive(SECRET, name);
      const slot = electionSlotName({ channel: name, database: db.name, key });
      const attacker = await Attacker.start(t, name);

      // Squat: the advisory lock that used to elect the bridge, held for the whole test.
      const [locked] = await attacker.query(`SELECT pg_try_advisory_lock(${oldLockKey(name)})`);
      assert.equal(locked?.rows[0]?.[0], 't', 'the attacker holds the old election lock');
      // And the election itself: a LOGIN role cannot open a walsender or create any slot.
      const denied = await refusal(settingsFor(info, info.roles.login, { database: db.name }), {
        replication: 'database',
      });
      assert.equal(denied.code, 'PGNUDGE_ERR_REPLICATION_DENIED');
      const insecureName = electionSlotName({ channel: name, database: db.name, key: null });
      for (const candidate of [insecureName, slot]) {
        await assert.rejects(
          attacker.query(`SELECT pg_create_physical_replication_slot('${candidate}', false, true)`),
          (error: unknown) => error instanceof ServerError && error.sqlState === '42501',
        );
      }

      const listeners = Array.from({ length: LISTENERS }, () => listener(t, name));
      await everyone(listeners, (l) => l.probe.resync('connected', 0, 30_000));
      const listen = new CliProcess(
        [
          'listen',
          '--channel',
          name,
          '--json',
          '--heartbeat-timeout',
          String(HEARTBEAT_TIMEOUT_MS),
          '--dsn',
          connectionUrl(info, db.name, info.roles.login),
        ],
        { home, env: { PGNUDGE_SECRET: SECRET }, after: (fn) => t.after(fn) },
      );
      await listen.line((line) => line.includes('"connected"'), 'the listen Resync');

      // Bridge A becomes active although the attacker holds the old lock.
      const bridgeA = bridgeProcess(t, name);
      await bridgeA.logged(/: active on channel/, 'bridge A to be elected despite the squatter');
      await everyone(listeners, (l) => l.probe.resync('bridge', 0, 30_000));
      const idA = listeners[0]?.feed.bridgeId;
      assert.match(idA ?? '', /^[0-9a-f]{16}$/);
      const [holder] = await runSql<{ active_pid: number; backend_type: string }>(
        info,
        `SELECT s.active_pid, a.backend_type FROM pg_replication_slots s JOIN pg_stat_activity a ON a.pid = s.active_pid WHERE s.slot_name = '${slot}'`,
      );
      assert.equal(holder?.backend_type, 'walsender', 'a bridge walsender holds the election slot');
      // Stop the active bridge: signal its sessions (the election's and the feed's), drop its slots.
      const bridgeSlots = await runSql<{ slot_name: string; active_pid: number }>(
        info,
        `SELECT slot_name, active_pid FROM pg_replication_slots WHERE slot_name = '${slot}' OR database = '${db.name}'`,
      );
      assert.equal(bridgeSlots.length, 2, `the election slot and the feed's: ${JSON.stringify(bridgeSlots)}`);
      for (const { slot_name, active_pid } of bridgeSlots) {
        for (const attack of [
          `SELECT pg_terminate_backend(${active_pid})`,
          `SELECT pg_cancel_backend(${active_pid})`,
          `SELECT pg_drop_replication_slot('${slot_name}')`,
        ]) {
          await assert.rejects(
            attacker.query(attack),
            (error: unknown) => error instanceof ServerError && error.sqlState === '42501',
            attack,
          );
        }
      }

      // Forge and flood while real commits happen; replay what bridge A sent so far.
      let marks = listeners.map((l) => l.probe.mark());
      const writes = (async () => {
        for (let i = 0; i < 20; i += 1) await sql('INSERT INTO public.t DEFAULT VALUES');
      })();
      await attacker.send([...forgeries(name, 60, idA ?? null), ...attacker.of(idA ?? '')]);
      await writes;
      await attacker.send([...attacker.of(idA ?? ''), ...forgeries(name, 5, idA ?? null)]);
      await sentinel(listeners, 1);
      for (const [i, l] of listeners.entries()) {
        const since = l.probe.items.slice(marks[i]);
        assert.equal(
          l.probe.count('public.t', marks[i]),
          20,
          'every real row, once: no forged or replayed count',
        );
        assert.ok(batchesOnly(since), `nothing but real batches: ${JSON.stringify(since)}`);
        assert.deepEqual(l.probe.payloads(marks[i]).sort(), ['public.sentinel', 'public.t']);
        assert.equal(l.feed.bridgeId, idA, 'still following bridge A');
        const dropped = l.feed.dropped;
        for (const reason of ['mac', 'unsigned', 'malformed', 'replayed'] as const) {
          assert.ok(dropped[reason] > 0, `${reason} drops counted: ${JSON.stringify(dropped)}`);
        }
      }

      // Failover: bridge B waits; A is killed; the attacker races for the slot and replays A.
      const bridgeB = bridgeProcess(t, name);
      await bridgeB.logged(/standby/, 'bridge B to wait as a standby');
      marks = listeners.map((l) => l.probe.mark());
      const killedAt = Date.now();
      bridgeA.kill('SIGKILL');
      let squatTries = 0;
      await waitFor(
        async () => {
          squatTries += 1;
          const error = await attacker
            .query(`SELECT pg_create_physical_replication_slot('${slot}', false, true)`)
            .then(
              () => null,
              (e: unknown) => e,
            );
          assert.ok(error instanceof ServerError && error.sqlState === '42501', String(error));
          return /: active on channel/.test(bridgeB.stderr);
        },
        { timeoutMs: 30_000, what: 'bridge B to take over' },
      );
      await everyone(listeners, (l) => l.probe.resync('bridge', marks[listeners.indexOf(l)], 30_000));
      t.diagnostic(
        `failover: every listener resynced ${Date.now() - killedAt} ms after SIGKILL of the active bridge`,
      );
      const idB = listeners[0]?.feed.bridgeId;
      assert.ok(idB !== idA && /^[0-9a-f]{16}$/.test(idB ?? ''), 'listeners follow bridge B');
      marks = listeners.map((l) => l.probe.mark());
      await attacker.send([
        ...attacker.of(idA ?? ''),
        ...attacker.of(idB ?? ''),
        ...forgeries(name, 10, idB ?? null),
      ]);
      await sql('INSERT INTO public.t DEFAULT VALUES; INSERT INTO public.t DEFAULT VALUES');
      await sentinel(listeners, 2);
      for (const [i, l] of listeners.entries()) {
        assert.equal(l.probe.count('public.t', marks[i]), 2);
        assert.ok(
          batchesOnly(l.probe.items.slice(marks[i])),
          'replays of the replaced bridge have no effect',
        );
        assert.ok(l.feed.dropped.replaced > 0, `replaced drops: ${JSON.stringify(l.feed.dropped)}`);
      }

      // Silence while forged and replayed heartbeats keep coming: bridge B paused, then killed.
      let hiding = true;
      const hide = (async () => {
        while (hiding) {
          const idNow = listeners[0]?.feed.bridgeId ?? null;
          await attacker.send([...forgeries(name, 1, idNow), ...attacker.of(idB ?? '').slice(-5)]);
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      })();
      try {
        let logMarks = listeners.map((l) => l.log.mark());
        marks = listeners.map((l) => l.probe.mark());
        bridgeB.kill('SIGSTOP');
        await everyone(listeners, (l) => l.log.failure(silenceError, logMarks[listeners.indexOf(l)], 30_000));
        await listen.logged(
          /ERROR pgnudge: channel ".*": no authenticated message from bridge/,
          'listen to log the silence',
        );
        await sql('INSERT INTO public.t DEFAULT VALUES');
        bridgeB.kill('SIGCONT');
        await everyone(listeners, (l) => l.probe.resync('bridge', marks[listeners.indexOf(l)], 30_000));
        for (const l of listeners) assert.equal(l.feed.bridgeId, idB, 'bridge B heard again');

        logMarks = listeners.map((l) => l.log.mark());
        marks = listeners.map((l) => l.probe.mark());
        bridgeB.kill('SIGKILL');
        await everyone(listeners, (l) => l.log.failure(silenceError, logMarks[listeners.indexOf(l)], 30_000));
        for (const [i, l] of listeners.entries()) {
          // Bridge B's batch for the INSERT made while it was stopped may still land after its Resync;
          // that one real change is all there may be: no Resync, no forged table, no forged count.
          const since = l.probe.items.slice(marks[i]);
          assert.deepEqual(
            since.filter(
              (item) => item.type !== 'batch' || item.events.some((e) => e.payload !== 'public.t'),
            ),
            [],
            'forged heartbeats and resyncs did nothing',
          );
          assert.ok(
            l.probe.count('public.t', marks[i]) <= 1,
            `forged counts arrived: ${JSON.stringify(since)}`,
          );
        }
        const bridgeC = bridgeProcess(t, name);
        await bridgeC.logged(/: active on channel/, 'bridge C to be elected');
        await everyone(listeners, (l) => l.probe.resync('bridge', marks[listeners.indexOf(l)], 30_000));
        marks = listeners.map((l) => l.probe.mark());
        await sql('INSERT INTO public.t DEFAULT VALUES');
        await everyone(listeners, (l) => l.probe.counted('public.t', 1, marks[listeners.indexOf(l)], 30_000));
        bridgeC.kill('SIGTERM');
        assert.equal((await bridgeC.exited).code, 0, bridgeC.stderr);
      } finally {
        hiding = false;
        await hide;
      }

      // Drops: counted, and reported at most once a minute; nothing forged reached a listener or stdout.
      const elapsed = Date.now() - started;
      let total = 0;
      for (const l of listeners) {
        const dropped = Object.values(l.feed.dropped).reduce((sum, n) => sum + n, 0);
        total += dropped;
        const reports = l.log.failures().filter((line) => dropReport.test(line));
        assert.ok(
          reports.length >= 1 && reports.length <= 1 + Math.floor(elapsed / 60_000),
          reports.join('\n'),
        );
        assert.ok(!l.probe.payloads().includes('public.forged'));
        assert.equal(l.probe.error, undefined);
      }
      t.diagnostic(
        `${total} messages dropped across ${LISTENERS} listeners in ${Math.round(elapsed / 1000)} s (per listener: ${JSON.stringify(listeners[0]?.feed.dropped)}); ${squatTries} refused slot grabs during the failover`,
      );
      listen.kill('SIGINT');
      assert.equal(await listen.status(), 0, listen.stderr);
      for (const line of listen.lines()) {
        const item = JSON.parse(line) as { type: string; events?: { payload: string }[] };
        assert.ok(item.type === 'resync' || item.type === 'batch', line);
        assert.ok(!line.includes('forged'), line);
      }
      const reports = listen.stderr.split('\n').filter((line) => dropReport.test(line));
      assert.ok(
        reports.length >= 1 && reports.length <= 1 + Math.floor(elapsed / 60_000),
        reports.join('\n'),
      );
      assert.doesNotMatch(listen.stderr, /\u001b/);
    },
  );
});

// The bridge on Redis and NATS against real servers (contract R30): one NotifyBridge publishes to a
// redis-server and a nats-server the harness boots, BrokerFeed consumers subscribe there with no database
// connection. Every broker kill and restart ends in a Resync at the consumers, never in silence; messages
// published straight to a broker without the secret, or replayed, are dropped without effect; a batch
// larger than one broker message arrives whole; no slot is left. The brokers and the fan-out do not depend
// on the PostgreSQL major, so this file runs once per test run.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { ChannelKey } from '../../src/fanout/auth.js';
import { electionSlotName } from '../../src/fanout/election.js';
import { REDIS_PAYLOAD_LIMIT } from '../../src/fanout/redis.js';
import { Batch, BrokerFeed, NotifyBridge, type NotifyBridgeOptions } from '../../src/index.js';
import { binaryUnavailable } from '../support/background-server.js';
import { CliProcess, connectionUrl } from '../support/cli-process.js';
import { type ClusterInfo, liveCluster, runSql, scratchDatabase } from '../support/cluster.js';
import { FeedProbe, feedConnection, slotsIn } from '../support/feed-probe.js';
import { LogCapture } from '../support/log-capture.js';
import { NATS_SERVER, type NatsServer, startNats } from '../support/nats.js';
import { REDIS_SERVER, type RedisServer, startRedis } from '../support/redis.js';
import { runsInAnotherSuite } from '../support/run-once.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait.js';
import { publishedBatches, yieldedWhole } from '../support/wire-messages.js';

const TEST = { timeout: 120_000 } as const;
const SECRET = 'live broker fan-out secret, 32 b';

let info: ClusterInfo;
let skip: string | undefined;
let db: { name: string; drop(): Promise<void> } | undefined;
let redis: RedisServer | undefined;
let nats: NatsServer | undefined;
let count = 0;

before(async () => {
  info = await liveCluster();
  skip =
    runsInAnotherSuite(info) ??
    binaryUnavailable(REDIS_SERVER, 'redis-server') ??
    binaryUnavailable(NATS_SERVER, 'nats-server');
  if (skip !== undefined) return;
  db = await scratchDatabase(info, 'brokers');
  await runSql(info, 'CREATE TABLE public.t (id serial PRIMARY KEY, v int)', db.name);
  redis = await startRedis({ password: 'redis pass: never logged' });
  nats = await startNats({ auth: { user: 'bridge', pass: 'nats pass: never logged' } });
});

after(async () => {
  redis?.stop();
  nats?.stop();
  await db?.drop();
});

const sql = (text: string) => runSql(info, text, (db as { name: string }).name);

/** A fresh channel name per test, valid as a NOTIFY channel, a Redis channel and a NATS subject. */
function channel(): string {
  count += 1;
  return `brokers.c${count}.p${process.pid}`;
}

function urls(name: string): { redis: string; nats: string } {
  return { redis: `${redis?.info.url}/${name}`, nats: `${nats?.info.url}/${name}` };
}

/** A library bridge on channel `name`, publishing to both brokers unless `options` says where; closed when `t` ends. */
function startBridge(
  t: TestContext,
  name: string,
  options: Partial<NotifyBridgeOptions> = {},
): { bridge: NotifyBridge; log: LogCapture; running: Promise<void> } {
  const log = new LogCapture();
  const { redis: redisUrl, nats: natsUrl } = urls(name);
  const bridge = new NotifyBridge({
    ...feedConnection(info, (db as { name: string }).name, info.roles.replication),
    channel: name,
    secret: SECRET,
    to: [redisUrl, natsUrl],
    debounce: 5,
    logger: log.logger,
    ...options,
  });
  const running = bridge.run();
  running.catch(() => {});
  t.after(async () => {
    await bridge.close();
    await running.catch(() => {});
  });
  return { bridge, log, running };
}

function consumer(t: TestContext, from: string, debounce = 5) {
  const log = new LogCapture();
  const feed = new BrokerFeed({ from, secret: SECRET, debounce, logger: log.logger });
  const probe = new FeedProbe(feed);
  t.after(() => feed.close());
  return { feed, probe, log };
}

function electionSlot(name: string): string {
  return electionSlotName({
    channel: name,
    database: (db as { name: string }).name,
    key: ChannelKey.derive(SECRET, name),
  });
}

async function electionSlots(name: string): Promise<number> {
  const rows = await runSql<{ slot_name: string }>(
    info,
    `SELECT slot_name FROM pg_replication_slots WHERE slot_name = '${electionSlot(name)}'`,
  );
  return rows.length;
}

async function noSlotLeft(name: string): Promise<void> {
  await waitFor(async () => (await slotsIn(info, (db as { name: string }).name)).length === 0, {
    timeoutMs: 20_000,
    what: 'no feed slot left',
  });
  await waitFor(async () => (await electionSlots(name)) === 0, {
    timeoutMs: 20_000,
    what: 'no election slot left',
  });
}

/**
 * A `pgnudge bridge --to redis --to nats` child on `name`, the brokers' credentials in their usual
 * variables (never in the URL, which `ps` shows).
 */
function cliBridge(t: TestContext, name: string, home: string): CliProcess {
  const r = redis as RedisServer;
  const n = nats as NatsServer;
  return new CliProcess(
    [
      'bridge',
      '--channel',
      name,
      '--to',
      `redis://127.0.0.1:${r.info.port}/${name}`,
      '--to',
      `nats://127.0.0.1:${n.info.port}/${name}`,
      '--dsn',
      connectionUrl(info, (db as { name: string }).name, info.roles.replication),
      '--debounce',
      '5',
      '-v',
    ],
    {
      home,
      env: {
        PGNUDGE_SECRET: SECRET,
        REDISCLI_AUTH: r.info.password ?? '',
        NATS_USER: n.info.auth?.user ?? '',
        NATS_PASSWORD: n.info.auth?.pass ?? '',
      },
      after: (fn) => t.after(fn),
    },
  );
}

async function electionHolder(name: string): Promise<number | undefined> {
  const rows = await runSql<{ active_pid: number }>(
    info,
    `SELECT active_pid FROM pg_replication_slots WHERE slot_name = '${electionSlot(name)}'`,
  );
  return rows[0]?.active_pid;
}

/** Whether any captured log line holds a broker password. */
function leaksPassword(...logs: LogCapture[]): boolean {
  return logs.some((log) => log.lines.some((line) => line.message.includes('never logged')));
}

describe('fan-out through Redis and NATS', TEST, () => {
  test(
    'a bridge publishes to both brokers; consumers of each see every commit; forged, unsigned and replayed messages are dropped',
    TEST,
    async (t) => {
      if (skip !== undefined) return t.skip(skip);
      const name = channel();
      const { redis: redisUrl, nats: natsUrl } = urls(name);
      const viaRedis = consumer(t, redisUrl);
      const viaNats = consumer(t, natsUrl);
      await viaRedis.probe.resync('connected');
      await viaNats.probe.resync('connected');
      // A raw subscriber on Redis records what the bridge sends, to replay it later.
      const recorder = await (redis as RedisServer).connect();
      t.after(() => recorder.close());
      await recorder.command('SUBSCRIBE', name);
      const { bridge, log } = startBridge(t, name);
      await viaRedis.probe.resync('bridge');
      await viaNats.probe.resync('bridge');
      assert.match(bridge.bridgeId ?? '', /^[0-9a-f]{16}$/);

      let marks = [viaRedis.probe.mark(), viaNats.probe.mark()];
      await sql('INSERT INTO t (v) VALUES (1)');
      await viaRedis.probe.counted('public.t', 1, marks[0]);
      await viaNats.probe.counted('public.t', 1, marks[1]);

      // Whoever can publish on the broker, without the secret: junk, unsigned, a wrong MAC, and a
      // genuine message replayed.
      let recorded: string | undefined;
      for (let i = 0; i < 20 && recorded === undefined; i += 1) {
        const message = (await recorder.next(5000)) as string[];
        if (Array.isArray(message) && message[0] === 'message' && String(message[2]).includes('"batch"'))
          recorded = String(message[2]);
      }
      assert.ok(recorded, 'the recorder saw a batch');
      marks = [viaRedis.probe.mark(), viaNats.probe.mark()];
      const forged = [
        'garbage',
        `v2..{"b":"0123456789abcdef","q":0,"t":${Date.now()},"k":"resync","r":"connected"}`,
        `v2.${'A'.repeat(43)}.{"b":"0123456789abcdef","q":0,"t":${Date.now()},"k":"hb"}`,
      ];
      const publisher = await (redis as RedisServer).connect();
      t.after(() => publisher.close());
      const natsPublisher = await (nats as NatsServer).connect();
      t.after(() => natsPublisher.close());
      for (const payload of [...forged, recorded]) {
        await publisher.command('PUBLISH', name, payload);
        natsPublisher.publish(name, payload);
      }
      await natsPublisher.ping();
      await waitFor(
        () =>
          viaRedis.feed.dropped.malformed + viaRedis.feed.dropped.unsigned + viaRedis.feed.dropped.mac >= 3 &&
          viaRedis.feed.dropped.replayed >= 1,
        { timeoutMs: 10_000, what: `redis drops (${JSON.stringify(viaRedis.feed.dropped)})` },
      );
      // The message signed for Redis does not verify on NATS: keys are per transport and channel.
      await waitFor(
        () => viaNats.feed.dropped.malformed + viaNats.feed.dropped.unsigned + viaNats.feed.dropped.mac >= 4,
        { timeoutMs: 10_000, what: `nats drops (${JSON.stringify(viaNats.feed.dropped)})` },
      );
      await sql('INSERT INTO t (v) VALUES (2), (3)');
      await viaRedis.probe.counted('public.t', 2, marks[0]);
      await viaNats.probe.counted('public.t', 2, marks[1]);
      for (const [probe, mark] of [
        [viaRedis.probe, marks[0]],
        [viaNats.probe, marks[1]],
      ] as const) {
        assert.deepEqual(
          probe.items.slice(mark).map((item) => item.type),
          ['batch'],
          'the forged and replayed messages caused no Resync and no event',
        );
      }
      assert.equal(leaksPassword(log, viaRedis.log, viaNats.log), false, 'no broker password in a log');
      await bridge.close();
      await noSlotLeft(name);
    },
  );

  test('a batch larger than one Redis message is split and arrives whole at both', TEST, async (t) => {
    if (skip !== undefined) return t.skip(skip);
    const name = channel();
    // 1,200 tables of about 60 bytes each on the wire: more than one 64 KiB Redis message.
    const tables = Array.from(
      { length: 1200 },
      (_, i) => `big_${name.replaceAll('.', '_')}_${i}_${'x'.repeat(30)}`,
    );
    assert.ok(tables.reduce((sum, table) => sum + table.length + 30, 0) > REDIS_PAYLOAD_LIMIT);
    await sql(tables.map((table) => `CREATE TABLE "${table}" (id int);`).join('\n'));
    t.after(() => sql(tables.map((table) => `DROP TABLE "${table}";`).join('\n')));
    const { redis: redisUrl, nats: natsUrl } = urls(name);
    // Consumers that close a batch at once: parts yielded as they came would be a Batch each. The bridge's
    // long debounce keeps the transaction in one batch or two; how many is the bridge's to say.
    const viaRedis = consumer(t, redisUrl, 0);
    const viaNats = consumer(t, natsUrl, 0);
    await viaRedis.probe.resync('connected');
    await viaNats.probe.resync('connected');
    const recorder = await (redis as RedisServer).connect();
    t.after(() => recorder.close());
    await recorder.command('SUBSCRIBE', name);
    startBridge(t, name, { debounce: 1000 });
    await viaRedis.probe.resync('bridge');
    await viaNats.probe.resync('bridge');
    const marks = [viaRedis.probe.mark(), viaNats.probe.mark()];
    await sql(`BEGIN; ${tables.map((table) => `INSERT INTO "${table}" VALUES (1);`).join(' ')} COMMIT;`);
    for (const [probe, mark] of [
      [viaRedis.probe, marks[0] as number],
      [viaNats.probe, marks[1] as number],
    ] as const) {
      await waitFor(() => tables.every((table) => probe.count(`public.${table}`, mark) === 1), {
        timeoutMs: 60_000,
        what: `all 1,200 tables (have ${probe.payloads(mark).length})`,
      });
    }
    // What the bridge published, as a plain Redis subscriber saw it: every event, in however many batches.
    const recorded: string[] = [];
    for (let i = 0; i < 200 && publishedBatches(recorded).events < tables.length; i += 1) {
      const message = (await recorder.next(10_000)) as string[];
      if (Array.isArray(message) && message[0] === 'message') recorded.push(String(message[2]));
    }
    const published = publishedBatches(recorded);
    assert.equal(published.events, tables.length, 'the bridge published each table once');
    assert.ok(
      published.mostParts > 1,
      `the batch went as several Redis messages (${JSON.stringify(published)})`,
    );
    for (const [probe, mark] of [
      [viaRedis.probe, marks[0] as number],
      [viaNats.probe, marks[1] as number],
    ] as const) {
      const sizes = probe.items
        .slice(mark)
        .flatMap((item) => (item instanceof Batch ? [item.events.length] : []));
      assert.ok(
        yieldedWhole(sizes, published.sizes),
        `each batch the bridge published arrived whole, in one Batch (events per Batch ${JSON.stringify(sizes)}, per published batch ${JSON.stringify(published.sizes)})`,
      );
      assert.ok(
        probe.items.slice(mark).every((item) => item.type === 'batch'),
        'no Resync: every part arrived',
      );
    }
  });

  test(
    "a keyed batch larger than a NATS server's max_payload is split to fit and arrives whole",
    TEST,
    async (t) => {
      if (skip !== undefined) return t.skip(skip);
      const small = await startNats({ maxPayload: 4096 });
      t.after(() => small.stop());
      const name = channel();
      const table = `k_${name.replaceAll('.', '_')}`;
      await sql(`CREATE TABLE public.${table} (id int PRIMARY KEY)`);
      t.after(() => sql(`DROP TABLE public.${table}`));
      const url = `${small.info.url}/${name}`;
      const recorder = await small.connect();
      t.after(() => recorder.close());
      assert.equal(recorder.info.max_payload, 4096);
      recorder.subscribe(name, '1');
      await recorder.ping();
      // A consumer that closes a batch at once (parts yielded as they came would be a Batch each); the
      // bridge's long debounce keeps the transaction in one batch or two.
      const viaNats = consumer(t, url, 0);
      await viaNats.probe.resync('connected');
      startBridge(t, name, {
        to: [url],
        keys: true,
        debounce: 1000,
      });
      await viaNats.probe.resync('bridge', 0, 30_000);
      const mark = viaNats.probe.mark();
      // 400 keyed events of about 25 bytes each on the wire: about 10 KB, more than two messages.
      await sql(`INSERT INTO public.${table} SELECT generate_series(1, 400)`);
      const keyed = (from: number) =>
        viaNats.probe.items
          .slice(from)
          .flatMap((item) => (item instanceof Batch ? item.events : []))
          .filter((event) => event.table === `public.${table}`);
      await waitFor(() => keyed(mark).length >= 400, {
        timeoutMs: 30_000,
        what: `400 keys (have ${keyed(mark).length})`,
      });
      assert.deepEqual(
        keyed(mark)
          .map((event) => Number(event.key?.[0]))
          .sort((a, b) => a - b),
        Array.from({ length: 400 }, (_, i) => i + 1),
        'every key, once',
      );
      // Each part fits, or the server would have refused it and the consumer resynced on the gap.
      const recorded: string[] = [];
      for (let i = 0; i < 200 && publishedBatches(recorded).events < 400; i += 1)
        recorded.push((await recorder.nextMessage(10_000)).payload.toString('utf8'));
      const published = publishedBatches(recorded);
      assert.equal(published.events, 400, 'the bridge published each key once');
      assert.ok(
        published.mostParts > 1,
        `the batch went as several NATS messages (${JSON.stringify(published)})`,
      );
      const items = viaNats.probe.items.slice(mark);
      const sizes = items.flatMap((item) => (item instanceof Batch ? [item.events.length] : []));
      assert.ok(
        yieldedWhole(sizes, published.sizes),
        `each batch the bridge published arrived whole, in one Batch (events per Batch ${JSON.stringify(sizes)}, per published batch ${JSON.stringify(published.sizes)})`,
      );
      assert.ok(
        items.every((item) => item.type === 'batch'),
        'no Resync: every part arrived',
      );
      assert.equal(viaNats.probe.error, undefined);
    },
  );

  test(
    'a broker killed and restarted: its consumers Resync and recover; the other broker is unaffected',
    TEST,
    async (t) => {
      if (skip !== undefined) return t.skip(skip);
      const name = channel();
      const { redis: redisUrl, nats: natsUrl } = urls(name);
      const viaRedis = consumer(t, redisUrl);
      const viaNats = consumer(t, natsUrl);
      await viaRedis.probe.resync('connected');
      await viaNats.probe.resync('connected');
      const { log } = startBridge(t, name);
      await viaRedis.probe.resync('bridge');
      await viaNats.probe.resync('bridge');

      for (const [server, broken, other] of [
        [redis as RedisServer, viaRedis, viaNats],
        [nats as NatsServer, viaNats, viaRedis],
      ] as const) {
        const brokenMark = broken.probe.mark();
        const otherMark = other.probe.mark();
        await server.kill();
        await server.restart();
        // The broker kept nothing for the subscriber that was away: it resyncs once subscribed again.
        await broken.probe.resync('reconnected', brokenMark, 30_000);
        const afterResync = broken.probe.mark();
        // The bridge's publisher reconnects by itself; until then what it sends is lost, and consumers
        // resync on the gap: wait until a commit gets through.
        await waitFor(
          async () => {
            await sql('INSERT INTO t (v) VALUES (4)');
            return broken.probe.count('public.t', afterResync) > 0;
          },
          { timeoutMs: 30_000, intervalMs: 500, what: 'a commit through the restarted broker' },
        );
        await waitFor(() => other.probe.count('public.t', otherMark) > 0, {
          timeoutMs: 15_000,
          what: 'the other broker to carry the commits',
        });
        assert.equal(broken.probe.error, undefined);
        assert.equal(broken.probe.done, false);
      }
      // Afterwards every commit reaches both.
      const marks = [viaRedis.probe.mark(), viaNats.probe.mark()];
      await sql('INSERT INTO t (v) VALUES (5)');
      await viaRedis.probe.counted('public.t', 1, marks[0], 30_000);
      await viaNats.probe.counted('public.t', 1, marks[1], 30_000);
      assert.equal(leaksPassword(log, viaRedis.log, viaNats.log), false, 'no broker password in a log');
    },
  );

  test(
    "pgnudge bridge --to and pgnudge listen --from, credentials from the brokers' usual variables",
    TEST,
    async (t) => {
      if (skip !== undefined) return t.skip(skip);
      const name = channel();
      const home = mkdtempSync(join(tmpdir(), 'pgnudge-brokers-home-'));
      t.after(() => rmSync(home, { recursive: true, force: true }));
      const r = redis as RedisServer;
      const n = nats as NatsServer;
      const env = {
        PGNUDGE_SECRET: SECRET,
        REDISCLI_AUTH: r.info.password ?? '',
        NATS_USER: n.info.auth?.user ?? '',
        NATS_PASSWORD: n.info.auth?.pass ?? '',
      };
      const redisUrl = `redis://127.0.0.1:${r.info.port}/${name}`;
      const natsUrl = `nats://127.0.0.1:${n.info.port}/${name}`;
      const run = (args: string[]) => new CliProcess(args, { home, env, after: (fn) => t.after(fn) });
      const listeners = [
        run(['listen', '--from', redisUrl, '--json', '--debounce', '5', '-v']),
        run(['listen', '--from', natsUrl, '--json', '--debounce', '5', '-v']),
      ];
      for (const listen of listeners) {
        await waitFor(() => listen.lines().some((line) => line.includes('"connected"')), {
          timeoutMs: 20_000,
          what: `listen --from to subscribe (${listen.stderr})`,
        });
      }
      const bridge = run([
        'bridge',
        '--channel',
        name,
        '--to',
        redisUrl,
        '--to',
        natsUrl,
        '--dsn',
        connectionUrl(info, (db as { name: string }).name, info.roles.replication),
        '--debounce',
        '5',
        '-v',
      ]);
      await bridge.logged(/: active on channel/, 'the bridge to become active');
      await waitFor(
        async () => {
          await sql('INSERT INTO t (v) VALUES (6)');
          return listeners.every((listen) => listen.lines().some((line) => line.includes('"public.t"')));
        },
        { timeoutMs: 30_000, intervalMs: 500, what: 'a batch at both listeners' },
      );
      for (const listen of listeners) {
        const kinds = listen
          .lines()
          .map((line) => (JSON.parse(line) as { type: string; reason?: string }).reason ?? 'batch');
        assert.equal(kinds[0], 'connected');
        assert.ok(kinds.includes('bridge'), kinds.join());
      }
      bridge.child.kill('SIGTERM');
      for (const listen of listeners) listen.child.kill('SIGINT');
      assert.deepEqual(await bridge.exited, { code: 0, signal: null }, bridge.stderr);
      for (const listen of listeners) {
        assert.deepEqual(await listen.exited, { code: 0, signal: null }, listen.stderr);
        assert.ok(!listen.stderr.includes('never logged'), 'no broker password on stderr');
      }
      assert.ok(!bridge.stderr.includes('never logged'), 'no broker password on stderr');
      await noSlotLeft(name);
    },
  );

  test(
    "two bridges on both brokers: SIGKILL of the active one, then the end of its successor's election session, each end in Resync(bridge) and later commits at every consumer",
    TEST,
    async (t) => {
      if (skip !== undefined) return t.skip(skip);
      const name = channel();
      const home = mkdtempSync(join(tmpdir(), 'pgnudge-brokers-home-'));
      t.after(() => rmSync(home, { recursive: true, force: true }));
      const { redis: redisUrl, nats: natsUrl } = urls(name);
      const consumers = [redisUrl, redisUrl, redisUrl, natsUrl, natsUrl, natsUrl].map((from) =>
        consumer(t, from),
      );
      await Promise.all(consumers.map(({ probe }) => probe.resync('connected', 0, 30_000)));
      const first = cliBridge(t, name, home);
      await first.logged(/: active on channel/, 'the first bridge to become active', 30_000);
      const second = cliBridge(t, name, home);
      await second.logged(/standby/, 'the second bridge to wait as a standby', 30_000);
      await Promise.all(consumers.map(({ probe }) => probe.resync('bridge', 0, 30_000)));

      let marks = consumers.map(({ probe }) => probe.mark());
      await sql('INSERT INTO t (v) VALUES (10)');
      await Promise.all(consumers.map(({ probe }, i) => probe.counted('public.t', 1, marks[i], 30_000)));
      const firstId = consumers[0]?.feed.bridgeId ?? null;
      assert.match(firstId ?? '', /^[0-9a-f]{16}$/);
      assert.deepEqual(new Set(consumers.map(({ feed }) => feed.bridgeId)), new Set([firstId]));

      // A crash: the first bridge's publishers, walsender and election session all go at once.
      marks = consumers.map(({ probe }) => probe.mark());
      const killedAt = Date.now();
      first.child.kill('SIGKILL');
      await second.logged(/: active on channel/, 'the standby to take over', 30_000);
      await Promise.all(consumers.map(({ probe }, i) => probe.resync('bridge', marks[i], 30_000)));
      t.diagnostic(`every broker consumer resynced ${Date.now() - killedAt} ms after the SIGKILL`);
      await waitFor(() => consumers.every(({ feed }) => feed.bridgeId !== firstId), {
        timeoutMs: 15_000,
        what: 'every consumer to follow the standby',
      });
      const secondId = consumers[0]?.feed.bridgeId ?? null;
      assert.deepEqual(new Set(consumers.map(({ feed }) => feed.bridgeId)), new Set([secondId]));
      marks = consumers.map(({ probe }) => probe.mark());
      await sql('INSERT INTO t (v) VALUES (11), (12), (13)');
      await Promise.all(consumers.map(({ probe }, i) => probe.counted('public.t', 3, marks[i], 30_000)));

      // The server ends the session holding the election: the bridge stops publishing, elects itself
      // again under a new id (nobody else is waiting), and every consumer reloads once more.
      const holder = await electionHolder(name);
      assert.ok(holder, 'the second bridge holds the election slot');
      marks = consumers.map(({ probe }) => probe.mark());
      await sql(`SELECT pg_terminate_backend(${holder})`);
      await Promise.all(consumers.map(({ probe }, i) => probe.resync('bridge', marks[i], 30_000)));
      await waitFor(() => consumers.every(({ feed }) => ![firstId, secondId].includes(feed.bridgeId)), {
        timeoutMs: 15_000,
        what: 'every consumer to follow the re-elected bridge',
      });
      marks = consumers.map(({ probe }) => probe.mark());
      await sql('INSERT INTO t (v) VALUES (14)');
      await Promise.all(consumers.map(({ probe }, i) => probe.counted('public.t', 1, marks[i], 30_000)));
      for (const { probe } of consumers) {
        assert.equal(probe.error, undefined);
        assert.equal(probe.done, false);
      }

      second.child.kill('SIGTERM');
      assert.deepEqual(await second.exited, { code: 0, signal: null }, second.stderr);
      assert.ok(!`${first.stderr}${second.stderr}`.includes('never logged'), 'no broker password on stderr');
      assert.equal(leaksPassword(...consumers.map(({ log }) => log)), false, 'no broker password in a log');
      await noSlotLeft(name);
    },
  );

  test(
    'rediss://: bridge and consumers verify the server against ?sslrootcert=; without the CA a consumer fails with PGNUDGE_ERR_TLS',
    TEST,
    async (t) => {
      if (skip !== undefined) return t.skip(skip);
      const secure = await startRedis({ tls: true, password: 'redis tls pass: never logged' });
      t.after(() => secure.stop());
      const caFile = (secure.info.tls as { caFile: string }).caFile;
      const name = channel();
      const bare = `rediss://127.0.0.1:${secure.info.port}/${name}`;
      const verified = `${bare}?sslrootcert=${encodeURIComponent(caFile)}`;
      const withPassword = `${secure.info.url}/${name}?sslrootcert=${encodeURIComponent(caFile)}`;

      const viaTls = consumer(t, withPassword);
      await viaTls.probe.resync('connected');
      // The system's CAs do not know the harness's CA: a configuration error, not a link to retry.
      const untrusted = consumer(t, `${secure.info.url}/${name}`);
      await waitFor(() => untrusted.probe.done, {
        timeoutMs: 30_000,
        what: 'the untrusting consumer to fail',
      });
      const failure = untrusted.probe.error as { code?: string; message?: string };
      assert.equal(failure?.code, 'PGNUDGE_ERR_TLS', String(failure?.message));
      assert.match(failure.message ?? '', /\?sslrootcert=PATH/);
      assert.ok(!(failure.message ?? '').includes('never logged'), 'no password in the error');

      const home = mkdtempSync(join(tmpdir(), 'pgnudge-brokers-home-'));
      t.after(() => rmSync(home, { recursive: true, force: true }));
      const listen = new CliProcess(['listen', '--from', verified, '--json', '--debounce', '5', '-v'], {
        home,
        env: { PGNUDGE_SECRET: SECRET, REDISCLI_AUTH: secure.info.password ?? '' },
        after: (fn) => t.after(fn),
      });
      await waitFor(() => listen.lines().some((line) => line.includes('"connected"')), {
        timeoutMs: 20_000,
        what: `listen --from rediss:// to subscribe (${listen.stderr})`,
      });

      const { bridge, log } = startBridge(t, name, { to: [withPassword] });
      await viaTls.probe.resync('bridge', 0, 30_000);
      await waitFor(
        async () => {
          await sql('INSERT INTO t (v) VALUES (40)');
          return (
            viaTls.probe.count('public.t') > 0 && listen.lines().some((line) => line.includes('"public.t"'))
          );
        },
        { timeoutMs: 30_000, intervalMs: 500, what: 'a commit through rediss:// at both consumers' },
      );
      assert.equal(viaTls.probe.error, undefined);
      listen.child.kill('SIGINT');
      assert.deepEqual(await listen.exited, { code: 0, signal: null }, listen.stderr);
      assert.ok(!listen.stderr.includes('never logged'), 'no broker password on stderr');
      assert.equal(leaksPassword(log, viaTls.log, untrusted.log), false, 'no broker password in a log');
      await bridge.close();
      await noSlotLeft(name);
    },
  );

  test(
    'a bridge whose election session ends while a broker publisher connects closes that publisher once it connects',
    TEST,
    async (t) => {
      if (skip !== undefined) return t.skip(skip);
      const name = channel();
      const n = nats as NatsServer;
      // NATS through a proxy that holds the server's INFO: the publisher's connect waits until released.
      const proxy = await TcpProxy.start({ host: n.info.host, port: n.info.port });
      t.after(() => proxy.close());
      proxy.holdDownstream();
      const auth = n.info.auth as { user: string; pass: string };
      const { bridge, running } = startBridge(t, name, {
        to: [`nats://${auth.user}:${encodeURIComponent(auth.pass)}@127.0.0.1:${proxy.port}/${name}`],
        backoff: { initial: 50, maximum: 200 },
      });
      await waitFor(() => proxy.accepted === 1, {
        timeoutMs: 20_000,
        what: 'the first publisher to connect',
      });
      const holder = await waitFor(() => electionHolder(name), { what: 'the bridge to hold the election' });
      await sql(`SELECT pg_terminate_backend(${holder})`);
      // The bridge starts over: a new session, the election again, a second publisher.
      await waitFor(() => proxy.accepted === 2, {
        timeoutMs: 20_000,
        what: 'the second publisher to connect',
      });
      proxy.releaseDownstream();
      await waitFor(() => bridge.active, { timeoutMs: 20_000, what: 'the bridge to become active' });
      assert.equal(proxy.accepted, 2);
      await bridge.close();
      await running.catch(() => {});
      await waitFor(() => proxy.open === 0, {
        timeoutMs: 10_000,
        what: `every publisher's connection to close (${proxy.open} open)`,
      });
      await noSlotLeft(name);
    },
  );

  test(
    'a bridge that publishes only to brokers is elected by its channel, and leaves no slot',
    TEST,
    async (t) => {
      if (skip !== undefined) return t.skip(skip);
      const name = channel();
      const { bridge } = startBridge(t, name);
      await waitFor(() => bridge.active, { timeoutMs: 30_000, what: 'the bridge to become active' });
      assert.equal(await electionSlots(name), 1);
      await bridge.close();
      await noSlotLeft(name);
    },
  );
});

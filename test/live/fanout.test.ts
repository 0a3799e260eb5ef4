// Fan-out over NOTIFY against a real server (contract §6, R29): `pgnudge bridge` processes republish one
// feed, signed with a shared secret; NotifyFeed consumers and `pgnudge listen` LISTEN with a plain LOGIN
// role. Failover by the election slot, splitting, junk payloads dropped without effect, insecure mode,
// and zero slots left behind. Attacks by a LOGIN role: fanout-hostile.test.ts.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { ChannelKey } from '../../src/fanout/auth.js';
import { electionSlotName } from '../../src/fanout/election.js';
import { Batch, type FeedItem, NotifyFeed } from '../../src/index.js';
import { CliProcess, connectionUrl } from '../support/cli-process.js';
import {
  type ClusterInfo,
  liveCluster,
  type Role,
  runSql,
  scratchDatabase,
  superuserClient,
} from '../support/cluster.js';
import { FeedProbe, feedConnection, slotsIn } from '../support/feed-probe.js';
import { LogCapture } from '../support/log-capture.js';
import { waitFor } from '../support/wait.js';
import { publishedBatches, yieldedWhole } from '../support/wire-messages.js';

const TEST = { timeout: 120_000 } as const;
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
/** The secret every bridge and consumer here shares; the CLI reads it from PGNUDGE_SECRET or a file. */
const SECRET = 'live fan-out secret: 32 bytes ok';

let info: ClusterInfo;
let db: { name: string; drop(): Promise<void> };
let home: string;
let secretFile: string;
let channelCount = 0;

before(async () => {
  info = await liveCluster();
  db = await scratchDatabase(info, 'fanout');
  home = mkdtempSync(join(tmpdir(), 'pgnudge-fanout-home-'));
  secretFile = join(home, 'secret');
  writeFileSync(secretFile, `${SECRET}\n`);
  chmodSync(secretFile, 0o600);
  await runSql(info, 'CREATE TABLE public.t (id serial PRIMARY KEY, v int)', db.name);
});

after(async () => {
  await db?.drop();
  if (home) rmSync(home, { recursive: true, force: true });
});

const sql = (text: string) => runSql(info, text, db.name);

/** A fresh channel per test, with a space and mixed case: it must be quoted everywhere. */
function channel(): string {
  channelCount += 1;
  return `Fan Out ${channelCount} ${process.pid}`;
}

function dsn(role: Role): string {
  return connectionUrl(info, db.name, role);
}

/** `pgnudge ...args` with the secret in PGNUDGE_SECRET (`env` may replace it, or add variables). */
function cli(
  t: TestContext,
  args: string[],
  env: Record<string, string> = { PGNUDGE_SECRET: SECRET },
): CliProcess {
  return new CliProcess(args, { home, env, after: (fn) => t.after(fn) });
}

function startBridge(t: TestContext, name: string, debounce = '5', auth: string[] = []): CliProcess {
  return cli(
    t,
    [
      'bridge',
      '--channel',
      name,
      ...auth,
      '--dsn',
      dsn(info.roles.replication),
      '--debounce',
      debounce,
      '-v',
    ],
    auth.length === 0 ? { PGNUDGE_SECRET: SECRET } : {},
  );
}

function consumer(
  t: TestContext,
  name: string,
  debounce = 5,
  auth: { secret: string } | { insecure: true } = { secret: SECRET },
): { feed: NotifyFeed; probe: FeedProbe; log: LogCapture } {
  const log = new LogCapture();
  const feed = new NotifyFeed({
    ...feedConnection(info, db.name, info.roles.login),
    channel: name,
    ...auth,
    debounce,
    logger: log.logger,
  });
  const probe = new FeedProbe(feed);
  t.after(() => feed.close());
  return { feed, probe, log };
}

/** The channel's election slot in the scratch database, with this file's secret. */
function electionSlot(name: string): string {
  return electionSlotName({ channel: name, database: db.name, key: ChannelKey.derive(SECRET, name) });
}

async function electionHolder(name: string): Promise<number | undefined> {
  const rows = await runSql<{ active_pid: number }>(
    info,
    `SELECT active_pid FROM pg_replication_slots WHERE slot_name = '${electionSlot(name)}'`,
  );
  return rows[0]?.active_pid;
}

const isBatch = (item: FeedItem): item is Batch => item instanceof Batch;

describe('fan-out over NOTIFY', TEST, () => {
  test(
    'listen --json prints the shapes of watch; junk and unsigned payloads are dropped without effect',
    TEST,
    async (t) => {
      const name = channel();
      const { probe, log } = consumer(t, name);
      await probe.resync('connected');
      // The secret from a file here; the bridge has it from PGNUDGE_SECRET.
      const listen = cli(
        t,
        [
          'listen',
          '--channel',
          name,
          '--secret-file',
          secretFile,
          '--json',
          '--dsn',
          dsn(info.roles.login),
          '--debounce',
          '5',
        ],
        {},
      );
      await waitFor(() => listen.lines().length > 0, { timeoutMs: 20_000, what: 'the listen Resync line' });
      assert.deepEqual(JSON.parse(listen.lines()[0] as string), { type: 'resync', reason: 'connected' });

      const bridge = startBridge(t, name);
      await bridge.logged(/: active on channel/, 'the bridge to become active');
      // The bridge's feed starts with Resync('connected'), which consumers receive as Resync('bridge').
      await probe.resync('bridge');
      await waitFor(() => listen.lines().some((line) => line.includes('"bridge"')), {
        timeoutMs: 20_000,
        what: 'listen to print the bridge resync',
      });

      let mark = probe.mark();
      await sql('INSERT INTO t (v) VALUES (1)');
      await probe.counted('public.t', 1, mark);
      const batchLine = await waitFor(() => listen.lines().find((line) => line.includes('"batch"')), {
        timeoutMs: 20_000,
        what: 'a batch line from listen',
      });
      const batch = JSON.parse(batchLine) as { type: string; events: Record<string, unknown>[] };
      assert.equal(batch.type, 'batch');
      assert.deepEqual(Object.keys(batch.events[0] ?? {}), ['payload', 'table', 'key', 'count', 'firstSeen']);
      assert.equal(batch.events[0]?.payload, 'public.t');
      assert.equal(batch.events[0]?.table, 'public.t');
      assert.equal(batch.events[0]?.key, null);
      assert.equal(batch.events[0]?.count, 1);
      assert.match(String(batch.events[0]?.firstSeen), ISO_UTC);

      // Anyone who may NOTIFY on the channel can send junk: it is dropped without effect, and reported.
      mark = probe.mark();
      const quoted = name.replaceAll("'", "''");
      for (const junk of [
        'garbage',
        '{"v":2,"k":"hb"}',
        '{"v":1,"b":"evil","q":0,"k":"batch","p":0,"n":1,"e":[["x",1]]}',
        '[]',
        `v2..{"b":"0123456789abcdef","q":0,"t":${Date.now()},"k":"resync","r":"connected"}`,
      ]) {
        await sql(`SELECT pg_notify('${quoted}', '${junk.replaceAll("'", "''")}')`);
      }
      const report = await log.failure(/dropped \d+ message\(s\)/);
      assert.match(report, /malformed/);
      await sql('INSERT INTO t (v) VALUES (2), (3)');
      await probe.counted('public.t', 2, mark);
      assert.deepEqual(
        probe.items.slice(mark).map((item) => item.type),
        ['batch'],
        'the junk caused no Resync and no event',
      );
      await listen.logged(
        /WARN {2}pgnudge: channel ".*": dropped \d+ message\(s\)/,
        'listen to report the drops',
      );
      assert.equal(probe.error, undefined);
      assert.equal(probe.done, false);
      for (const line of listen.lines()) {
        const item = JSON.parse(line) as { type: string };
        assert.ok(item.type === 'resync' || item.type === 'batch', line);
      }

      bridge.child.kill('SIGTERM');
      listen.child.kill('SIGINT');
      assert.deepEqual(await bridge.exited, { code: 0, signal: null }, bridge.stderr);
      assert.deepEqual(await listen.exited, { code: 0, signal: null }, listen.stderr);
      await waitFor(async () => (await slotsIn(info, db.name)).length === 0, { what: 'no slot left' });
      await waitFor(async () => (await electionHolder(name)) === undefined, {
        what: 'no election slot left',
      });
    },
  );

  test(
    'a bridge run with --keys sends rows: a listener gets table and key apart, the old and the new key of a moved row',
    TEST,
    async (t) => {
      const name = channel();
      await sql('CREATE TABLE "keyed:t" (a int, b text, v int, PRIMARY KEY (a, b))');
      t.after(() => sql('DROP TABLE "keyed:t"'));
      const { probe } = consumer(t, name, 200);
      await probe.resync('connected');
      const bridge = cli(t, [
        'bridge',
        '--channel',
        name,
        '--keys',
        '--table',
        'public."keyed:t"',
        '--dsn',
        dsn(info.roles.replication),
        '--debounce',
        '200',
      ]);
      await probe.resync('bridge');
      const mark = probe.mark();
      await sql(`INSERT INTO "keyed:t" VALUES (1, 'a b', 0), (2, 'x', 0)`);
      await sql(`UPDATE "keyed:t" SET v = 1 WHERE a = 1`);
      await sql(`UPDATE "keyed:t" SET a = 3 WHERE a = 2`);
      await probe.counted('public.keyed:t:1,"a b"', 2, mark);
      await probe.counted('public.keyed:t:2,x', 2, mark);
      await probe.counted('public.keyed:t:3,x', 1, mark);
      assert.deepEqual(
        ['public.keyed:t:1,"a b"', 'public.keyed:t:2,x', 'public.keyed:t:3,x'].map((p) =>
          probe.count(p, mark),
        ),
        [2, 2, 1],
      );
      const events = probe.items
        .slice(mark)
        .filter(isBatch)
        .flatMap((batch) => batch.events);
      assert.ok(events.length > 0);
      for (const event of events) {
        // The table name holds ':', so only the wire's separate fields can say where the key starts.
        assert.equal(event.table, 'public.keyed:t');
        assert.ok(event.key !== null && event.key.length === 2, JSON.stringify(event));
      }
      assert.deepEqual([...new Set(events.map((event) => JSON.stringify(event.key)))].sort(), [
        '["1","a b"]',
        '["2","x"]',
        '["3","x"]',
      ]);
      bridge.child.kill('SIGTERM');
      assert.equal((await bridge.exited).code, 0, bridge.stderr);
    },
  );

  test(
    'a change to 300 long-named tables in one transaction is split across messages and arrives whole',
    TEST,
    async (t) => {
      const name = channel();
      const tables = Array.from(
        { length: 300 },
        (_, i) => `wide_✓_${String(i).padStart(3, '0')}_${'x'.repeat(40)}`,
      );
      await sql(tables.map((table) => `CREATE TABLE "${table}" (id int);`).join('\n'));
      const raw = await superuserClient(info, db.name);
      t.after(() => raw.end().catch(() => {}));
      const payloads: string[] = [];
      raw.on('notification', (message) => payloads.push(message.payload ?? ''));
      await raw.query(`LISTEN "${name.replaceAll('"', '""')}"`);
      // A consumer that closes a batch at once: parts yielded as they came would be a Batch each. The
      // bridge's long debounce keeps the transaction in one batch or two; how many is the bridge's to say.
      const { probe } = consumer(t, name, 0);
      await probe.resync('connected');
      const bridge = startBridge(t, name, '1000');
      await probe.resync('bridge');
      const mark = probe.mark();
      await sql(`BEGIN; ${tables.map((table) => `INSERT INTO "${table}" VALUES (1);`).join(' ')} COMMIT;`);
      await waitFor(() => tables.every((table) => probe.count(`public.${table}`, mark) === 1), {
        timeoutMs: 30_000,
        what: `all 300 tables (have ${probe.payloads(mark).length})`,
      });
      // What the bridge published, as the plain LISTEN session saw it: every event, in however many batches.
      await waitFor(() => publishedBatches(payloads).events >= tables.length, {
        timeoutMs: 10_000,
        what: () => `the bridge's events on the raw listener (${JSON.stringify(publishedBatches(payloads))})`,
      });
      const published = publishedBatches(payloads);
      assert.equal(published.events, tables.length, 'the bridge published each table once');
      assert.ok(published.mostParts > 1, `the batch was split (${JSON.stringify(published)})`);
      const sizes = probe.items
        .slice(mark)
        .filter(isBatch)
        .map((batch) => batch.events.length);
      assert.ok(
        yieldedWhole(sizes, published.sizes),
        `the consumer reassembled each batch the bridge published into one Batch (events per Batch ${JSON.stringify(sizes)}, per published batch ${JSON.stringify(published.sizes)})`,
      );
      for (const text of payloads)
        assert.ok(Buffer.byteLength(text) < 8000, `${Buffer.byteLength(text)} bytes`);
      bridge.child.kill('SIGTERM');
      assert.equal((await bridge.exited).code, 0);
    },
  );

  test(
    'sessions ended by the server recover: the listener with Resync(reconnected), the bridge with a new id',
    TEST,
    async (t) => {
      const name = channel();
      const { feed, probe } = consumer(t, name);
      await probe.resync('connected');
      const bridge = startBridge(t, name);
      await probe.resync('bridge');
      await waitFor(() => feed.bridgeId, { what: 'the consumer to hear the bridge' });
      const firstId = feed.bridgeId;

      let mark = probe.mark();
      await sql(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND usename = '${info.roles.login.user}' AND application_name = 'pgnudge'`,
      );
      await probe.resync('reconnected', mark);
      mark = probe.mark();
      await sql('INSERT INTO t (v) VALUES (20)');
      await probe.counted('public.t', 1, mark);

      // The session holding the election slot ends: the bridge must stop its feed and re-elect.
      mark = probe.mark();
      const holder = await electionHolder(name);
      assert.ok(holder, 'the bridge holds its election slot');
      await sql(`SELECT pg_terminate_backend(${holder})`);
      await probe.resync('bridge', mark);
      await waitFor(() => feed.bridgeId !== null && feed.bridgeId !== firstId, {
        what: 'a new bridge id after the bridge re-elected itself',
      });
      mark = probe.mark();
      await sql('INSERT INTO t (v) VALUES (21)');
      await probe.counted('public.t', 1, mark);
      assert.equal(probe.error, undefined);
      bridge.kill('SIGTERM');
      assert.equal((await bridge.exited).code, 0, bridge.stderr);
      await waitFor(async () => (await slotsIn(info, db.name)).length === 0, { what: 'no slot left' });
      await waitFor(async () => (await electionHolder(name)) === undefined, {
        what: 'no election slot left',
      });
    },
  );

  test(
    'insecure: true: an --insecure bridge and an insecure consumer work; a consumer with a secret drops them all',
    TEST,
    async (t) => {
      const name = channel();
      const insecure = consumer(t, name, 5, { insecure: true });
      const strict = consumer(t, name);
      await insecure.probe.resync('connected');
      await strict.probe.resync('connected');
      const bridge = startBridge(t, name, '5', ['--insecure']);
      await bridge.logged(
        /active on channel .*insecure: messages are unsigned/,
        'the insecure bridge to be active',
      );
      await insecure.probe.resync('bridge');
      const mark = insecure.probe.mark();
      await sql('INSERT INTO t (v) VALUES (30)');
      await insecure.probe.counted('public.t', 1, mark);
      const report = await strict.log.failure(/dropped \d+ message\(s\)/);
      assert.match(report, /unsigned \(from a bridge running with insecure: true\?\)/);
      assert.deepEqual(
        strict.probe.items.map((item) => item.type === 'resync' && item.reason),
        ['connected'],
        'the consumer with a secret believed nothing unsigned',
      );
      bridge.kill('SIGTERM');
      assert.equal((await bridge.exited).code, 0, bridge.stderr);
    },
  );

  test(
    'two bridges and 50 consumers: a write reaches all; SIGKILL of the active bridge fails over with a Resync',
    TEST,
    async (t) => {
      if (info.major !== 15 && info.major !== 18) {
        return t.skip(
          'the 50-consumer failover runs on PostgreSQL 15 and 18 only, to spare the shared 2-core runner',
        );
      }
      const name = channel();
      const consumers = Array.from({ length: 50 }, () => consumer(t, name));
      await Promise.all(consumers.map(({ probe }) => probe.resync('connected', 0, 30_000)));
      const first = startBridge(t, name);
      await first.logged(/: active on channel/, 'the first bridge to become active');
      const second = startBridge(t, name);
      await second.logged(/standby/, 'the second bridge to wait as a standby');
      await Promise.all(consumers.map(({ probe }) => probe.resync('bridge', 0, 30_000)));

      let marks = consumers.map(({ probe }) => probe.mark());
      await sql('INSERT INTO t (v) VALUES (10)');
      await Promise.all(consumers.map(({ probe }, i) => probe.counted('public.t', 1, marks[i], 30_000)));
      const ids = new Set(consumers.map(({ feed }) => feed.bridgeId));
      assert.equal(ids.size, 1);

      marks = consumers.map(({ probe }) => probe.mark());
      const killedAt = Date.now();
      first.child.kill('SIGKILL');
      await second.logged(/: active on channel/, 'the standby to take over', 30_000);
      await Promise.all(consumers.map(({ probe }, i) => probe.resync('bridge', marks[i], 30_000)));
      t.diagnostic(`every consumer resynced ${Date.now() - killedAt} ms after the SIGKILL`);
      assert.equal(new Set(consumers.map(({ feed }) => feed.bridgeId)).size, 1);
      assert.ok(!ids.has(consumers[0]?.feed.bridgeId ?? null), 'consumers follow the new bridge id');

      marks = consumers.map(({ probe }) => probe.mark());
      await sql('INSERT INTO t (v) VALUES (11), (12), (13)');
      await Promise.all(consumers.map(({ probe }, i) => probe.counted('public.t', 3, marks[i], 30_000)));
      for (const { probe } of consumers) assert.equal(probe.error, undefined);

      second.child.kill('SIGTERM');
      assert.equal((await second.exited).code, 0, second.stderr);
      await Promise.all(consumers.map(({ feed }) => feed.close()));
      await waitFor(async () => (await slotsIn(info, db.name)).length === 0, { what: 'no slot left' });
      await waitFor(async () => (await electionHolder(name)) === undefined, {
        what: 'no election slot left',
      });
    },
  );
});

// `pgnudge serve` (contract R31) as a user runs it: the built CLI against the real cluster (WalFeed). The token
// on /events, /metrics and the page but not /healthz; loopback only without a token; 200 SSE clients on
// one walsender; a client that stops reading cut off while the others receive everything; and /healthz
// following the server down and back (on a cluster of its own, since stopping the shared one would
// disturb the other files).
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { CliProcess, connectionUrl } from '../support/cli-process.js';
import { Cluster, type ClusterInfo, liveCluster, runSql, scratchDatabase } from '../support/cluster.js';
import { onlyOneMajor } from '../support/one-major.js';
import { SseClient } from '../support/sse-client.js';
import { waitFor } from '../support/wait.js';

const TOKEN = 'live-test-token-0123456789abcdef';
const WIDE_TABLES = 1000;

let info: ClusterInfo;
let db: { name: string; drop(): Promise<void> };
let home: string;
let skip: string | undefined;

before(async () => {
  info = await liveCluster();
  skip = onlyOneMajor(info, 'pgnudge serve');
  if (skip) return;
  db = await scratchDatabase(info, 'serve');
  home = mkdtempSync(join(tmpdir(), 'pgnudge-serve-home-'));
  await runSql(info, 'CREATE TABLE public.t (id serial PRIMARY KEY)', db.name);
});

after(async () => {
  await db?.drop();
  if (home) rmSync(home, { recursive: true, force: true });
});

/** A DSN with an application_name of its own, so pg_stat_replication shows only this serve's walsenders. */
function dsn(target: ClusterInfo, database: string, applicationName: string): string {
  const url = new URL(connectionUrl(target, database, target.roles.replication));
  url.searchParams.set('application_name', applicationName);
  return url.toString();
}

/** A `pgnudge serve` child on a free port, killed when the test ends; `base` is its origin. */
class Serve extends CliProcess {
  base = '';

  static async start(t: TestContext, args: string[], env: Record<string, string> = {}): Promise<Serve> {
    const serve = new Serve(['serve', '--port', '0', '--debounce', '5', ...args], {
      home,
      env,
      after: (fn) => t.after(fn),
    });
    const match = await serve.match(/^serving (http:\/\/[^/\s]+)\//m, 'the serving line');
    serve.base = match[1] as string;
    return serve;
  }

  async metric(name: string): Promise<number> {
    const value = await this.maybeMetric(name);
    assert.ok(value !== undefined, `${name} in /metrics`);
    return value;
  }

  /** The sample `name` (labels included, as printed) of /metrics, or undefined when absent. */
  async maybeMetric(name: string): Promise<number | undefined> {
    const text = await (
      await fetch(`${this.base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.split(' ')[1]);
  }
}

const sql = (text: string) => runSql(info, text, db.name);

describe('pgnudge serve', { timeout: 180_000 }, () => {
  test('with a token: /events, /metrics and the page need it, /healthz does not; a commit reaches /events', {
    timeout: 60_000,
  }, async (t) => {
    if (skip) return t.skip(skip);
    const serve = await Serve.start(
      t,
      ['--dsn', dsn(info, db.name, 'pgnudge-serve-token'), '--status-interval', '500'],
      { PGNUDGE_TOKEN: TOKEN },
    );
    assert.doesNotMatch(serve.stderr, /no token/);
    await waitFor(async () => (await fetch(`${serve.base}/healthz`)).status === 200, {
      what: '/healthz 200',
    });
    for (const path of ['/events', '/metrics', '/', `/events?token=${TOKEN.slice(1)}`]) {
      const response = await fetch(`${serve.base}${path}`);
      assert.equal(response.status, 401, path);
      await response.text();
    }
    const byHeader = new SseClient(`${serve.base}/events`, { authorization: `Bearer ${TOKEN}` });
    const byQuery = new SseClient(`${serve.base}/events?token=${TOKEN}`);
    t.after(() => {
      byHeader.close();
      byQuery.close();
    });
    for (const client of [byHeader, byQuery]) {
      await client.opened;
      assert.equal(client.status, 200);
      await client.next(
        (item) => item.type === 'resync' && item.reason === 'connected',
        'the stream’s Resync',
      );
    }
    await sql('INSERT INTO public.t DEFAULT VALUES; INSERT INTO public.t DEFAULT VALUES;');
    for (const client of [byHeader, byQuery]) {
      await waitFor(() => client.counted('public.t') === 2, { what: 'two changes to public.t on /events' });
    }
    // /metrics from the feed's stats (contract R32): its state, its changes, and the WAL lag once a status
    // update has confirmed a position.
    assert.equal(await serve.metric('pgnudge_state{state="streaming"}'), 1);
    assert.equal(await serve.metric('pgnudge_changes_total'), 2);
    assert.ok((await serve.metric('pgnudge_received_bytes_total')) > 0);
    assert.ok((await serve.metric('pgnudge_wal_end_lsn_bytes')) > 0);
    const lag = await waitFor(async () => serve.maybeMetric('pgnudge_lag_bytes'), {
      what: 'pgnudge_lag_bytes after the first status update',
    });
    assert.ok(lag >= 0);
    assert.ok(
      TOKEN && !serve.stdout.includes(TOKEN) && !serve.stderr.includes(TOKEN),
      'the token is never printed',
    );
    serve.kill('SIGTERM');
    assert.equal(await serve.status(), 0, 'SIGTERM is a clean end');
  });

  test('the token from --token-file (owner-only); a file others can read is a usage error', {
    timeout: 60_000,
  }, async (t) => {
    if (skip) return t.skip(skip);
    const file = join(home, 'token');
    writeFileSync(file, `${TOKEN}\n`);
    chmodSync(file, 0o644);
    const refused = new CliProcess(['serve', '--port', '0', '--token-file', file], {
      home,
      after: (fn) => t.after(fn),
    });
    assert.equal(await refused.status(), 2);
    assert.match(refused.stderr, /--token-file .* may be read or written by others .*chmod 600/);
    chmodSync(file, 0o600);
    const serve = await Serve.start(t, [
      '--token-file',
      file,
      '--dsn',
      dsn(info, db.name, 'pgnudge-serve-file'),
    ]);
    const response = await fetch(`${serve.base}/metrics?token=${TOKEN}`);
    assert.equal(response.status, 200);
    assert.match(await response.text(), /^pgnudge_sse_clients 0$/m);
  });

  test('without a token: loopback only, said on stderr; --host 0.0.0.0 without one exits 2', {
    timeout: 60_000,
  }, async (t) => {
    if (skip) return t.skip(skip);
    const serve = await Serve.start(t, ['--dsn', dsn(info, db.name, 'pgnudge-serve-open')]);
    assert.match(serve.base, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(
      serve.stderr,
      /no token set \(PGNUDGE_TOKEN or --token-file\): serving without authentication, on loopback only/,
    );
    const page = await fetch(`${serve.base}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<title>pgnudge live<\/title>/);
    const open = new CliProcess(['serve', '--port', '0', '--host', '0.0.0.0'], {
      home,
      after: (fn) => t.after(fn),
    });
    assert.equal(await open.status(), 2);
    assert.match(open.stderr, /--host 0\.0\.0\.0 would serve without authentication beyond this machine/);
  });

  /** The secret the bridge and serve --channel share (contract R29). */
  const FANOUT_SECRET = 'serve test: a fan-out secret of 32';

  test('--channel: serves what a bridge publishes, as a LOGIN role without REPLICATION', {
    timeout: 60_000,
  }, async (t) => {
    if (skip) return t.skip(skip);
    const channel = 'pgnudge serve test';
    const bridge = new CliProcess(
      [
        'bridge',
        '--channel',
        channel,
        '--debounce',
        '0',
        '-v',
        '--dsn',
        connectionUrl(info, db.name, info.roles.replication),
      ],
      { home, env: { PGNUDGE_SECRET: FANOUT_SECRET }, after: (fn) => t.after(fn) },
    );
    await bridge.logged(/: active on channel/, 'the bridge to become active', 30_000);
    const serve = await Serve.start(
      t,
      ['--channel', channel, '--dsn', connectionUrl(info, db.name, info.roles.login)],
      {
        PGNUDGE_TOKEN: TOKEN,
        PGNUDGE_SECRET: FANOUT_SECRET,
      },
    );
    const client = new SseClient(`${serve.base}/events?token=${TOKEN}`);
    t.after(() => client.close());
    await client.next((item) => item.type === 'resync', 'the opening Resync');
    await waitFor(async () => (await fetch(`${serve.base}/healthz`)).status === 200, {
      what: '/healthz 200',
    });
    await sql('INSERT INTO public.t DEFAULT VALUES');
    await waitFor(() => client.counted('public.t') === 1, { what: 'the commit through the bridge' });
    // A NotifyFeed's stats: streaming while LISTEN is active, no WAL positions.
    assert.equal(await serve.metric('pgnudge_state{state="streaming"}'), 1);
    assert.equal(await serve.metric('pgnudge_changes_total'), 1);
    assert.equal(await serve.maybeMetric('pgnudge_wal_end_lsn_bytes'), undefined);
  });

  test('200 concurrent SSE clients share one walsender, and each gets the commit', {
    timeout: 120_000,
  }, async (t) => {
    if (skip) return t.skip(skip);
    // No spaces: a URL's + is not a space to libpq, nor to pgnudge.
    const name = 'pgnudge-serve-200';
    const serve = await Serve.start(t, ['--dsn', dsn(info, db.name, name)], { PGNUDGE_TOKEN: TOKEN });
    const clients = Array.from({ length: 200 }, () => new SseClient(`${serve.base}/events?token=${TOKEN}`));
    t.after(() => {
      for (const client of clients) client.close();
    });
    await waitFor(() => clients.every((client) => client.items()[0]?.type === 'resync'), {
      timeoutMs: 60_000,
      what: 'every client’s opening Resync',
    });
    assert.equal(await serve.metric('pgnudge_sse_clients'), 200);
    const senders = await runSql<{ application_name: string }>(
      info,
      'SELECT application_name FROM pg_stat_replication',
    );
    assert.equal(
      senders.filter((row) => row.application_name === name).length,
      1,
      `one walsender serves every client (walsenders: ${JSON.stringify(senders)})`,
    );
    const marks = clients.map((client) => client.events.length);
    await sql('INSERT INTO public.t DEFAULT VALUES');
    await waitFor(() => clients.every((client, i) => client.counted('public.t', marks[i]) === 1), {
      timeoutMs: 30_000,
      what: 'the commit on every client',
    });
  });

  test('a client that stops reading is cut off; the others receive every batch', {
    timeout: 150_000,
  }, async (t) => {
    if (skip) return t.skip(skip);
    // Wide tables with long names, in a database of this test's own (dropped within the test, so that its
    // checkpoint is not paid after the file's tests): one transaction over all of them is one batch of
    // ~100 KB, which fills a stalled client's socket (MBs on loopback) and queue in a few dozen commits.
    const wideDb = await scratchDatabase(info, 'serve_wide');
    t.after(() => wideDb.drop());
    const wideSql = (text: string) => runSql(info, text, wideDb.name);
    await wideSql(
      `CREATE TABLE public.t (id serial PRIMARY KEY);
       DO $$ BEGIN FOR i IN 1..${WIDE_TABLES} LOOP
         EXECUTE format('CREATE TABLE public.%I (id serial PRIMARY KEY)', 'wide_table_with_a_long_enough_name_' || i);
       END LOOP; END $$;`,
    );
    const serve = await Serve.start(t, ['--dsn', dsn(info, wideDb.name, 'pgnudge-serve-slow')], {
      PGNUDGE_TOKEN: TOKEN,
    });
    const readers = Array.from({ length: 5 }, () => new SseClient(`${serve.base}/events?token=${TOKEN}`));
    const port = Number(new URL(serve.base).port);
    const stalled = connect(port, '127.0.0.1');
    t.after(() => {
      stalled.destroy();
      for (const reader of readers) reader.close();
    });
    stalled.write(`GET /events?token=${TOKEN} HTTP/1.1\r\nHost: x\r\n\r\n`);
    stalled.pause();
    await waitFor(async () => (await serve.metric('pgnudge_sse_clients')) === 6, { what: '6 streams open' });
    await waitFor(() => readers.every((reader) => reader.items()[0]?.type === 'resync'), {
      what: 'the readers’ Resyncs',
    });
    const wide = `DO $$ BEGIN FOR i IN 1..${WIDE_TABLES} LOOP
      EXECUTE format('INSERT INTO public.%I DEFAULT VALUES', 'wide_table_with_a_long_enough_name_' || i);
    END LOOP; END $$;`;
    let commits = 0;
    await waitFor(
      async () => {
        if ((await serve.metric('pgnudge_sse_clients_dropped_total')) === 1) return true;
        await wideSql(wide);
        commits += 1;
        return false;
      },
      { timeoutMs: 120_000, intervalMs: 1, what: 'the stalled client to be cut off' },
    );
    t.diagnostic(`cut off after ${commits} commits of ${WIDE_TABLES} tables each`);
    assert.equal(await serve.metric('pgnudge_sse_clients'), 5);
    await wideSql('INSERT INTO public.t DEFAULT VALUES');
    const first = 'wide_table_with_a_long_enough_name_1';
    await waitFor(() => readers.every((reader) => reader.counted('public.t') === 1), {
      timeoutMs: 30_000,
      what: 'the marker commit on every reader',
    });
    for (const reader of readers) {
      assert.equal(reader.counted(`public.${first}`), commits, 'every wide commit reached every reader');
      assert.equal(reader.ended, false);
    }
    assert.match(serve.stderr, /fell more than 262144 bytes behind; cut it off/);
  });
});

describe('/healthz follows the server (a cluster of its own)', { timeout: 180_000 }, () => {
  let cluster: Cluster | undefined;
  let own: { name: string };
  before(async () => {
    if (skip || info.external) return;
    cluster = await Cluster.start({ major: info.major });
    own = await scratchDatabase(cluster.info, 'serve_health');
    await cluster.sql('CREATE TABLE public.t (id serial PRIMARY KEY)', own.name);
  });
  after(() => cluster?.stop());

  test('200 while live, 503 while the server is down, 200 again after the Resync; clients see Resync(reconnected)', {
    timeout: 120_000,
  }, async (t) => {
    if (skip) return t.skip(skip);
    if (!cluster) return t.skip(skip ?? 'external server: this test stops a cluster of its own');
    const live = cluster;
    const serve = await Serve.start(t, ['--dsn', dsn(live.info, own.name, 'pgnudge-serve-health')], {
      PGNUDGE_TOKEN: TOKEN,
    });
    const health = async () => (await fetch(`${serve.base}/healthz`)).status;
    await waitFor(async () => (await health()) === 200, { timeoutMs: 30_000, what: '/healthz 200' });
    const client = new SseClient(`${serve.base}/events?token=${TOKEN}`);
    t.after(() => client.close());
    await client.next((item) => item.type === 'resync', 'the opening Resync');
    live.halt();
    await waitFor(async () => (await health()) === 503, {
      timeoutMs: 30_000,
      what: '/healthz 503 with the server down',
    });
    assert.equal(await serve.metric('pgnudge_live'), 0);
    assert.equal(await serve.metric('pgnudge_state{state="streaming"}'), 0, 'not streaming while down');
    assert.ok((await serve.metric('pgnudge_failures_total')) >= 1);
    await live.resume();
    await waitFor(async () => (await health()) === 200, {
      timeoutMs: 45_000,
      what: '/healthz 200 with the server back',
    });
    const resync = await client.next(
      (item) => item.type === 'resync' && item.reason === 'reconnected',
      'Resync(reconnected)',
    );
    await live.sql('INSERT INTO public.t DEFAULT VALUES', own.name);
    await waitFor(() => client.counted('public.t', resync) === 1, { what: 'a commit after the return' });
    assert.equal(await serve.metric('pgnudge_reconnects_total'), 1);
    assert.equal(await serve.metric('pgnudge_resyncs_total{reason="reconnected"}'), 1);
  });
});

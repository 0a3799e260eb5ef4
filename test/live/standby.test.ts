// WalFeed on a hot standby (contract R26), 16–18: a dedicated primary and a streaming standby for this file.
// Commits on the primary nudge feeds on the standby (a plugin's and a publication's); a restart of the
// primary and the standby's promotion leave the stream running (so every commit still nudges: no
// silence); a restart of the standby is a lost connection that ends in Resync('reconnected'); doctor
// reports the standby. Creating a slot on a standby waits for a running-transactions record from the
// primary, so every wait for one runs while the primary logs them (Standby.snapshotsWhile).
import assert from 'node:assert/strict';
import { after, before, describe, type TestContext, test } from 'node:test';
import type { WalFeedOptions } from '../../src/index.js';
import { runCli } from '../support/cli-process.js';
import { Cluster, type ClusterInfo, liveCluster } from '../support/cluster.js';
import { feedConnection, openFeed } from '../support/feed-probe.js';
import { emptyHome } from '../support/live-database.js';
import { type Standby, startStandby } from '../support/standby.js';

let info: ClusterInfo;
let skip: string | undefined;
before(async () => {
  info = await liveCluster();
  if (info.external) skip = 'external server: this file boots clusters of its own';
  else if (info.major < 16)
    skip = `logical decoding on a standby needs PostgreSQL 16+ (this is ${info.major})`;
});

const home = emptyHome('standby');

describe('WalFeed on a hot standby', { timeout: 240_000 }, () => {
  let primary: Cluster | undefined;
  let standby: Standby | undefined;
  before(async () => {
    if (skip) return;
    primary = await Cluster.start({ major: info.major });
    await primary.sql(`CREATE TABLE public.orders (id serial PRIMARY KEY, note text);
      CREATE PUBLICATION app FOR TABLE public.orders (id)`);
    standby = await startStandby(primary);
    await standby.waitForReplay();
  });
  after(() => {
    standby?.stop();
    primary?.stop();
  });

  /** Feeds on the standby, each live once the primary has logged what their slots wait for. */
  async function openOnStandby(t: TestContext, variants: WalFeedOptions[]) {
    const feeds = variants.map((options) =>
      openFeed(t, {
        ...feedConnection(standby!.info, 'postgres'),
        tables: ['public.orders'],
        ...options,
      }),
    );
    await standby!.snapshotsWhile(
      Promise.all(feeds.map(({ probe }) => probe.resync('connected', 0, 30_000))),
    );
    return feeds;
  }

  /** Commits `rows` rows on the primary and waits until every feed counted them after `from`. */
  async function commitAndCount(feeds: Awaited<ReturnType<typeof openOnStandby>>, rows: number) {
    const marks = feeds.map(({ probe }) => probe.count('public.orders'));
    await primary!.sql(`INSERT INTO public.orders (note) SELECT 'x' FROM generate_series(1, ${rows})`);
    await Promise.all(feeds.map(({ probe }, i) => probe.counted('public.orders', marks[i]! + rows)));
  }

  test('commits on the primary nudge feeds on the standby, through a plugin and through a publication; the wait is explained', async (t) => {
    if (skip || !standby) return t.skip(skip);
    const feeds = await openOnStandby(t, [{ plugin: 'test_decoding' }, { publication: 'app' }]);
    for (const { log } of feeds) {
      assert.ok(
        log.lines.some(
          (line) =>
            line.level === 'info' &&
            /is a hot standby: .*SELECT pg_log_standby_snapshot\(\) on the primary/.test(line.message),
        ),
        JSON.stringify(log.lines),
      );
    }
    await commitAndCount(feeds, 3);
    for (const { probe } of feeds) assert.equal(probe.count('public.orders'), 3);
  });

  test('a restart of the primary: the standby’s stream goes on, and commits after it nudge', async (t) => {
    if (skip || !standby || !primary) return t.skip(skip);
    const feeds = await openOnStandby(t, [{ publication: 'app' }]);
    await primary.restart();
    await commitAndCount(feeds, 2);
    const resyncs = feeds[0]!.probe.items.filter((item) => item.type === 'resync').length;
    t.diagnostic(
      `Resyncs after the primary's restart: ${resyncs - 1} (the stream ${resyncs === 1 ? 'went on' : 'reconnected'})`,
    );
  });

  test('a restart of the standby is a lost connection: Resync(reconnected), then commits nudge again (contract R7)', async (t) => {
    if (skip || !standby || !primary) return t.skip(skip);
    const feeds = await openOnStandby(t, [{ publication: 'app' }]);
    const { probe } = feeds[0]!;
    await standby.restart();
    const back = await standby.snapshotsWhile(probe.resync('reconnected', 0, 30_000));
    const from = probe.after(back);
    await primary.sql("INSERT INTO public.orders (note) VALUES ('after')");
    await probe.counted('public.orders', 1, from);
  });

  test('doctor on the standby: a hot standby with hot_standby_feedback, its primary at wal_level logical', async (t) => {
    if (skip || !standby) return t.skip(skip);
    const role = standby.info.roles.replication;
    const tls = standby.info.caFile ? ` sslmode=verify-full sslrootcert='${standby.info.caFile}'` : '';
    const outcome = await standby.snapshotsWhile(
      runCli(
        [
          'doctor',
          '--json',
          '--publication',
          'app',
          '--table',
          'public.orders',
          '--dsn',
          `host=${standby.info.host} port=${standby.info.port} user=${role.user} dbname=postgres${tls}`,
        ],
        { home, env: { PGPASSWORD: role.password }, timeoutMs: 60_000 },
      ),
      { timeoutMs: 60_000 },
    );
    const report = JSON.parse(outcome.stdout) as {
      ok: boolean;
      plugin: string;
      checks: { name: string; ok: boolean; detail: string }[];
    };
    assert.equal(outcome.code, 0, outcome.stdout + outcome.stderr);
    assert.equal(report.ok, true);
    assert.equal(report.plugin, 'pgoutput');
    const standbyCheck = report.checks.find((c) => c.name === 'standby');
    assert.ok(standbyCheck?.ok, JSON.stringify(report.checks));
    assert.match(
      standbyCheck.detail,
      /^a hot standby of PostgreSQL \d+\.\d+: hot_standby_feedback = on; the primary's wal_level is logical \(a slot was created here\)/,
    );
    assert.match(
      report.checks.find((c) => c.name === 'publication')?.detail ?? '',
      /^publication "app": FOR TABLE public\.orders \(id\); publish_via_partition_root off$/,
    );
    assert.match(outcome.stderr, /is a hot standby: each slot probe waits/);
  });

  test('promotion of the standby: its stream goes on, and commits on the promoted server nudge', async (t) => {
    if (skip || !standby || !primary) return t.skip(skip);
    const feeds = await openOnStandby(t, [{ publication: 'app' }]);
    const { probe } = feeds[0]!;
    await standby.promote();
    const mark = probe.count('public.orders');
    await standby.sql("INSERT INTO public.orders (note) VALUES ('on the promoted server')");
    await probe.counted('public.orders', mark + 1);
    const resyncs = probe.items.filter((item) => item.type === 'resync').length;
    t.diagnostic(
      `Resyncs after the promotion: ${resyncs - 1} (the stream ${resyncs === 1 ? 'went on' : 'reconnected'})`,
    );
  });
});

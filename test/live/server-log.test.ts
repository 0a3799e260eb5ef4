// What the server sees of pgnudge (issue 21), on a cluster of this file's own, since it rewrites pg_hba.conf
// and reads the server log:
// - pg_hba.conf: a feed's logical walsender (replication=database) is admitted by the line for its database
//   (here `all`), with no `replication` line at all; with only a `replication` line it is refused, and the
//   error's fix names the database line, as docs/troubleshooting.md, errors.md and managed-platforms.md say.
// - Clean closes (close(), break, the signal, SIGINT and SIGTERM in the CLI) send Terminate, so the log holds
//   no "unexpected EOF on standby connection"; a process killed outright still leaves one (contract R10).
// Neither depends on the major, so the file runs once per test run.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { WalFeed } from '../../src/index.js';
import { CliProcess, connectionUrl } from '../support/cli-process.js';
import { Cluster, type ClusterInfo, liveCluster } from '../support/cluster.js';
import { FeedProbe, feedConnection } from '../support/feed-probe.js';
import { emptyHome } from '../support/live-database.js';
import { runsInAnotherSuite } from '../support/run-once.js';
import { waitFor, withDeadline } from '../support/wait.js';

const TEST = { timeout: 90_000 } as const;
const EOF_LINE = /unexpected EOF on standby connection/g;
/** What a client that closes with unread bytes or resets the link leaves in the log instead. */
const RESET_LINE = /could not (?:receive|send) data (?:from|to) client/g;

let skip: string | undefined;
let cluster: Cluster | undefined;
let info: ClusterInfo;
const home = emptyHome('server-log');

/** The superuser's own lines come first (Cluster.start adds them); then only `lines`. */
function hba(lines: string[]): void {
  if (!cluster) throw new Error('no cluster');
  // Written in place, so the file keeps its owner (the server's user).
  writeFileSync(
    join(cluster.dataDir, 'pg_hba.conf'),
    [
      'local     all          postgres                       trust',
      'host      all          postgres       127.0.0.1/32   scram-sha-256',
      ...lines,
      '',
    ].join('\n'),
  );
}

before(async () => {
  const shared = await liveCluster();
  skip = shared.external
    ? 'external server: this file boots a cluster of its own'
    : runsInAnotherSuite(shared);
  if (skip) return;
  const role = shared.roles.replication.user;
  // Only the `all` line for the feed's role: no `replication` line anywhere.
  cluster = await Cluster.start({
    major: shared.major,
    hba: [`host      all          ${role}     127.0.0.1/32   scram-sha-256`],
  });
  info = cluster.info;
  await cluster.sql('CREATE TABLE public.t (id int PRIMARY KEY)');
  await cluster.sql('GRANT ALL ON public.t TO PUBLIC');
});
after(() => cluster?.stop());

/** A feed on the dedicated cluster's `postgres` database, tagged so its sessions can be found. */
function feedOn(applicationName: string, extra: { signal?: AbortSignal } = {}): WalFeed {
  return new WalFeed(
    { ...feedConnection(info, 'postgres'), applicationName, plugin: 'test_decoding', debounce: 5, ...extra },
    { env: {} },
  );
}

/** Waits until the server has no session left for `applicationName`. */
async function sessionsGone(applicationName: string): Promise<void> {
  await waitFor(
    async () =>
      (
        await cluster!.sql<{ n: string }>(
          `SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = '${applicationName}'`,
        )
      )[0]?.n === '0',
    { timeoutMs: 15_000, what: `the sessions of ${applicationName} to end on the server` },
  );
}

const count = (pattern: RegExp) => (cluster?.log().match(pattern) ?? []).length;

describe('pg_hba.conf for a feed: the database line, not the replication keyword', TEST, () => {
  test(
    'a line for all (no replication line) admits the feed, which streams',
    TEST,
    async (t: TestContext) => {
      if (skip) return t.skip(skip);
      const feed = feedOn('hba-all');
      t.after(() => feed.close());
      const probe = new FeedProbe(feed);
      await probe.resync('connected');
      await cluster!.sql('INSERT INTO public.t SELECT generate_series(1, 3)');
      await probe.counted('public.t', 3);
    },
  );

  test(
    'with only a replication line the feed is refused, and the fix names the database line',
    TEST,
    async (t) => {
      if (skip) return t.skip(skip);
      const role = info.roles.replication.user;
      hba([`host      replication  ${role}     127.0.0.1/32   scram-sha-256`]);
      await cluster!.sql('SELECT pg_reload_conf()');
      t.after(async () => {
        hba([`host      all          ${role}     127.0.0.1/32   scram-sha-256`]);
        await cluster!.sql('SELECT pg_reload_conf()');
      });
      // A reload is asynchronous: until it is read, the old lines still admit the feed.
      const error = await waitFor(
        async () => {
          // A feed the old lines still admit would run for ever: it is closed after each attempt.
          const feed = feedOn('hba-replication-only');
          const probe = new FeedProbe(feed);
          await withDeadline(probe.finished, 3_000, 'a refusal').catch(() => undefined);
          await feed.close();
          return probe.error as (Error & { code?: string; sqlState?: string }) | undefined;
        },
        { timeoutMs: 30_000, what: 'the feed to be refused' },
      );
      assert.equal(error.code, 'PGNUDGE_ERR_AUTH_FAILED', error.message);
      assert.equal(error.sqlState, '28000');
      assert.match(
        error.message,
        /no pg_hba\.conf entry for host "127\.0\.0\.1", user "nudge_repl", database "postgres"/,
      );
      assert.match(
        error.message,
        /Add a pg_hba\.conf line that admits this role to this database, e\.g\. host postgres nudge_repl <client-ip>\/32 scram-sha-256 \(or "all" in the database column\)/,
      );
      assert.match(error.message, /the "replication" keyword covers physical replication only/);
    },
  );
});

describe('clean closes leave the server log quiet (contract R10)', TEST, () => {
  test(
    'close(), break, the signal, and the CLI on SIGINT and SIGTERM: no unexpected EOF; SIGKILL: one',
    TEST,
    async (t) => {
      if (skip) return t.skip(skip);
      const before = { eof: count(EOF_LINE), reset: count(RESET_LINE) };
      const app = 'clean-close';

      // close(), with a transaction in flight so the server is sending when the client leaves.
      const closed = feedOn(app);
      const probe = new FeedProbe(closed);
      await probe.resync('connected');
      await cluster!.sql('INSERT INTO public.t SELECT generate_series(1000, 1999)');
      await closed.close();

      // break
      for await (const item of feedOn(app)) {
        assert.equal(item.type, 'resync');
        break;
      }

      // the signal
      const controller = new AbortController();
      const signalled = new FeedProbe(feedOn(app, { signal: controller.signal }));
      await signalled.resync('connected');
      controller.abort();
      await withDeadline(signalled.finished, 10_000, 'the aborted feed to end');

      // the CLI, ended by SIGINT and by SIGTERM: exit 0
      const role = info.roles.replication;
      const url = new URL(connectionUrl(info, 'postgres', { user: role.user, password: '' }));
      url.searchParams.set('application_name', app);
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        const cli = new CliProcess(['watch', '--json', '--dsn', url.toString()], {
          home,
          env: { PGPASSWORD: role.password },
          after: (fn) => t.after(fn),
        });
        await cli.line((line) => line.includes('"resync"'), 'the Resync');
        cli.kill(signal);
        assert.equal(await cli.status(), 0, cli.stderr);
      }

      await sessionsGone(app);
      assert.equal(count(EOF_LINE) - before.eof, 0, `unexpected EOF lines:\n${cluster!.log()}`);
      assert.equal(count(RESET_LINE) - before.reset, 0, `connection reset lines:\n${cluster!.log()}`);

      // The control: a process killed outright cannot say goodbye; the server notices and logs it.
      const killed = new CliProcess(['watch', '--json', '--dsn', url.toString()], {
        home,
        env: { PGPASSWORD: role.password },
        after: (fn) => t.after(fn),
      });
      await killed.line((line) => line.includes('"resync"'), 'the Resync');
      killed.kill('SIGKILL');
      await sessionsGone(app);
      await waitFor(() => count(EOF_LINE) - before.eof === 1, {
        timeoutMs: 10_000,
        what: 'the killed walsender to be logged as an unexpected EOF',
      });
    },
  );
});

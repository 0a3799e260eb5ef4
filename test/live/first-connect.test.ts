// A feed that has never connected makes its problem visible in seconds (issue 21, contract R11): a closed
// port fails the library's feed and the CLI after firstConnectTimeout with the last cause, instead of
// retrying for ever in silence; and a real PgBouncer in transaction mode, whose refusal of the replication
// parameter no retry can heal, fails the first attempt with PGNUDGE_ERR_POOLER and doctor's fix. Neither
// depends on the PostgreSQL major, so this file runs once per test run.
import assert from 'node:assert/strict';
import { after, before, describe, type TestContext, test } from 'node:test';
import { WalFeed } from '../../src/index.js';
import { binaryUnavailable } from '../support/background-server.js';
import { CliProcess, connectionUrl } from '../support/cli-process.js';
import { type ClusterInfo, freePort } from '../support/cluster.js';
import { FeedProbe, feedConnection } from '../support/feed-probe.js';
import {
  emptyHome,
  harnessPasswords,
  openLiveDatabase,
  type ScratchDatabase,
} from '../support/live-database.js';
import { PGBOUNCER, type Pgbouncer, startPgbouncer } from '../support/pgbouncer.js';
import { runsInAnotherSuite } from '../support/run-once.js';
import { withDeadline } from '../support/wait.js';

const TEST = { timeout: 60_000 } as const;

let info: ClusterInfo;
let db: ScratchDatabase;
let skip: string | undefined;
const home = emptyHome('first-connect');
before(async () => {
  ({ info, db } = await openLiveDatabase('first_connect', 'CREATE TABLE public.t (id int PRIMARY KEY)'));
  skip = runsInAnotherSuite(info);
});
after(() => db?.drop());

/** Runs `pgnudge args` to its end (it must end by itself). */
async function runToEnd(t: TestContext, args: string[], env: Record<string, string> = {}) {
  const cli = new CliProcess(args, { home, env, after: (fn) => t.after(fn) });
  const code = await cli.status(30_000);
  return { code, stdout: cli.stdout, stderr: cli.stderr };
}

describe('a closed port: the first connection gives up after firstConnectTimeout', TEST, () => {
  test('WalFeed: the iteration fails with the last cause, after some retries', TEST, async (t) => {
    if (skip) return t.skip(skip);
    const port = await freePort();
    const feed = new WalFeed(
      {
        ...feedConnection(info, db.name),
        host: '127.0.0.1',
        port,
        sslmode: 'disable',
        backoff: { initial: 50, maximum: 200 },
        firstConnectTimeout: 1500,
      },
      { env: {} },
    );
    t.after(() => feed.close());
    const probe = new FeedProbe(feed);
    await withDeadline(probe.finished, 15_000, 'the feed to give up');
    const error = probe.error as Error & { code?: string };
    assert.equal(error?.code, 'PGNUDGE_ERR_CONNECTION', String(error));
    assert.match(
      error.message,
      new RegExp(
        `^cannot connect to 127\\.0\\.0\\.1:${port}: ECONNREFUSED .*; gave up after \\d+ attempts in \\d+ ms without connecting once \\(firstConnectTimeout 1500 ms\\)$`,
      ),
    );
    assert.deepEqual(probe.items, []);
  });

  test(
    'pgnudge watch: exit 1 with the cause; and a password in --dsn is warned about, never shown',
    TEST,
    async (t) => {
      if (skip) return t.skip(skip);
      const port = await freePort();
      const role = info.roles.replication;
      const url = connectionUrl({ ...info, port, caFile: null }, db.name, role);
      const { code, stdout, stderr } = await runToEnd(t, [
        'watch',
        '--dsn',
        url,
        '--first-connect-timeout',
        '1000',
      ]);
      assert.equal(code, 1, stderr);
      assert.equal(stdout, '');
      assert.match(
        stderr,
        /WARN {2}pgnudge: the password in --dsn is visible to every user of this machine .*PGPASSWORD/,
      );
      assert.match(stderr, /WARN {2}pgnudge: cannot connect to 127\.0\.0\.1:\d+: ECONNREFUSED/);
      assert.match(
        stderr,
        /\npgnudge: cannot connect to .*ECONNREFUSED .*; gave up after \d+ attempts? in \d+ ms without connecting once \(firstConnectTimeout 1000 ms\)\n {2}\(PGNUDGE_ERR_CONNECTION\)\n$/,
      );
      for (const password of harnessPasswords(info))
        assert.ok(!stderr.includes(password), 'a password on stderr');
    },
  );
});

describe('PgBouncer in transaction mode in front of the server', TEST, () => {
  let bouncer: Pgbouncer | undefined;
  before(async () => {
    skip ??= binaryUnavailable(PGBOUNCER, 'pgbouncer');
    if (!skip) bouncer = await startPgbouncer(info);
  });
  after(() => bouncer?.stop());

  test(
    'WalFeed: PGNUDGE_ERR_POOLER on the first attempt, with the fix, not a retry loop',
    TEST,
    async (t) => {
      if (skip || !bouncer) return t.skip(skip);
      const warnings: string[] = [];
      const feed = new WalFeed(
        {
          ...feedConnection(bouncer.info, db.name),
          backoff: { initial: 50, maximum: 200 },
          logger: { warn: (message) => warnings.push(message) },
        },
        { env: {} },
      );
      t.after(() => feed.close());
      const probe = new FeedProbe(feed);
      await withDeadline(probe.finished, 15_000, 'the feed to fail');
      const error = probe.error as Error & { code?: string; retryable?: boolean; sqlState?: string };
      assert.equal(error?.code, 'PGNUDGE_ERR_POOLER', String(error));
      assert.equal(error.retryable, false);
      assert.equal(error.sqlState, '08P01');
      // PgBouncer names the first parameter it refuses: the settings pgnudge pins come before replication.
      assert.match(
        error.message,
        /^FATAL 08P01: unsupported startup parameter: \w+\. Connect to PostgreSQL itself \(usually port 5432\), not PgBouncer or another pooler, which refuses the startup parameters of pgnudge sessions: a pooler cannot carry replication\.$/,
      );
      assert.deepEqual(warnings, [], 'failed at once, never retried');
    },
  );

  test('pgnudge watch: exit 1 with the pooler fix; doctor names it too', TEST, async (t) => {
    if (skip || !bouncer) return t.skip(skip);
    const role = bouncer.info.roles.replication;
    // The password comes from the environment, as the CLI's warning advises.
    const url = connectionUrl(bouncer.info, db.name, { user: role.user, password: '' });
    const env = { PGPASSWORD: role.password };
    const watch = await runToEnd(t, ['watch', '--dsn', url], env);
    assert.equal(watch.code, 1, watch.stderr);
    assert.match(
      watch.stderr,
      /^pgnudge: FATAL 08P01: unsupported startup parameter: \w+\. Connect to PostgreSQL itself \(usually port 5432\), not PgBouncer or another pooler, .*\n {2}\(PGNUDGE_ERR_POOLER\)\n$/,
    );
    const doctor = await runToEnd(t, ['doctor', '--json', '--dsn', url], env);
    assert.equal(doctor.code, 1, doctor.stderr);
    const report = JSON.parse(doctor.stdout) as {
      checks: { name: string; ok: boolean; fix: string | null }[];
    };
    const direct = report.checks.find((check) => check.name === 'direct_connection');
    assert.equal(direct?.ok, false);
    assert.match(
      direct?.fix ?? '',
      /Connect to PostgreSQL itself \(usually port 5432\), not PgBouncer or another pooler/,
    );
  });
});

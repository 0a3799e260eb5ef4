// contract R11 end to end: every failure that retrying cannot heal fails the feed's FIRST connection with a
// typed error naming the cause and the fix (the iterator's first next() rejects, with no retry in
// between), and a failure that retrying can heal is retried and logged instead, also on the first
// connection. (wal_level = replica is covered by feed-wal-level tests on a dedicated cluster.)
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { PgnudgeError, type PgnudgeErrorCode, WalFeed, type WalFeedOptions } from '../../src/index.js';
import { type ClusterInfo, freePort, makeCa, type Role } from '../support/cluster.js';
import { feedConnection } from '../support/feed-probe.js';
import { harnessPasswords, openLiveDatabase, type ScratchDatabase } from '../support/live-database.js';
import { waitFor, withDeadline } from '../support/wait.js';

/** Each failure must surface within this long: one connect attempt, not a retry loop. */
const FAIL_FAST_MS = 8_000;
const TEST = { timeout: 30_000 } as const;

let info: ClusterInfo;
let db: ScratchDatabase;
let scratch: string;
let wrongCa: string;

before(async () => {
  ({ info, db } = await openLiveDatabase('feed_errors'));
  scratch = mkdtempSync(join(tmpdir(), 'pgnudge-feed-errors-'));
  // A CA that never signed the server's certificate: verification must refuse the server.
  wrongCa = makeCa(scratch, 'unrelated-ca', 'pgnudge unrelated CA').cert;
});

after(async () => {
  await db?.drop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** Every password the harness knows: none may appear in an error message. */
const passwords = () => harnessPasswords(info);

/**
 * Opens a feed with `options`, pulls once, and returns what the first next() rejected with. Asserts
 * that it rejected (no item was yielded), within FAIL_FAST_MS, with nothing logged as a retry, and that
 * the feed is closed afterwards.
 */
async function firstConnectionFailure(t: TestContext, options: WalFeedOptions): Promise<PgnudgeError> {
  const warnings: string[] = [];
  const feed = new WalFeed(
    {
      ...options,
      // Quick retries, so a wrongly retried failure shows up as warnings well inside the deadline.
      backoff: { initial: 10, maximum: 50 },
      logger: { warn: (message) => warnings.push(message), error: (message) => warnings.push(message) },
    },
    { env: {} },
  );
  t.after(() => feed.close());
  const iterator = feed[Symbol.asyncIterator]();
  const outcome = await withDeadline(
    iterator.next().then(
      (result) => ({ result }),
      (error: unknown) => ({ error }),
    ),
    FAIL_FAST_MS,
    'the first next() to reject',
  );
  assert.ok('error' in outcome, `expected the first next() to reject; it yielded ${JSON.stringify(outcome)}`);
  assert.ok(outcome.error instanceof PgnudgeError, `expected a PgnudgeError, got ${String(outcome.error)}`);
  assert.deepEqual(warnings, [], 'a failure that retrying cannot heal was retried');
  assert.equal(feed.closed, true, 'the feed is closed after its fatal error');
  assert.deepEqual(await iterator.next(), { done: true, value: undefined });
  return outcome.error;
}

/** The common assertions: code, not retryable, the cause and the fix named, no password anywhere. */
function assertTyped(
  error: PgnudgeError,
  code: PgnudgeErrorCode,
  cause: RegExp,
  fix: RegExp,
  role?: Role,
): void {
  assert.equal(error.code, code, `code (message: ${error.message})`);
  assert.equal(error.retryable, false);
  assert.match(error.message, cause, 'the message names the cause');
  assert.match(error.message, fix, 'the message names the fix');
  for (const password of role ? [role.password, ...passwords()] : passwords()) {
    assert.ok(!error.message.includes(password), `the message contains a password: ${error.message}`);
    assert.ok(!String(error.stack).includes(password), 'the stack contains a password');
  }
}

describe('contract R11: a cause retrying cannot heal fails the first connection with a typed error', () => {
  test('authentication failed (wrong password)', TEST, async (t) => {
    const options = { ...feedConnection(info, db.name), password: 'definitely-not-the-password' };
    const error = await firstConnectionFailure(t, options);
    assertTyped(
      error,
      'PGNUDGE_ERR_AUTH_FAILED',
      /password authentication failed for user "nudge_repl"/,
      /Check the user name and password/,
    );
    assert.ok(!error.message.includes('definitely-not-the-password'));
  });

  test('role lacks REPLICATION', TEST, async (t) => {
    const error = await firstConnectionFailure(t, feedConnection(info, db.name, info.roles.login));
    assertTyped(
      error,
      'PGNUDGE_ERR_REPLICATION_DENIED',
      /permission denied to start WAL sender|must be superuser or replication role/,
      new RegExp(`ALTER ROLE "${info.roles.login.user}" WITH REPLICATION;`),
      info.roles.login,
    );
  });

  test('the chosen plugin is missing', TEST, async (t) => {
    if (info.plugins.includes('wal2json')) {
      return t.skip(`wal2json is installed on PostgreSQL ${info.version}: nothing to miss`);
    }
    const error = await firstConnectionFailure(t, { ...feedConnection(info, db.name), plugin: 'wal2json' });
    assertTyped(
      error,
      'PGNUDGE_ERR_PLUGIN_MISSING',
      /wal2json/,
      /Install the output plugin "wal2json".*or choose plugin test_decoding/,
    );
  });

  test('unknown database', TEST, async (t) => {
    const error = await firstConnectionFailure(t, feedConnection(info, 'no_such_database_here'));
    assertTyped(
      error,
      'PGNUDGE_ERR_UNKNOWN_DATABASE',
      /database "no_such_database_here" does not exist/,
      /Create the database or connect to an existing one/,
    );
  });

  test('TLS verification failed (verify-full against a CA that did not sign the server)', TEST, async (t) => {
    if (info.caFile === null || info.external)
      return t.skip('external server: its certificates are not ours');
    const options = {
      ...feedConnection(info, db.name),
      sslmode: 'verify-full' as const,
      sslrootcert: wrongCa,
    };
    const error = await firstConnectionFailure(t, options);
    assertTyped(
      error,
      'PGNUDGE_ERR_TLS',
      /TLS handshake with 127\.0\.0\.1 failed: .*certificate/i,
      /Check that sslrootcert names the CA that signed the server certificate/,
    );
  });

  for (const kind of ['cleartext', 'md5'] as const) {
    test(`a ${kind} password is refused over plaintext (sslmode=disable)`, TEST, async (t) => {
      if (info.external) return t.skip('external server: its pg_hba.conf is not ours');
      const role = info.roles[kind];
      const options = { ...feedConnection(info, db.name, role), sslmode: 'disable' as const };
      delete options.sslrootcert;
      const error = await firstConnectionFailure(t, options);
      assertTyped(
        error,
        'PGNUDGE_ERR_AUTH_INSECURE',
        new RegExp(
          `asked for ${kind === 'md5' ? 'an MD5' : 'a cleartext'} password over an unencrypted connection`,
        ),
        /Enable TLS \(sslmode=require or stricter\) or switch the role to SCRAM/,
        role,
      );
    });
  }
});

describe('contract R11: a cause retrying can heal is retried and logged on the first connection', () => {
  test('connection refused: warnings, no rejection, until closed', TEST, async (t) => {
    const port = await freePort();
    const warnings: string[] = [];
    const feed = new WalFeed(
      {
        host: '127.0.0.1',
        port,
        user: info.roles.replication.user,
        password: info.roles.replication.password,
        database: db.name,
        sslmode: 'disable',
        backoff: { initial: 10, maximum: 50 },
        logger: { warn: (message) => warnings.push(message) },
      },
      { env: {} },
    );
    t.after(() => feed.close());
    const iterator = feed[Symbol.asyncIterator]();
    let settled: unknown = null;
    const pending = iterator.next().then(
      (result) => {
        settled = { result };
        return result;
      },
      (error: unknown) => {
        settled = { error };
        throw error;
      },
    );
    await waitFor(() => warnings.length >= 2, { timeoutMs: 15_000, what: 'two retry warnings' });
    assert.equal(settled, null, 'the first next() settled during retries');
    for (const warning of warnings.slice(0, 2)) {
      assert.match(warning, new RegExp(`cannot connect to 127\\.0\\.0\\.1:${port}: ECONNREFUSED`));
      assert.match(warning, /PGNUDGE_ERR_CONNECTION.*reconnecting in \d+ ms \(attempt \d+\)/);
      assert.ok(!warning.includes(info.roles.replication.password));
    }
    await feed.close();
    assert.deepEqual(await withDeadline(pending, 5000, 'next() to end after close()'), {
      done: true,
      value: undefined,
    });
  });
});

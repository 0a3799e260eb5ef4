// `pgnudge watch` as a user runs it (contract §5): the built CLI in a child process with an empty environment,
// its exact --json lines on stdout, a clean exit 0 on SIGINT/SIGTERM that leaves no slot behind, the
// PG* variables as the connection source, exit 1 with a plain cause-and-fix for each contract R11 cause, and
// exit 2 for usage errors.
import assert from 'node:assert/strict';
import { after, before, describe, type TestContext, test } from 'node:test';
import { CliProcess, connectionKeyValue, connectionUrl } from '../support/cli-process.js';
import { type ClusterInfo, type Role, runSql } from '../support/cluster.js';
import { slotsIn } from '../support/feed-probe.js';
import {
  emptyHome,
  harnessPasswords,
  openLiveDatabase,
  type ScratchDatabase,
} from '../support/live-database.js';
import { waitFor } from '../support/wait.js';

const TEST = { timeout: 60_000 } as const;
const ISO_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

let info: ClusterInfo;
let db: ScratchDatabase;
const home = emptyHome('cli');
before(async () => {
  ({ info, db } = await openLiveDatabase(
    'cli_watch',
    `CREATE TABLE public.t (id int PRIMARY KEY);
     CREATE TABLE public.other (id int PRIMARY KEY);`,
  ));
});
after(() => db?.drop());

const sql = (text: string) => runSql(info, text, db.name);
const passwords = () => harnessPasswords(info);
/** A key=value DSN for `role`, over verified TLS when the harness owns the certificates. */
const keyValueDsn = (role: Role = info.roles.replication, extra: Record<string, string> = {}) =>
  connectionKeyValue(info, db.name, role, extra);
/** The same as a postgres:// URL. */
const urlDsn = (role: Role = info.roles.replication) => connectionUrl(info, db.name, role);

/** A `pgnudge` child for one test, killed when the test ends. */
class Cli extends CliProcess {
  constructor(t: TestContext, args: string[], env: Record<string, string> = {}) {
    super(args, { home, env, after: (fn) => t.after(fn) });
  }
}

/** Runs `pgnudge args` to its end (it must end by itself) and returns status and output. */
async function runToEnd(t: TestContext, args: string[], env: Record<string, string> = {}) {
  const cli = new Cli(t, args, env);
  const status = await cli.status(20_000);
  return { status, stdout: cli.stdout, stderr: cli.stderr };
}

/** stderr of a failure: one or two plain lines, no stack trace, no password. */
function assertPlainError(stderr: string): string[] {
  const lines = stderr.split('\n').filter((line) => line.trim() !== '');
  assert.ok(
    lines.length >= 1 && lines.length <= 2,
    `one or two lines on stderr, got: ${JSON.stringify(stderr)}`,
  );
  assert.doesNotMatch(stderr, /^\s+at /m, 'a stack trace on stderr');
  assert.doesNotMatch(stderr, /\.(js|ts):\d+/, 'a source location on stderr');
  for (const password of passwords())
    assert.ok(!stderr.includes(password), `a password on stderr: ${stderr}`);
  return lines;
}

const RESYNC_CONNECTED = '{"type":"resync","reason":"connected"}';

/** Inserts `rows` rows into `table` in one transaction; ids from a counter so tests never collide. */
let nextId = 1;
async function insert(table: string, rows: number): Promise<void> {
  const first = nextId;
  nextId += rows;
  await sql(`INSERT INTO ${table} SELECT g FROM generate_series(${first}, ${first + rows - 1}) g`);
}

/** Asserts a --json batch line is exactly one table-level event for `payload` with `count`. */
function assertBatchLine(line: string, payload: string, count: number): void {
  const parsed = JSON.parse(line) as { type: string; events: { firstSeen: string }[] };
  assert.deepEqual(Object.keys(parsed), ['type', 'events']);
  assert.equal(parsed.events.length, 1, line);
  const firstSeen = parsed.events[0]?.firstSeen ?? '';
  assert.match(firstSeen, ISO_UTC);
  assert.equal(
    line,
    JSON.stringify({ type: 'batch', events: [{ payload, table: payload, key: null, count, firstSeen }] }),
  );
}

describe('pgnudge watch streams items', TEST, () => {
  for (const [signal, dsnKind] of [
    ['SIGINT', 'URL'],
    ['SIGTERM', 'key=value'],
  ] as const) {
    test(
      `--json (DSN as ${dsnKind}): exactly one object per line; ${signal} exits 0 and drops the slot`,
      TEST,
      async (t) => {
        const dsn = dsnKind === 'URL' ? urlDsn() : keyValueDsn();
        // A debounce well above scheduling noise, so the 50-row transaction is surely one batch.
        const cli = new Cli(t, ['watch', '--json', '--dsn', dsn, '--debounce', '200']);
        await cli.line((line) => line === RESYNC_CONNECTED, 'the Resync');
        assert.equal(cli.lines()[0], RESYNC_CONNECTED, 'the Resync is the first line');
        assert.equal((await slotsIn(info, db.name)).length, 1, 'one slot while watching');
        await insert('public.t', 50);
        const batch = await cli.line((line) => line.startsWith('{"type":"batch"'), 'a batch line', 1);
        assertBatchLine(batch, 'public.t', 50);

        cli.child.kill(signal);
        assert.equal(await cli.status(), 0, `exit status after ${signal}; stderr: ${cli.stderr}`);
        assert.deepEqual(cli.lines(), [RESYNC_CONNECTED, batch], 'nothing else on stdout');
        assert.ok(cli.stdout.endsWith('\n'));
        // Warnings may appear (wal2json missing: contract R15's fallback); lifecycle detail only with -v.
        assert.doesNotMatch(cli.stderr, / (INFO|DEBUG|TRACE) /, 'detail on stderr without -v');
        await waitFor(async () => (await slotsIn(info, db.name)).length === 0, {
          timeoutMs: 15_000,
          what: 'the temporary slot to disappear',
        });
      },
    );
  }

  test('--table limits the output to the named table', TEST, async (t) => {
    const cli = new Cli(t, [
      'watch',
      '--json',
      '--dsn',
      keyValueDsn(),
      '--table',
      'public.t',
      '--debounce',
      '100',
    ]);
    await cli.line((line) => line === RESYNC_CONNECTED, 'the Resync');
    await insert('public.other', 3);
    await insert('public.t', 2);
    const batch = await cli.line((line) => line.includes('"public.t"'), 'a batch for public.t', 1);
    assertBatchLine(batch, 'public.t', 2);
    assert.ok(!cli.stdout.includes('public.other'), `an unwatched table was printed: ${cli.stdout}`);
    cli.child.kill('SIGINT');
    assert.equal(await cli.status(), 0);
  });

  test(
    '--keys names each row: payload, table and key on every --json event (contract R22)',
    TEST,
    async (t) => {
      const cli = new Cli(t, [
        'watch',
        '--json',
        '--dsn',
        keyValueDsn(),
        '--table',
        'public.t',
        '--keys',
        '--debounce',
        '200',
      ]);
      await cli.line((line) => line === RESYNC_CONNECTED, 'the Resync');
      const first = nextId;
      await insert('public.t', 2);
      const batch = await cli.line((line) => line.includes('"public.t"'), 'a batch for public.t', 1);
      const parsed = JSON.parse(batch) as { events: { firstSeen: string }[] };
      assert.equal(
        batch,
        JSON.stringify({
          type: 'batch',
          events: [first, first + 1].map((id, i) => ({
            payload: `public.t:${id}`,
            table: 'public.t',
            key: [String(id)],
            count: 1,
            firstSeen: parsed.events[i]?.firstSeen,
          })),
        }),
      );
      cli.child.kill('SIGINT');
      assert.equal(await cli.status(), 0);
    },
  );

  test('the PG* variables are the connection when there is no --dsn', TEST, async (t) => {
    const role = info.roles.replication;
    const env: Record<string, string> = {
      PGHOST: info.host,
      PGPORT: String(info.port),
      PGUSER: role.user,
      PGPASSWORD: role.password,
      PGDATABASE: db.name,
      PGSSLMODE: info.caFile ? 'verify-full' : 'prefer',
    };
    if (info.caFile) env.PGSSLROOTCERT = info.caFile;
    const cli = new Cli(t, ['watch', '--json', '--debounce', '100'], env);
    await cli.line((line) => line === RESYNC_CONNECTED, 'the Resync');
    await insert('public.t', 4);
    assertBatchLine(await cli.line((line) => line.includes('"batch"'), 'a batch', 1), 'public.t', 4);
    if (info.caFile) {
      // The TLS settings really came from the environment: the session is encrypted.
      const rows = await runSql<{ ssl: boolean }>(
        info,
        `SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_replication r USING (pid) WHERE r.usename = '${role.user}' AND r.pid IN (SELECT active_pid FROM pg_replication_slots WHERE database = '${db.name}')`,
      );
      assert.deepEqual(rows, [{ ssl: true }]);
    }
    cli.child.kill('SIGTERM');
    assert.equal(await cli.status(), 0);
  });

  test('without --json: one readable line per item', TEST, async (t) => {
    const cli = new Cli(t, ['watch', '--dsn', keyValueDsn(), '--debounce', '100']);
    await cli.line((line) => / resync {2}connected \(/.test(line), 'the Resync line');
    await insert('public.t', 3);
    await cli.line((line) => / batch {3}public\.t ×3$/.test(line), 'the batch line', 1);
    cli.child.kill('SIGINT');
    assert.equal(await cli.status(), 0);
  });

  test('-v adds INFO lines on stderr, never on stdout', TEST, async (t) => {
    const cli = new Cli(t, ['watch', '--json', '-v', '--dsn', keyValueDsn(), '--debounce', '100']);
    await cli.line((line) => line === RESYNC_CONNECTED, 'the Resync');
    await waitFor(() => /INFO .*streaming from slot/.test(cli.stderr), {
      timeoutMs: 10_000,
      what: `INFO lines on stderr (have ${JSON.stringify(cli.stderr)})`,
    });
    assert.match(cli.stderr, /INFO .*connected to/);
    await insert('public.t', 1);
    await cli.line((line) => line.includes('"batch"'), 'a batch', 1);
    cli.child.kill('SIGINT');
    assert.equal(await cli.status(), 0);
    for (const line of cli.lines()) {
      assert.doesNotThrow(() => JSON.parse(line), `a stdout line that is not JSON: ${line}`);
    }
    assert.ok(!cli.stdout.includes('INFO'));
    for (const password of passwords()) assert.ok(!cli.stderr.includes(password), 'a password on stderr');
  });

  test(
    '-v: a status line on stderr while changes arrive and no batch is printed (contract R32)',
    TEST,
    async (t) => {
      // A batch that stays open for a minute: what it holds shows only in the status line.
      const args = ['--debounce', '30000', '--max-batch-wait', '60000', '--table', 'public.other'];
      const cli = new Cli(t, ['watch', '--json', '-v', '--dsn', keyValueDsn(), ...args]);
      await cli.line((line) => line === RESYNC_CONNECTED, 'the Resync');
      await insert('public.other', 3);
      await cli.logged(
        /INFO {2}pgnudge: receiving: 3 changes since the last item printed, \d[\d,]* per second; \d+\.\d MB received in all$/m,
        'the status line',
      );
      assert.equal(cli.lines().length, 1, 'no batch printed yet');
      cli.child.kill('SIGINT');
      assert.equal(await cli.status(), 0);
    },
  );
});

describe('pgnudge watch: contract R11 causes exit 1 with a plain cause and fix', TEST, () => {
  const causes: [string, () => string, RegExp, RegExp][] = [
    [
      'wrong password',
      () => keyValueDsn(info.roles.replication, { password: 'not-the-password' }),
      /password authentication failed/,
      /Check the user name and password/,
    ],
    [
      'role without REPLICATION',
      () => keyValueDsn(info.roles.login),
      /permission denied to start WAL sender|must be superuser or replication role/,
      /ALTER ROLE .* WITH REPLICATION/,
    ],
    [
      'unknown database',
      () => keyValueDsn(info.roles.replication, { dbname: 'no_such_db_for_cli' }),
      /database "no_such_db_for_cli" does not exist/,
      /Create the database/,
    ],
    [
      'cleartext password over plaintext',
      () => keyValueDsn(info.roles.cleartext, { sslmode: 'disable' }),
      /cleartext password over an unencrypted connection/,
      /Enable TLS/,
    ],
  ];
  for (const [name, dsn, cause, fix] of causes) {
    test(name, TEST, async (t) => {
      if (info.external && name.includes('cleartext'))
        return t.skip('external server: its pg_hba.conf is not ours');
      const { status, stdout, stderr } = await runToEnd(t, ['watch', '--json', '--dsn', dsn()]);
      assert.equal(status, 1, `exit status; stderr: ${stderr}`);
      assert.equal(stdout, '', 'nothing on stdout');
      const lines = assertPlainError(stderr);
      // Under --json the fatal error is one JSON line too (issue 21), after the warning about the
      // password in --dsn.
      const fatal = JSON.parse(lines.at(-1) ?? '') as { level: string; code: string; message: string };
      assert.equal(fatal.level, 'fatal');
      assert.match(fatal.code, /^PGNUDGE_ERR_[A-Z_]+$/);
      assert.match(fatal.message, cause);
      assert.match(fatal.message, fix);
      assert.ok(!stderr.includes('not-the-password'));
    });
  }
});

describe('pgnudge: usage errors exit 2, help exits 0', TEST, () => {
  const usage: [string, string[], RegExp][] = [
    ['an unknown flag', ['watch', '--frobnicate'], /Unknown option '--frobnicate'/],
    ['an unknown command', ['frobnicate'], /unknown command "frobnicate"/],
    ['a bad number', ['watch', '--debounce', 'soon'], /--debounce takes a whole number of milliseconds/],
    [
      'a bad plugin',
      ['watch', '--plugin', 'decoderbufs'],
      /--plugin must be .*pgoutput.*; got "decoderbufs"/,
    ],
    ['pgoutput without a publication', ['watch', '--plugin', 'pgoutput'], /'pgoutput' needs a publication/],
    ['a bad table name', ['watch', '--table', 'orders'], /needs a schema/],
    ['a bad DSN', ['watch', '--dsn', 'host=x sslmode=bogus'], /sslmode "bogus" is not one of/],
    ['an unknown DSN keyword', ['watch', '--dsn', 'host=x bogus=1'], /unknown connection parameter "bogus"/],
    [
      'inconsistent options',
      ['watch', '--status-interval', '60000'],
      /livenessTimeout \(30000\) must exceed statusInterval \(60000\)/,
    ],
  ];
  for (const [name, args, message] of usage) {
    test(name, TEST, async (t) => {
      const { status, stdout, stderr } = await runToEnd(t, args, { PGUSER: 'nobody', PGHOST: '127.0.0.1' });
      assert.equal(status, 2, `exit status; stderr: ${stderr}`);
      assert.equal(stdout, '');
      const lines = assertPlainError(stderr);
      assert.match(lines[0] ?? '', message);
      assert.match(lines[0] ?? '', /^pgnudge: /);
    });
  }

  for (const args of [['--help'], ['-h'], ['help'], ['watch', '--help'], ['help', 'watch']]) {
    test(`pgnudge ${args.join(' ')} prints help and exits 0`, TEST, async (t) => {
      const { status, stdout, stderr } = await runToEnd(t, args);
      assert.equal(status, 0);
      assert.equal(stderr, '');
      assert.match(stdout, args.includes('watch') ? /^Usage: pgnudge watch/ : /Usage: pgnudge <command>/m);
    });
  }

  test('pgnudge --version prints the package version', TEST, async (t) => {
    const { status, stdout } = await runToEnd(t, ['--version']);
    assert.equal(status, 0);
    assert.match(stdout, /^\d+\.\d+\.\d+\S*\n$/);
  });
});

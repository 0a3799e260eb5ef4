// `pgnudge doctor` against real servers (contract §5): the shared logical cluster (ready: exit 0, the plugin
// it would use, nothing left behind; --table names a missing table and where its name exists; a role
// without REPLICATION, a wrong password, a closed port: exit 1 with the cause and fix), and a dedicated
// wal_level=replica cluster without a `replication` line in pg_hba.conf (wal_level named, the physical
// session refused with the line to add, and with the role too, both; then doctor's own line added: a
// RawFeed is recommended, contract R27).
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type CliOutcome, runCli } from '../support/cli-process.js';
import { Cluster, type ClusterInfo, freePort, type Role, runSql } from '../support/cluster.js';
import { slotsIn } from '../support/feed-probe.js';
import { emptyHome, openLiveDatabase, type ScratchDatabase } from '../support/live-database.js';

let info: ClusterInfo;
let db: ScratchDatabase;
const home = emptyHome('doctor');
before(async () => {
  ({ info, db } = await openLiveDatabase('doctor'));
});
after(() => db?.drop());

/** Runs the built CLI's doctor to its end, with a deadline; no PG* variable of the runner leaks in. */
const doctor = (args: string[], env: Record<string, string> = {}): Promise<CliOutcome> =>
  runCli(['doctor', ...args], { home, env });

/** key=value DSN for `role` on `cluster` (verified TLS when the cluster has a CA), password apart. */
function dsn(cluster: ClusterInfo, role: Role, database: string, port = cluster.port): string {
  const tls = cluster.caFile ? ` sslmode=verify-full sslrootcert='${cluster.caFile}'` : ' sslmode=prefer';
  return `host=${cluster.host} port=${port} user=${role.user} dbname=${database}${tls}`;
}

interface JsonReport {
  ok: boolean;
  plugin: string | null;
  feed: string | null;
  platform: string;
  checks: { name: string; ok: boolean; detail: string; fix: string | null; skipped?: boolean }[];
}

function parseReport(outcome: CliOutcome): JsonReport {
  const lines = outcome.stdout.split('\n').filter(Boolean);
  assert.equal(lines.length, 1, `--json prints exactly one document: ${outcome.stdout}`);
  return JSON.parse(lines[0] as string) as JsonReport;
}

function checkOf(report: JsonReport, name: string) {
  const found = report.checks.find((c) => c.name === name);
  assert.ok(found, `check ${name} missing: ${JSON.stringify(report)}`);
  return found;
}

function assertNoStack(outcome: CliOutcome): void {
  assert.doesNotMatch(outcome.stdout + outcome.stderr, /\n\s+at .+:\d+:\d+/, 'no stack trace');
  assert.doesNotMatch(outcome.stdout + outcome.stderr, /unexpected failure/);
}

describe('pgnudge doctor on a logical cluster', { timeout: 120_000 }, () => {
  test('a REPLICATION role: exit 0, the JSON document, the plugin a feed would use, no slot left', async () => {
    const role = info.roles.replication;
    const outcome = await doctor(['--json', '--dsn', dsn(info, role, db.name)], {
      PGPASSWORD: role.password,
    });
    assertNoStack(outcome);
    assert.equal(outcome.code, 0, `${outcome.stdout}\n${outcome.stderr}`);
    const report = parseReport(outcome);
    assert.deepEqual(Object.keys(report), ['ok', 'plugin', 'feed', 'checks', 'platform']);
    assert.equal(report.ok, true);
    assert.equal(report.feed, 'WalFeed');
    assert.equal(report.platform, 'self-managed');
    const expected = info.plugins.includes('wal2json') ? 'wal2json' : 'test_decoding';
    if (info.major === 15 && !info.external) assert.equal(expected, 'wal2json', 'PostgreSQL 15 has wal2json');
    assert.equal(report.plugin, expected);
    for (const name of [
      'connection',
      'server_version',
      'replication',
      'wal_level',
      'replication_slots',
      'wal_senders',
      'plugin_test_decoding',
      'direct_connection',
    ]) {
      assert.equal(checkOf(report, name).ok, true, `${name}: ${checkOf(report, name).detail}`);
    }
    assert.equal(checkOf(report, 'plugin_wal2json').ok, expected === 'wal2json');
    if (expected !== 'wal2json') {
      assert.match(checkOf(report, 'plugin_wal2json').detail, /not installed/);
      assert.match(checkOf(report, 'plugin_wal2json').fix ?? '', /test_decoding/);
    }
    if (info.caFile)
      assert.match(checkOf(report, 'connection').detail, /over TLS, authenticated with SCRAM-SHA-256-PLUS/);
    for (const c of report.checks) assert.equal(typeof c.detail, 'string');
    // Temporary slots, dropped before exit: nothing of doctor's remains in this database.
    assert.deepEqual(await slotsIn(info, db.name), []);
    const mine = await runSql(
      info,
      `SELECT slot_name FROM pg_replication_slots WHERE NOT temporary OR active_pid IN (SELECT pid FROM pg_stat_activity WHERE usename = '${role.user}' AND application_name = 'pgnudge doctor')`,
    );
    assert.deepEqual(mine, []);
  });

  test('human output: ✓ lines, the verdict, and never the password', async () => {
    const role = info.roles.replication;
    const outcome = await doctor(['--dsn', `${dsn(info, role, db.name)} password=${role.password}`]);
    assertNoStack(outcome);
    assert.equal(outcome.code, 0, outcome.stdout);
    assert.match(outcome.stdout, /^✓ connection +connected to /m);
    assert.match(outcome.stdout, /^✓ wal_level +wal_level = logical$/m);
    assert.match(outcome.stdout, /^OK: a feed can run here, with (wal2json|test_decoding)\.$/m);
    assert.ok(!outcome.stdout.includes(role.password), 'the password is never printed');
    assert.deepEqual(await slotsIn(info, db.name), []);
  });

  test('--publication: a missing one fails with the key-only CREATE PUBLICATION; an existing one is described and read with pgoutput (contract R25)', async () => {
    const role = info.roles.replication;
    await runSql(
      info,
      `CREATE TABLE public.doc_orders (id int PRIMARY KEY, note text);
       CREATE TABLE public.doc_lines (order_id int, line int, note text, PRIMARY KEY (order_id, line));
       CREATE PUBLICATION doc_pub FOR TABLE public.doc_orders;`,
      db.name,
    );
    const run = (publication: string) =>
      doctor(
        [
          '--json',
          '--publication',
          publication,
          '--table',
          'public.doc_orders',
          '--table',
          'public.doc_lines',
          '--dsn',
          dsn(info, role, db.name),
        ],
        { PGPASSWORD: role.password },
      );
    const missing = await run('doc_missing');
    assertNoStack(missing);
    assert.equal(missing.code, 1, missing.stdout);
    const absent = checkOf(parseReport(missing), 'publication');
    assert.equal(absent.ok, false);
    assert.equal(
      absent.fix,
      "As the tables' owner:\nCREATE PUBLICATION doc_missing FOR TABLE public.doc_orders (id), public.doc_lines (order_id, line);",
    );
    const present = await run('doc_pub');
    assertNoStack(present);
    assert.equal(present.code, 0, present.stdout);
    const report = parseReport(present);
    assert.equal(report.plugin, 'pgoutput');
    assert.equal(checkOf(report, 'plugin_pgoutput').ok, true);
    const described = checkOf(report, 'publication') as {
      ok: boolean;
      detail: string;
      fix: string | null;
      warning?: boolean;
    };
    assert.equal(described.warning, true, 'doc_lines is watched but not covered');
    assert.match(
      described.detail,
      /^publication "doc_pub": FOR TABLE public\.doc_orders; publish_via_partition_root off\. .*does not cover "public\.doc_lines"/,
    );
    assert.equal(
      described.fix,
      'A key-only publication costs the server less per row; for these tables:\nCREATE PUBLICATION doc_pub_keys FOR TABLE public.doc_orders (id), public.doc_lines (order_id, line);',
    );
    assert.deepEqual(await slotsIn(info, db.name), []);
  });

  test('--table: a missing table fails the check (exit 1) with where its name exists; existing ones pass', async () => {
    await runSql(
      info,
      'CREATE TABLE IF NOT EXISTS public.orders (id int); CREATE SCHEMA IF NOT EXISTS app; CREATE TABLE IF NOT EXISTS app.nosuch (id int)',
      db.name,
    );
    const role = info.roles.replication;
    const connection = ['--dsn', dsn(info, role, db.name)];
    const env = { PGPASSWORD: role.password };
    const missing = await doctor(
      ['--json', ...connection, '--table', 'public.orders', '--table', 'public.nosuch'],
      env,
    );
    assertNoStack(missing);
    assert.equal(missing.code, 1, `${missing.stdout}\n${missing.stderr}`);
    const report = parseReport(missing);
    assert.equal(report.ok, false);
    assert.deepEqual(
      report.checks.filter((c) => !c.ok && !c.skipped && !c.name.startsWith('plugin_')).map((c) => c.name),
      ['tables'],
    );
    assert.equal(
      checkOf(report, 'tables').detail,
      'public.nosuch does not exist (yet): it wakes the feed once it is created; did you mean app.nosuch?',
    );
    const present = await doctor(['--json', ...connection, '--table', 'public.orders'], env);
    assert.equal(present.code, 0, `${present.stdout}\n${present.stderr}`);
    assert.deepEqual(checkOf(parseReport(present), 'tables'), {
      name: 'tables',
      ok: true,
      detail: 'public.orders: exists',
      fix: null,
    });
  });

  test('a role without REPLICATION: exit 1, naming REPLICATION with the ALTER ROLE fix', async () => {
    const role = info.roles.login;
    const outcome = await doctor(['--json', '--dsn', dsn(info, role, db.name)], {
      PGPASSWORD: role.password,
    });
    assertNoStack(outcome);
    assert.equal(outcome.code, 1, outcome.stdout);
    const report = parseReport(outcome);
    assert.equal(report.ok, false);
    assert.equal(report.plugin, null);
    const replication = checkOf(report, 'replication');
    assert.equal(replication.ok, false);
    assert.match(replication.detail, /neither REPLICATION nor SUPERUSER/);
    assert.match(replication.fix ?? '', new RegExp(`ALTER ROLE ${role.user} REPLICATION;`));
    // The ordinary session it fell back to still read the rest.
    assert.equal(checkOf(report, 'connection').ok, true);
    assert.equal(checkOf(report, 'wal_level').ok, true);
    assert.equal(checkOf(report, 'replication_slots').ok, true);
    assert.deepEqual(
      report.checks.filter((c) => !c.ok && !c.skipped).map((c) => c.name),
      ['replication', 'physical_replication'],
    );
    assert.equal(
      checkOf(report, 'physical_replication').fix,
      'Fix replication (above); then this check can pass.',
    );
    const human = await doctor(['--dsn', dsn(info, role, db.name)], { PGPASSWORD: role.password });
    assert.equal(human.code, 1);
    assert.match(human.stdout, /^✗ replication +role nudge_login has neither REPLICATION nor SUPERUSER/m);
    assert.match(human.stdout, /^ {6}ALTER ROLE nudge_login REPLICATION;$/m);
  });

  test('a wrong password: exit 1 with a clean message and its fix', async () => {
    const role = info.roles.replication;
    const outcome = await doctor(['--dsn', dsn(info, role, db.name)], { PGPASSWORD: 'not-the-password' });
    assertNoStack(outcome);
    assert.equal(outcome.code, 1, outcome.stdout);
    assert.match(outcome.stdout, /^✗ connection +password authentication failed for user "nudge_repl"$/m);
    assert.match(outcome.stdout, /PGPASSWORD/);
    assert.ok(!outcome.stdout.includes('not-the-password'));
    const json = parseReport(
      await doctor(['--json', '--dsn', dsn(info, role, db.name)], { PGPASSWORD: 'not-the-password' }),
    );
    assert.equal(json.ok, false);
    assert.deepEqual(
      json.checks.map((c) => [c.name, c.ok]),
      [['connection', false]],
    );
  });

  test('an unreachable port: exit 1, a failed connection check with a fix', async () => {
    const port = await freePort();
    const outcome = await doctor(['--json', '--dsn', dsn(info, info.roles.replication, db.name, port)], {
      PGPASSWORD: 'x',
    });
    assertNoStack(outcome);
    assert.equal(outcome.code, 1);
    const report = parseReport(outcome);
    const connection = checkOf(report, 'connection');
    assert.equal(connection.ok, false);
    assert.match(connection.detail, /ECONNREFUSED/);
    assert.match(connection.fix ?? '', /listen_addresses/);
  });

  test('a usage error exits 2', async () => {
    const outcome = await doctor(['--bogus']);
    assert.equal(outcome.code, 2);
    assert.match(outcome.stderr, /Unknown option '--bogus'; see pgnudge doctor --help/);
    assertNoStack(outcome);
  });
});

describe('pgnudge doctor on a wal_level=replica cluster', { timeout: 180_000 }, () => {
  let cluster: Cluster | undefined;
  let skip: string | undefined;
  before(async () => {
    if (info.external) {
      skip = 'needs a cluster of our own';
      return;
    }
    // Lines for ordinary and logical walsender sessions only: no `replication` line, so no physical session.
    cluster = await Cluster.start({
      major: info.major,
      walLevel: 'replica',
      hba: ['host      all          all            127.0.0.1/32   scram-sha-256'],
    });
  });
  after(() => cluster?.stop());

  test('a REPLICATION role: exit 1 naming wal_level with its fix; decoding is "blocked", not missing', async (t) => {
    if (skip || !cluster) return t.skip(skip);
    const role = cluster.info.roles.replication;
    const outcome = await doctor(['--json', '--dsn', dsn(cluster.info, role, 'postgres')], {
      PGPASSWORD: role.password,
    });
    assertNoStack(outcome);
    assert.equal(outcome.code, 1, outcome.stdout);
    const report = parseReport(outcome);
    assert.equal(report.ok, false);
    const walLevel = checkOf(report, 'wal_level');
    assert.equal(walLevel.ok, false);
    assert.match(walLevel.detail, /wal_level = replica/);
    assert.match(walLevel.fix ?? '', /ALTER SYSTEM SET wal_level = logical;/);
    assert.equal(checkOf(report, 'replication').ok, true);
    assert.match(checkOf(report, 'plugin_test_decoding').detail, /blocked: wal_level/);
    assert.equal(report.feed, null);
    const physical = checkOf(report, 'physical_replication');
    assert.equal(physical.ok, false);
    assert.match(physical.detail, /no pg_hba\.conf entry for replication connection/);
    assert.match(physical.fix ?? '', new RegExp(`host {2}replication {2}${role.user} {2}<client-ip>/32`));
    assert.deepEqual(await slotsIn(cluster.info, 'postgres'), []);
  });

  test('a role without REPLICATION as well: both are named', async (t) => {
    if (skip || !cluster) return t.skip(skip);
    const role = cluster.info.roles.login;
    const outcome = await doctor(['--dsn', dsn(cluster.info, role, 'postgres')], {
      PGPASSWORD: role.password,
    });
    assertNoStack(outcome);
    assert.equal(outcome.code, 1, outcome.stdout);
    assert.match(outcome.stdout, /^✗ replication +role nudge_login has neither REPLICATION nor SUPERUSER/m);
    assert.match(outcome.stdout, /^✗ wal_level +wal_level = replica/m);
    assert.match(outcome.stdout, /ALTER ROLE nudge_login REPLICATION;/);
    assert.match(outcome.stdout, /ALTER SYSTEM SET wal_level = logical;/);
  });

  test("doctor's own replication line makes a RawFeed possible: exit 0, RawFeed recommended", async (t) => {
    if (skip || !cluster) return t.skip(skip);
    const role = cluster.info.roles.replication;
    const run = () =>
      doctor(['--json', '--dsn', dsn((cluster as Cluster).info, role, 'postgres')], {
        PGPASSWORD: role.password,
      });
    const fix = checkOf(parseReport(await run()), 'physical_replication').fix ?? '';
    const line = /^ {2}(host .*)$/m.exec(fix)?.[1];
    assert.ok(line, `the fix names a line: ${fix}`);
    appendFileSync(join(cluster.dataDir, 'pg_hba.conf'), `${line.replace('<client-ip>', '127.0.0.1')}\n`);
    await cluster.sql('SELECT pg_reload_conf()');
    const outcome = await run();
    assert.equal(outcome.code, 0, outcome.stdout);
    const report = parseReport(outcome);
    assert.equal(report.feed, 'RawFeed');
    assert.equal(checkOf(report, 'physical_replication').ok, true);
    assert.equal(checkOf(report, 'wal_level').ok, false, 'the wal_level fix stays, for a WalFeed');
  });
});

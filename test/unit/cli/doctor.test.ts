// pgnudge doctor's pure core (contract §5): facts in, checks with platform-tuned fixes out, and the two
// output formats. The live side is test/live/doctor.test.ts.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { evaluateDoctor } from '../../../src/cli/doctor/checks.js';
import type {
  DoctorCheck,
  DoctorFacts,
  DoctorReport,
  Failure,
  Platform,
} from '../../../src/cli/doctor/facts.js';
import { platformFixes } from '../../../src/cli/doctor/fixes.js';
import { formatDoctorHuman, formatDoctorJson } from '../../../src/cli/doctor/format.js';
import { toFailure } from '../../../src/cli/doctor/gather.js';
import { detectPlatform } from '../../../src/cli/doctor/platform.js';
import { ConnectionError, ServerError } from '../../../src/errors.js';
import { quoteIdentifierIfNeeded } from '../../../src/protocol/quote.js';
import { repoPath } from '../../support/cluster.js';

/** A server where everything is right; each test breaks one thing. */
function facts(over: Partial<DoctorFacts> = {}): DoctorFacts {
  return {
    target: 'app@db.example.com:5432/shop',
    host: 'db.example.com',
    port: 5432,
    user: 'app',
    connection: { tls: true, authMethod: 'SCRAM-SHA-256-PLUS' },
    replicationSession: true,
    serverVersion: '17.2',
    serverVersionNum: 170002,
    versionString: 'PostgreSQL 17.2 on x86_64-pc-linux-gnu, compiled by gcc, 64-bit',
    rolReplication: true,
    rolSuper: false,
    platformRoles: [],
    memberOf: [],
    settings: { wal_level: 'logical', max_replication_slots: '10', max_wal_senders: '10' },
    auroraFunction: false,
    usedReplicationSlots: 2,
    usedWalSenders: 1,
    identifySystem: true,
    serverPort: 5432,
    plugins: { wal2json: { ok: true }, test_decoding: { ok: true } },
    ...over,
  };
}

function check(report: DoctorReport, name: string): DoctorCheck {
  const found = report.checks.find((c) => c.name === name);
  assert.ok(found, `no check named ${name} in ${report.checks.map((c) => c.name).join(', ')}`);
  return found;
}

function failed(report: DoctorReport): string[] {
  return report.checks.filter((c) => !c.ok && !c.skipped).map((c) => c.name);
}

const denied = (sqlState: string, message: string): Failure => ({
  code: 'PGNUDGE_ERR_REPLICATION_DENIED',
  sqlState,
  message,
});
const walLevelError: Failure = {
  code: 'PGNUDGE_ERR_WAL_LEVEL',
  sqlState: '55000',
  message: 'logical decoding requires "wal_level" >= "logical"',
};
const wal2jsonMissing: Failure = {
  code: 'PGNUDGE_ERR_PLUGIN_MISSING',
  sqlState: '58P01',
  message: 'could not access file "wal2json": No such file or directory',
};

describe('evaluateDoctor', () => {
  test('a healthy server: every check passes, in order, and wal2json is chosen', () => {
    const report = evaluateDoctor(facts({ physicalSession: true }));
    assert.equal(report.ok, true);
    assert.equal(report.plugin, 'wal2json');
    assert.equal(report.platform, 'self-managed');
    assert.deepEqual(
      report.checks.map((c) => c.name),
      [
        'connection',
        'server_version',
        'replication',
        'wal_level',
        'replication_slots',
        'wal_senders',
        'plugin_wal2json',
        'plugin_test_decoding',
        'direct_connection',
        'physical_replication',
      ],
    );
    for (const c of report.checks) {
      assert.equal(c.ok, true, `${c.name}: ${c.detail}`);
      assert.equal(c.fix, null);
    }
    assert.match(check(report, 'connection').detail, /over TLS, authenticated with SCRAM-SHA-256-PLUS/);
    assert.match(check(report, 'replication_slots').detail, /8 of max_replication_slots = 10 free/);
    assert.match(check(report, 'wal_senders').detail, /9 of max_wal_senders = 10 free/);
  });

  test('wal2json not installed but test_decoding works: still ok, with test_decoding', () => {
    const report = evaluateDoctor(
      facts({ plugins: { wal2json: { ok: false, failure: wal2jsonMissing }, test_decoding: { ok: true } } }),
    );
    assert.equal(report.ok, true);
    assert.equal(report.plugin, 'test_decoding');
    const w = check(report, 'plugin_wal2json');
    assert.equal(w.ok, false);
    assert.match(w.detail, /not installed/);
    assert.match(w.fix ?? '', /postgresql-<major>-wal2json/);
    assert.match(w.fix ?? '', /falls back to test_decoding/);
  });

  test('wal_level = replica: named with its fix, and the plugins are "blocked", not "not installed"', () => {
    const report = evaluateDoctor(
      facts({
        settings: { wal_level: 'replica', max_replication_slots: '10', max_wal_senders: '10' },
        plugins: {
          wal2json: { ok: false, failure: walLevelError },
          test_decoding: { ok: false, failure: walLevelError },
        },
      }),
    );
    assert.equal(report.ok, false);
    assert.equal(report.plugin, null);
    assert.deepEqual(failed(report), ['wal_level', 'plugin_wal2json', 'plugin_test_decoding']);
    const w = check(report, 'wal_level');
    assert.match(w.detail, /wal_level = replica/);
    assert.match(w.fix ?? '', /ALTER SYSTEM SET wal_level = logical;/);
    assert.match(w.fix ?? '', /restart/);
    for (const name of ['plugin_wal2json', 'plugin_test_decoding']) {
      assert.match(check(report, name).detail, /logical decoding is blocked: wal_level/);
      assert.equal(check(report, name).fix, 'Fix wal_level (above); then this check can pass.');
      assert.doesNotMatch(check(report, name).detail, /not installed/);
    }
  });

  test('a wal_level error with wal_level unreadable: the plugin check carries the full fix', () => {
    const report = evaluateDoctor(
      facts({
        settings: { max_replication_slots: '10', max_wal_senders: '10' },
        plugins: {
          wal2json: { ok: false, failure: walLevelError },
          test_decoding: { ok: false, failure: walLevelError },
        },
      }),
    );
    assert.equal(check(report, 'wal_level').skipped, true);
    assert.match(check(report, 'plugin_test_decoding').fix ?? '', /ALTER SYSTEM SET wal_level = logical;/);
  });

  test('wal2json missing and decoding blocked: each plugin gets its own cause', () => {
    const report = evaluateDoctor(
      facts({
        settings: { wal_level: 'replica', max_replication_slots: '10', max_wal_senders: '10' },
        plugins: {
          wal2json: { ok: false, failure: wal2jsonMissing },
          test_decoding: { ok: false, failure: walLevelError },
        },
      }),
    );
    assert.match(check(report, 'plugin_wal2json').detail, /not installed/);
    assert.match(check(report, 'plugin_test_decoding').detail, /blocked/);
  });

  test('no free slot blocks decoding: the fix raises max_replication_slots', () => {
    const full: Failure = {
      code: 'PGNUDGE_ERR_SERVER',
      sqlState: '53400',
      message: 'all replication slots are in use',
    };
    const report = evaluateDoctor(
      facts({
        usedReplicationSlots: 10,
        plugins: { wal2json: { ok: false, failure: full }, test_decoding: { ok: false, failure: full } },
      }),
    );
    assert.equal(report.ok, false);
    assert.deepEqual(failed(report), ['replication_slots', 'plugin_wal2json', 'plugin_test_decoding']);
    assert.match(
      check(report, 'replication_slots').fix ?? '',
      /ALTER SYSTEM SET max_replication_slots = <n>;/,
    );
    assert.match(check(report, 'replication_slots').fix ?? '', /pg_drop_replication_slot/);
    assert.match(check(report, 'plugin_wal2json').detail, /no free replication slot/);
  });

  test('a slot that waits on a long transaction is named, with how to find it', () => {
    const report = evaluateDoctor(
      facts({
        plugins: {
          wal2json: {
            ok: false,
            failure: { timedOut: true, message: 'creating a slot waited more than 30000 ms' },
          },
        },
        probeAbort: 'not probed: the previous probe timed out',
      }),
    );
    assert.equal(report.ok, false);
    assert.match(check(report, 'plugin_wal2json').fix ?? '', /pg_stat_activity/);
    assert.equal(check(report, 'plugin_test_decoding').skipped, true);
  });

  test('a role without REPLICATION: named, with the ALTER ROLE fix; plugins could not be probed', () => {
    const report = evaluateDoctor(
      facts({
        user: 'nudge_login',
        replicationSession: false,
        replicationStartupError: denied('42501', 'permission denied to start WAL sender'),
        rolReplication: false,
        identifySystem: false,
        plugins: {},
      }),
    );
    assert.equal(report.ok, false);
    assert.equal(report.plugin, null);
    assert.deepEqual(failed(report), ['replication']);
    const r = check(report, 'replication');
    assert.match(r.detail, /role nudge_login has neither REPLICATION nor SUPERUSER/);
    assert.match(r.fix ?? '', /ALTER ROLE nudge_login REPLICATION;/);
    assert.equal(check(report, 'plugin_wal2json').skipped, true);
    assert.match(check(report, 'plugin_wal2json').detail, /needs a replication session/);
    assert.equal(check(report, 'direct_connection').skipped, true);
  });

  test('REPLICATION and wal_level both wrong: both are named', () => {
    const report = evaluateDoctor(
      facts({
        replicationSession: false,
        replicationStartupError: denied('42501', 'permission denied to start WAL sender'),
        rolReplication: false,
        settings: { wal_level: 'replica', max_replication_slots: '10', max_wal_senders: '10' },
        plugins: {},
      }),
    );
    assert.deepEqual(failed(report), ['replication', 'wal_level']);
  });

  test('REPLICATION granted but the walsender refused by pg_hba.conf: the fix is the database line, not the replication keyword (issue 21)', () => {
    const report = evaluateDoctor(
      facts({
        replicationSession: false,
        replicationStartupError: denied(
          '28000',
          'no pg_hba.conf entry for replication connection from host "10.0.0.5", user "app", no encryption',
        ),
        rolReplication: true,
        plugins: {},
      }),
    );
    const r = check(report, 'replication');
    assert.equal(r.ok, false);
    assert.match(r.fix ?? '', /host {2}<database> {2}app {2}<client-ip>\/32 {2}scram-sha-256/);
    assert.match(r.fix ?? '', /the "replication" keyword is for physical\nreplication only/);
    assert.doesNotMatch(r.fix ?? '', /host {2}replication/);
    assert.match(r.fix ?? '', /pg_reload_conf/);
  });

  test('on RDS, membership of rds_replication is what counts', () => {
    const report = evaluateDoctor(
      facts({
        host: 'mydb.abc123.eu-west-1.rds.amazonaws.com',
        rolReplication: false,
        platformRoles: ['rds_replication', 'rds_superuser'],
        memberOf: ['rds_replication'],
      }),
    );
    assert.equal(report.platform, 'rds');
    assert.equal(report.ok, true);
    assert.match(check(report, 'replication').detail, /member of rds_replication/);
  });

  test('too many WAL senders at startup: wal_senders fails, the role is not blamed', () => {
    const report = evaluateDoctor(
      facts({
        replicationSession: false,
        replicationStartupError: {
          code: 'PGNUDGE_ERR_SERVER',
          sqlState: '53300',
          message: 'number of requested standby connections exceeds "max_wal_senders" (currently 10)',
        },
        plugins: {},
      }),
    );
    assert.deepEqual(failed(report), ['wal_senders']);
    assert.match(check(report, 'wal_senders').fix ?? '', /max_wal_senders/);
    assert.equal(check(report, 'replication').ok, true);
  });

  test('a pooler that refuses replication startup fails direct_connection', () => {
    const report = evaluateDoctor(
      facts({
        port: 6432,
        replicationSession: false,
        replicationStartupError: {
          code: 'PGNUDGE_ERR_SERVER',
          sqlState: '08P01',
          message: 'unsupported startup parameter: replication',
        },
        plugins: {},
      }),
    );
    assert.equal(report.ok, false);
    assert.deepEqual(failed(report), ['direct_connection']);
    assert.match(check(report, 'direct_connection').fix ?? '', /not PgBouncer/);
  });

  test("a pooler's host name is named even when the role cannot replicate", () => {
    const report = evaluateDoctor(
      facts({
        host: 'aws-0-eu-central-1.pooler.supabase.com',
        port: 6543,
        replicationSession: false,
        replicationStartupError: denied('42501', 'permission denied to start WAL sender'),
        rolReplication: false,
        platformRoles: ['supabase_admin'],
        plugins: {},
      }),
    );
    assert.equal(report.platform, 'supabase');
    const d = check(report, 'direct_connection');
    assert.equal(d.ok, false);
    assert.match(d.detail, /Supabase's connection pooler/);
    assert.match(d.fix ?? '', /db\.<project-ref>\.supabase\.co:5432/);
  });

  test('a replication session through a port mapping passes, and says so', () => {
    const report = evaluateDoctor(facts({ port: 15432 }));
    assert.equal(check(report, 'direct_connection').ok, true);
    assert.match(check(report, 'direct_connection').detail, /listens on port 5432, you connected to 15432/);
  });

  test('PostgreSQL 14 is too old', () => {
    const report = evaluateDoctor(facts({ serverVersion: '14.11', serverVersionNum: 140011 }));
    assert.equal(report.ok, false);
    assert.match(check(report, 'server_version').detail, /14\.11 is older than 15/);
    assert.match(check(report, 'server_version').fix ?? '', /pg_upgrade/);
  });

  test('a connection failure is the only check, with a fix for its cause', () => {
    const cases: [Failure, RegExp][] = [
      [
        {
          code: 'PGNUDGE_ERR_AUTH_FAILED',
          sqlState: '28P01',
          message: 'password authentication failed for user "app"',
        },
        /PGPASSWORD/,
      ],
      [
        {
          code: 'PGNUDGE_ERR_AUTH_FAILED',
          sqlState: '28000',
          message: 'no pg_hba.conf entry for host "10.0.0.5"',
        },
        /host {2}all {2}app {2}<client-ip>\/32 {2}scram-sha-256/,
      ],
      [
        { code: 'PGNUDGE_ERR_CONNECTION', message: 'cannot connect to db.example.com:5432: ECONNREFUSED' },
        /listen_addresses/,
      ],
      [{ code: 'PGNUDGE_ERR_CONNECT_TIMEOUT', message: 'took longer than 10000 ms' }, /firewall/],
      [{ code: 'PGNUDGE_ERR_AUTH_INSECURE', message: 'refused to send an MD5 password' }, /scram-sha-256/],
      [{ code: 'PGNUDGE_ERR_TLS', message: 'certificate verify failed' }, /sslrootcert/],
      [{ code: 'PGNUDGE_ERR_UNKNOWN_DATABASE', message: 'database "shop" does not exist' }, /PGDATABASE/],
    ];
    for (const [connectionError, fix] of cases) {
      const base = facts();
      delete base.connection;
      const report = evaluateDoctor({ ...base, connectionError, replicationSession: false });
      assert.equal(report.ok, false);
      assert.equal(report.checks.length, 1);
      const c = check(report, 'connection');
      assert.equal(c.detail, connectionError.message);
      assert.match(c.fix ?? '', fix, connectionError.code);
    }
  });
});

describe('detectPlatform', () => {
  const cases: [string, Partial<DoctorFacts>, Platform][] = [
    ['rds.* settings', { settings: { 'rds.logical_replication': 'off' } }, 'rds'],
    ['the rds_superuser role', { platformRoles: ['rds_superuser'] }, 'rds'],
    ['an RDS host name', { host: 'db1.c9akciq32.us-east-1.rds.amazonaws.com' }, 'rds'],
    ['aurora_version()', { auroraFunction: true, platformRoles: ['rds_superuser'] }, 'aurora'],
    ['an Aurora cluster endpoint', { host: 'shop.cluster-c9akciq32.us-east-1.rds.amazonaws.com' }, 'aurora'],
    ['azure.* settings', { settings: { 'azure.extensions': '' } }, 'azure'],
    ['an Azure host name', { host: 'shop.postgres.database.azure.com' }, 'azure'],
    ['cloudsql.* settings', { settings: { 'cloudsql.logical_decoding': 'off' } }, 'cloudsql'],
    ['the cloudsqlsuperuser role', { platformRoles: ['cloudsqlsuperuser'] }, 'cloudsql'],
    ['the supabase_admin role', { platformRoles: ['supabase_admin'] }, 'supabase'],
    ['a Supabase host name', { host: 'db.abcdefgh.supabase.co' }, 'supabase'],
    ['neon.* settings', { settings: { 'neon.timeline_id': 'x' } }, 'neon'],
    ['a Neon host name', { host: 'ep-cool-darkness-123456.us-east-2.aws.neon.tech' }, 'neon'],
    ['nothing special', {}, 'self-managed'],
  ];
  for (const [what, over, platform] of cases) {
    test(`${what} → ${platform}`, () => {
      assert.equal(detectPlatform(facts(over)), platform);
    });
  }
});

describe('platform fixes', () => {
  const expected: Record<Platform, { walLevel: RegExp[]; replication: RegExp }> = {
    rds: {
      walLevel: [/rds\.logical_replication/, /aws rds modify-db-parameter-group/, /reboot-db-instance/],
      replication: /GRANT rds_replication TO app;/,
    },
    aurora: {
      walLevel: [/modify-db-cluster-parameter-group/, /rds\.logical_replication/, /reboot/],
      replication: /GRANT rds_replication TO app;/,
    },
    azure: {
      walLevel: [
        /az postgres flexible-server parameter set .*\n?.*--name wal_level --value logical/,
        /az postgres flexible-server restart/,
      ],
      replication: /ALTER ROLE app WITH REPLICATION;/,
    },
    cloudsql: {
      walLevel: [/gcloud sql instances patch <instance> --database-flags=cloudsql\.logical_decoding=on/],
      replication: /ALTER USER app WITH REPLICATION;/,
    },
    supabase: { walLevel: [/wal_level = logical/], replication: /ALTER ROLE app WITH REPLICATION;/ },
    neon: { walLevel: [/Logical Replication → Enable/], replication: /ALTER ROLE app WITH REPLICATION;/ },
    'self-managed': {
      walLevel: [/ALTER SYSTEM SET wal_level = logical;/, /restart/],
      replication: /ALTER ROLE app REPLICATION;/,
    },
  };
  for (const [platform, want] of Object.entries(expected) as [Platform, (typeof expected)[Platform]][]) {
    test(`${platform}: wal_level, REPLICATION, slots, senders, wal2json, direct`, () => {
      const fixes = platformFixes(platform, 'app');
      for (const pattern of want.walLevel) assert.match(fixes.walLevel(), pattern);
      assert.match(fixes.replication(), want.replication);
      assert.match(fixes.maxSetting('max_replication_slots'), /max_replication_slots/);
      assert.match(fixes.maxSetting('max_wal_senders'), /max_wal_senders/);
      assert.match(fixes.wal2json(false), /test_decoding/);
      assert.match(fixes.untrustedPlugin('wal2json', true), /output_plugin_libraries/);
      assert.match(fixes.direct(), /pooler/);
      assert.match(fixes.version(), /15 or later/);
    });
  }

  test('a role name that needs quoting is quoted in every fix', () => {
    assert.equal(quoteIdentifierIfNeeded('app'), 'app');
    assert.equal(quoteIdentifierIfNeeded('App User'), '"App User"');
    assert.equal(quoteIdentifierIfNeeded('we"ird'), '"we""ird"');
    assert.match(
      platformFixes('self-managed', 'App User').replication(),
      /ALTER ROLE "App User" REPLICATION;/,
    );
    assert.match(platformFixes('rds', 'App').replication(), /GRANT rds_replication TO "App";/);
  });
});

describe('output', () => {
  test('--json is one document: ok, plugin, checks of {name, ok, detail, fix}, platform', () => {
    const report = evaluateDoctor(
      facts({
        replicationSession: false,
        replicationStartupError: denied('42501', 'permission denied to start WAL sender'),
        rolReplication: false,
        plugins: {},
      }),
    );
    const text = formatDoctorJson(report);
    assert.doesNotMatch(text, /\n/);
    const doc = JSON.parse(text);
    assert.deepEqual(Object.keys(doc), ['ok', 'plugin', 'feed', 'checks', 'platform']);
    assert.equal(doc.ok, false);
    assert.equal(doc.plugin, null);
    assert.equal(doc.platform, 'self-managed');
    for (const c of doc.checks) {
      assert.deepEqual(Object.keys(c).slice(0, 4), ['name', 'ok', 'detail', 'fix']);
      assert.equal(typeof c.ok, 'boolean');
      assert.equal(typeof c.detail, 'string');
      assert.ok(c.fix === null || typeof c.fix === 'string');
    }
    const skipped = doc.checks.find((c: { name: string }) => c.name === 'plugin_wal2json');
    assert.equal(skipped.skipped, true);
  });

  test('human output: ✓ and ✗ lines, the fix indented under the failure, and a verdict', () => {
    const text = formatDoctorHuman(
      evaluateDoctor(
        facts({ settings: { wal_level: 'replica', max_replication_slots: '10', max_wal_senders: '10' } }),
      ),
    );
    const lines = text.split('\n');
    assert.match(
      lines[0] ?? '',
      /^pgnudge doctor: app@db\.example\.com:5432\/shop \(self-managed PostgreSQL\)$/,
    );
    assert.ok(lines.some((line) => /^✓ connection {2,}connected to/.test(line)));
    const index = lines.findIndex((line) => line.startsWith('✗ wal_level'));
    assert.ok(index > 0, text);
    assert.match(lines[index + 1] ?? '', /^ {4}As a superuser:/);
    assert.match(lines[index + 2] ?? '', /^ {4} {2}ALTER SYSTEM SET wal_level = logical;/);
    assert.match(lines[lines.length - 1] ?? '', /^NOT READY/);
  });

  test('human output says which plugin a ready server will use', () => {
    assert.match(formatDoctorHuman(evaluateDoctor(facts())), /OK: a feed can run here, with wal2json\.$/);
  });
});

describe('error codes', () => {
  test('a failure carries only codes docs/errors.md documents; a foreign error or a timeout carries none', () => {
    const documented = new Set(
      [...readFileSync(repoPath('docs/errors.md'), 'utf8').matchAll(/^\| `(PGNUDGE_ERR_[A-Z_]+)` \|/gm)].map(
        (match) => match[1],
      ),
    );
    assert.ok(documented.size >= 18, `docs/errors.md documents ${documented.size} codes`);
    const failures = [
      toFailure(new ConnectionError('PGNUDGE_ERR_CONNECT_TIMEOUT', 'took too long')),
      toFailure(
        new ServerError(
          { severity: 'FATAL', sqlState: '3D000', message: 'no db' },
          { code: 'PGNUDGE_ERR_UNKNOWN_DATABASE' },
        ),
      ),
      toFailure(new TypeError('a bug')),
      toFailure('thrown text'),
    ];
    for (const failure of failures) {
      if (failure.code !== undefined) assert.ok(documented.has(failure.code), failure.code);
    }
    assert.deepEqual(
      failures.map((failure) => failure.code),
      ['PGNUDGE_ERR_CONNECT_TIMEOUT', 'PGNUDGE_ERR_UNKNOWN_DATABASE', undefined, undefined],
    );
    // Every code the doctor sources write down (facts they build, codes they branch on) is documented.
    const dir = repoPath('src/cli/doctor');
    for (const file of readdirSync(dir)) {
      const text = readFileSync(join(dir, file), 'utf8');
      for (const [, code] of text.matchAll(/(?:code: |case |code === )'([A-Z_]+)'/g)) {
        assert.ok(documented.has(code), `src/cli/doctor/${file} uses the undocumented code ${code}`);
      }
    }
  });
});

describe('evaluateDoctor on a hot standby (contract R26)', () => {
  const standby = (over: Partial<DoctorFacts> = {}) =>
    facts({
      inRecovery: true,
      settings: {
        wal_level: 'logical',
        max_replication_slots: '10',
        max_wal_senders: '10',
        hot_standby_feedback: 'on',
        primary_slot_name: 'standby_1',
      },
      ...over,
    });

  test('a ready standby passes, after wal_level, and says what creating a slot waits for', () => {
    const report = evaluateDoctor(standby());
    assert.equal(report.ok, true);
    const names = report.checks.map((c) => c.name);
    assert.equal(names.indexOf('standby'), names.indexOf('wal_level') + 1);
    assert.match(
      check(report, 'standby').detail,
      /^a hot standby of PostgreSQL 17\.2: hot_standby_feedback = on; the primary's wal_level is logical \(a slot was created here\); creating a slot here waits .*pg_log_standby_snapshot/,
    );
  });

  test('a primary gets no standby check', () => {
    assert.ok(!evaluateDoctor(facts({ inRecovery: false })).checks.some((c) => c.name === 'standby'));
  });

  test('hot_standby_feedback off: failed, with the platform’s way to turn it on', () => {
    const settings = {
      wal_level: 'logical',
      max_replication_slots: '10',
      max_wal_senders: '10',
      hot_standby_feedback: 'off',
    };
    const self = evaluateDoctor(standby({ settings }));
    assert.equal(self.ok, false);
    assert.match(check(self, 'standby').detail, /hot_standby_feedback = off: the primary may vacuum away/);
    assert.match(check(self, 'standby').fix ?? '', /ALTER SYSTEM SET hot_standby_feedback = on;/);
    const rds = evaluateDoctor(standby({ settings: { ...settings, 'rds.logical_replication': 'on' } }));
    assert.match(check(rds, 'standby').fix ?? '', /ParameterName=hot_standby_feedback,ParameterValue=1/);
    const cloudsql = evaluateDoctor(
      standby({ settings: { ...settings, 'cloudsql.logical_decoding': 'on' } }),
    );
    assert.match(check(cloudsql, 'standby').fix ?? '', /--database-flags=hot_standby_feedback=on/);
  });

  test("the primary's wal_level, told by the probe's error, is fixed on the primary, not here", () => {
    const onPrimary: Failure = {
      code: 'PGNUDGE_ERR_WAL_LEVEL',
      sqlState: '55000',
      message: 'logical decoding on standby requires "wal_level" >= "logical" on the primary',
    };
    const report = evaluateDoctor(
      standby({
        plugins: {
          wal2json: { ok: false, failure: onPrimary },
          test_decoding: { ok: false, failure: onPrimary },
        },
      }),
    );
    assert.equal(report.ok, false);
    assert.match(check(report, 'standby').detail, /its primary's wal_level is not logical/);
    assert.match(
      check(report, 'standby').fix ?? '',
      /On the primary, as a superuser .*\n {2}ALTER SYSTEM SET wal_level = logical;/,
    );
    assert.match(check(report, 'plugin_test_decoding').detail, /the primary's wal_level is not logical/);
    assert.equal(check(report, 'plugin_test_decoding').fix, 'Fix standby (above); then this check can pass.');
  });

  test('a standby of PostgreSQL 15 cannot decode; an Aurora replica never can', () => {
    const old = evaluateDoctor(standby({ serverVersion: '15.8', serverVersionNum: 150008 }));
    assert.match(check(old, 'standby').detail, /needs 16 or later/);
    assert.match(check(old, 'standby').fix ?? '', /connect the feed to the primary/);
    const aurora = evaluateDoctor(standby({ auroraFunction: true }));
    assert.equal(aurora.platform, 'aurora');
    assert.match(
      check(aurora, 'standby').fix ?? '',
      /Aurora PostgreSQL does not support logical decoding on its reader/,
    );
  });

  test('a probe that timed out on a standby points at the primary’s running-transactions record', () => {
    const timedOut: Failure = {
      timedOut: true,
      message:
        'creating a slot waited more than 30000 ms: a long-running transaction keeps logical decoding from starting',
    };
    const report = evaluateDoctor(
      standby({
        plugins: { wal2json: { ok: false, failure: timedOut } },
        probeAbort: 'not probed: the previous probe timed out',
      }),
    );
    assert.match(
      check(report, 'plugin_wal2json').fix ?? '',
      /^On the primary: SELECT pg_log_standby_snapshot\(\);/,
    );
  });
});

describe('evaluateDoctor with --publication (contract R25)', () => {
  const orders = { schema: 'public', table: 'orders' };
  const keys = [{ table: orders, exists: true, identity: 'd' as const, columns: ['id'] }];
  const publication = (over: Partial<NonNullable<DoctorFacts['publication']>> = {}) => ({
    name: 'app',
    facts: { name: 'app', allTables: false, viaRoot: false, unpublished: [], rowFilters: 0 },
    tables: [{ table: orders, columns: ['id'], rowFilter: false }],
    schemas: [],
    coverage: [{ table: orders, exists: true, covered: true }],
    keys,
    ...over,
  });

  test('an existing key-only publication: pgoutput is probed and chosen, and the publication described', () => {
    const report = evaluateDoctor(facts({ publication: publication(), plugins: { pgoutput: { ok: true } } }));
    assert.equal(report.ok, true);
    assert.equal(report.plugin, 'pgoutput');
    assert.deepEqual(report.checks.map((c) => c.name).slice(-4), [
      'plugin_pgoutput',
      'publication',
      'direct_connection',
      'physical_replication',
    ]);
    assert.equal(
      check(report, 'publication').detail,
      'publication "app": FOR TABLE public.orders (id); publish_via_partition_root off',
    );
  });

  test('a missing publication fails with the key-only CREATE PUBLICATION to run', () => {
    const report = evaluateDoctor(
      facts({ publication: publication({ facts: null }), plugins: { pgoutput: { ok: true } } }),
    );
    assert.equal(report.ok, false);
    assert.match(
      check(report, 'publication').detail,
      /does not exist in this database; pgnudge never creates one/,
    );
    assert.equal(
      check(report, 'publication').fix,
      "As the tables' owner:\nCREATE PUBLICATION app FOR TABLE public.orders (id);",
    );
  });

  test('a missing publication fails the report even where a RawFeed could run instead', () => {
    const report = evaluateDoctor(
      facts({
        publication: publication({ facts: null }),
        plugins: { pgoutput: { ok: true } },
        physicalSession: true,
      }),
    );
    assert.equal(report.rawFeed, true);
    assert.equal(report.ok, false);
  });

  test('whole rows: passes, with the key-only form suggested', () => {
    const report = evaluateDoctor(
      facts({
        publication: publication({
          facts: { name: 'app', allTables: true, viaRoot: true, unpublished: [], rowFilters: 0 },
          tables: [],
        }),
        plugins: { pgoutput: { ok: true } },
      }),
    );
    assert.equal(report.ok, true);
    assert.match(
      check(report, 'publication').detail,
      /^publication "app": FOR ALL TABLES; publish_via_partition_root on\. A key-only publication costs the server less per row; for these tables: CREATE PUBLICATION app_keys FOR TABLE public\.orders \(id\);$/,
    );
  });

  test('what it hides is a warning (!): the feed runs but misses it', () => {
    const report = evaluateDoctor(
      facts({
        publication: publication({
          facts: { name: 'app', allTables: false, viaRoot: false, unpublished: ['truncate'], rowFilters: 0 },
          coverage: [{ table: orders, exists: true, covered: false }],
          tables: [],
        }),
        plugins: { pgoutput: { ok: true } },
      }),
    );
    assert.equal(report.ok, true);
    const warning = check(report, 'publication');
    assert.equal(warning.ok, false);
    assert.equal(warning.warning, true);
    assert.match(warning.detail, /does not publish truncate.*does not cover "public\.orders"/);
    assert.match(formatDoctorHuman(report), /^! publication/m);
    assert.match(
      formatDoctorHuman(report),
      /OK: a feed can run here, with pgoutput, but it will miss what the checks under ! say\./,
    );
    assert.match(formatDoctorJson(report), /"name":"publication","ok":false,.*"warning":true/);
  });
});

describe('--table: the tables check (issue 21)', () => {
  const orders = { schema: 'public', table: 'orders' };
  const nosuch = { schema: 'public', table: 'nosuch' };

  test('without --table there is no tables check', () => {
    assert.ok(!evaluateDoctor(facts()).checks.some((c) => c.name === 'tables'));
  });

  test('every table exists: passes, naming them', () => {
    const report = evaluateDoctor(facts({ tables: { asked: [orders], missing: [] } }));
    assert.equal(report.ok, true);
    assert.deepEqual(check(report, 'tables'), {
      name: 'tables',
      ok: true,
      detail: 'public.orders: exists',
      fix: null,
    });
  });

  test('a missing table fails the check (exit 1), with the schemas where its name exists', () => {
    const report = evaluateDoctor(
      facts({
        tables: {
          asked: [orders, nosuch],
          missing: [{ table: nosuch, kind: undefined, near: [{ schema: 'app', table: 'nosuch' }] }],
        },
      }),
    );
    assert.equal(report.ok, false);
    assert.deepEqual(failed(report), ['tables']);
    const tables = check(report, 'tables');
    assert.equal(
      tables.detail,
      'public.nosuch does not exist (yet): it wakes the feed once it is created; did you mean app.nosuch?',
    );
    assert.match(tables.fix ?? '', /quoted as in SQL .*\n.*--table '"My Schema"\."Orders"'/);
  });

  test('a lookup that failed is skipped, not failed', () => {
    const report = evaluateDoctor(facts({ tables: { asked: [orders], error: 'permission denied' } }));
    assert.equal(report.ok, true);
    assert.equal(check(report, 'tables').skipped, true);
  });
});

/** A host name that fingerprints each managed platform. */
function platformFacts(platform: Exclude<Platform, 'self-managed' | 'aurora'>): Partial<DoctorFacts> {
  const hosts = {
    rds: 'db1.c9akciq32.us-east-1.rds.amazonaws.com',
    azure: 'shop.postgres.database.azure.com',
    cloudsql: 'db.example.com',
    supabase: 'db.abcdefgh.supabase.co',
    neon: 'ep-cool-darkness-123456.us-east-2.aws.neon.tech',
  };
  return platform === 'cloudsql' ? { platformRoles: ['cloudsqlsuperuser'] } : { host: hosts[platform] };
}

describe('WalFeed or RawFeed (contract R27)', () => {
  const replica = {
    settings: { wal_level: 'replica', max_replication_slots: '10', max_wal_senders: '10' },
    plugins: {
      wal2json: { ok: false, failure: walLevelError },
      test_decoding: { ok: false, failure: walLevelError },
    },
  } as const;
  const hbaRefusal = denied(
    '28000',
    'no pg_hba.conf entry for replication connection from host "10.0.0.5", user "app", SSL encryption',
  );

  test('wal_level = replica with a physical session: RawFeed is recommended, and the wal_level fix still shown', () => {
    const report = evaluateDoctor(facts({ ...replica, physicalSession: true }));
    assert.equal(report.ok, true);
    assert.equal(report.feed, 'RawFeed');
    assert.equal(report.plugin, null);
    assert.deepEqual(failed(report), ['wal_level', 'plugin_wal2json', 'plugin_test_decoding']);
    assert.match(check(report, 'physical_replication').detail, /pgnudge watch --physical/);
    const human = formatDoctorHuman(report);
    assert.match(human, /^OK: a RawFeed can run here: pgnudge watch --physical/m);
    assert.match(human, /WAL crosses the network/);
    assert.equal(JSON.parse(formatDoctorJson(report)).feed, 'RawFeed');
  });

  test('both can run: WalFeed first (only the changes cross the network), RawFeed named as possible', () => {
    const report = evaluateDoctor(facts({ physicalSession: true }));
    assert.equal(report.feed, 'WalFeed');
    assert.equal(report.rawFeed, true);
    assert.match(formatDoctorHuman(report), /A RawFeed \(pgnudge watch --physical\) can run here too/);
  });

  test('a physical session refused by pg_hba.conf: the replication line to add (self-managed)', () => {
    const report = evaluateDoctor(
      facts({ ...replica, physicalSession: false, physicalStartupError: hbaRefusal }),
    );
    assert.equal(report.ok, false);
    assert.equal(report.feed, null);
    const physical = check(report, 'physical_replication');
    assert.equal(physical.ok, false);
    assert.match(physical.detail, /no pg_hba\.conf entry for replication connection/);
    assert.match(physical.fix ?? '', /^ {2}host {2}replication {2}app {2}<client-ip>\/32 {2}scram-sha-256$/m);
    assert.match(physical.fix ?? '', /"all" does not cover it/);
    assert.match(formatDoctorHuman(report), /^NOT READY/m);
  });

  test('a managed platform: physical replication is not offered, so the fix points to WalFeed', () => {
    for (const platform of ['rds', 'azure', 'cloudsql', 'supabase', 'neon'] as const) {
      const report = evaluateDoctor(
        facts({
          ...replica,
          ...platformFacts(platform),
          physicalSession: false,
          physicalStartupError: hbaRefusal,
        }),
      );
      assert.equal(report.platform, platform);
      const fix = check(report, 'physical_replication').fix ?? '';
      assert.match(fix, /RawFeed cannot run there\. Use WalFeed: apply the fix under wal_level/, platform);
      assert.doesNotMatch(fix, /pg_reload_conf/, platform);
    }
  });

  test('a role without REPLICATION: the physical check points at the replication check above', () => {
    const report = evaluateDoctor(
      facts({
        replicationSession: false,
        replicationStartupError: denied('42501', 'permission denied to start WAL sender'),
        rolReplication: false,
        plugins: {},
        physicalSession: false,
        physicalStartupError: denied('42501', 'permission denied to start WAL sender'),
      }),
    );
    assert.equal(
      check(report, 'physical_replication').fix,
      'Fix replication (above); then this check can pass.',
    );
  });

  test('a major whose WAL RawFeed cannot read', () => {
    const report = evaluateDoctor(
      facts({ ...replica, physicalSession: true, serverVersion: '19.0', serverVersionNum: 190000 }),
    );
    assert.equal(report.feed, null);
    assert.match(check(report, 'physical_replication').detail, /PostgreSQL 15 to 18 only \(this is 19\.0\)/);
  });
});

// `pgnudge doctor` (contract §5): connects as a feed would, gathers facts, and turns them into checks with a
// copy-paste fix for the platform it runs on. evaluateDoctor is pure; gatherDoctorFacts does the I/O.
import { randomBytes } from 'node:crypto';
import { PgnudgeError, ServerError } from '../errors.js';
import { formatCreateSlot, generateSlotName } from '../feed/commands.js';
import type { BoundLogger } from '../logger.js';
import { PgConnection, type QueryResult, type ReplicationMode } from '../transport/connection.js';
import { type ConnectionSettings, describeTarget } from '../transport/settings.js';

/** Where the server runs, as far as its settings, roles and host name tell. */
export type Platform = 'rds' | 'aurora' | 'azure' | 'cloudsql' | 'supabase' | 'neon' | 'self-managed';

export const PLATFORM_NAMES: Record<Platform, string> = {
  rds: 'Amazon RDS for PostgreSQL',
  aurora: 'Amazon Aurora PostgreSQL',
  azure: 'Azure Database for PostgreSQL flexible server',
  cloudsql: 'Google Cloud SQL for PostgreSQL',
  supabase: 'Supabase',
  neon: 'Neon',
  'self-managed': 'self-managed PostgreSQL',
};

export type PluginName = 'wal2json' | 'test_decoding';
const PLUGINS: readonly PluginName[] = ['wal2json', 'test_decoding'];

/** An error, reduced to what the checks look at. `message` is the server's own text when there is one. */
export interface Failure {
  code: string;
  sqlState?: string;
  message: string;
}

/** A temporary-slot probe: created and dropped, or why not. */
export type PluginProbe = { ok: true } | { ok: false; failure: Failure };

/** Everything doctor learned. Fields stay undefined when they could not be learned. */
export interface DoctorFacts {
  /** `user@host:port/database`, without the password. */
  target: string;
  host: string;
  port: number;
  user: string;
  /** The session doctor worked over; undefined when no session could be opened at all. */
  connection?: { tls: boolean; authMethod: string };
  /** Why no session could be opened (then nothing else is known). */
  connectionError?: Failure;
  /** Whether a `replication=database` session (what a feed opens) was accepted. */
  replicationSession: boolean;
  /** Why the `replication=database` startup was refused, when doctor fell back to an ordinary session. */
  replicationStartupError?: Failure;
  serverVersion?: string;
  serverVersionNum?: number;
  /** `SELECT version()`. */
  versionString?: string;
  rolReplication?: boolean;
  rolSuper?: boolean;
  /** Platform roles that exist (rds_superuser, azure_pg_admin, ...), and those the user is a member of. */
  platformRoles?: string[];
  memberOf?: string[];
  /** Selected pg_settings: wal_level, max_*, and every platform-specific name (rds.*, azure.*, ...). */
  settings?: Record<string, string>;
  /** Whether aurora_version() exists (Aurora only). */
  auroraFunction?: boolean;
  usedReplicationSlots?: number;
  /** WAL senders in use by other sessions (doctor's own is not counted). */
  usedWalSenders?: number;
  /** Whether IDENTIFY_SYSTEM was answered in the replication session: a real walsender. */
  identifySystem?: boolean;
  /** `inet_server_port()`: the port the server itself listens on (null over a Unix socket). */
  serverPort?: number | null;
  plugins: Partial<Record<PluginName, PluginProbe>>;
  /** Why the plugin probes stopped early (e.g. slot creation waited too long), if they did. */
  probeAbort?: string;
}

export type CheckName =
  | 'connection'
  | 'server_version'
  | 'replication'
  | 'wal_level'
  | 'replication_slots'
  | 'wal_senders'
  | 'plugin_wal2json'
  | 'plugin_test_decoding'
  | 'direct_connection';

/** One check: `fix` is copy-paste text for a failed check, else null. `skipped` checks could not run. */
export interface DoctorCheck {
  name: CheckName;
  ok: boolean;
  detail: string;
  fix: string | null;
  skipped?: true;
}

/** The whole verdict; `ok` means a feed can run now, with `plugin`. */
export interface DoctorReport {
  ok: boolean;
  plugin: PluginName | null;
  checks: DoctorCheck[];
  platform: Platform;
  target: string;
}

const MIN_SERVER_VERSION_NUM = 150000;

/** Returns `name` as an SQL identifier: bare when that is safe, else double-quoted. */
export function quoteIdent(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) ? name : `"${name.replaceAll('"', '""')}"`;
}

function hasSetting(facts: DoctorFacts, pattern: RegExp): boolean {
  return Object.keys(facts.settings ?? {}).some((name) => pattern.test(name));
}

/** Fingerprints the platform from settings, roles, the version string and the host name. */
export function detectPlatform(facts: DoctorFacts): Platform {
  const host = facts.host.toLowerCase();
  const roles = new Set(facts.platformRoles ?? []);
  const version = facts.versionString ?? '';
  if (
    facts.auroraFunction ||
    hasSetting(facts, /^(aurora|apg)[._]/) ||
    /\.cluster-(ro-)?[a-z0-9]+\.[a-z0-9-]+\.rds\.amazonaws\.com$/.test(host)
  )
    return 'aurora';
  if (
    hasSetting(facts, /^rds\./) ||
    roles.has('rds_superuser') ||
    /\brds\b/i.test(version) ||
    host.endsWith('.rds.amazonaws.com')
  )
    return 'rds';
  if (
    hasSetting(facts, /^azure\./) ||
    roles.has('azure_pg_admin') ||
    host.endsWith('.postgres.database.azure.com')
  )
    return 'azure';
  if (hasSetting(facts, /^cloudsql\./) || roles.has('cloudsqlsuperuser')) return 'cloudsql';
  if (roles.has('supabase_admin') || host.endsWith('.supabase.co') || host.endsWith('.supabase.com'))
    return 'supabase';
  if (hasSetting(facts, /^neon\./) || roles.has('neon_superuser') || host.endsWith('.neon.tech'))
    return 'neon';
  return 'self-managed';
}

/** Host names and ports of known transaction poolers (PgBouncer's default port, Supabase, Neon). */
function poolerHint(facts: DoctorFacts): string | undefined {
  const host = facts.host.toLowerCase();
  if (/-pooler\./.test(host)) return `the host name ${facts.host} is Neon's pooled endpoint`;
  if (host.endsWith('pooler.supabase.com'))
    return `the host name ${facts.host} is Supabase's connection pooler`;
  if (facts.port === 6432) return 'port 6432 is PgBouncer’s default port';
  if (facts.port === 6543 && host.includes('supabase')) return "port 6543 is Supabase's transaction pooler";
  return undefined;
}

const POOLER_ERROR = /unsupported startup parameter|pgbouncer|supavisor|pooler|odyssey|pgcat/i;

function isPoolerRefusal(failure: Failure | undefined): boolean {
  return failure !== undefined && POOLER_ERROR.test(failure.message);
}

/** Copy-paste fixes, tuned to the platform. `role` is the user doctor connected as. */
export function platformFixes(platform: Platform, role: string) {
  const r = quoteIdent(role);
  const restartSelf =
    '  then restart PostgreSQL (a reload is not enough), e.g. sudo systemctl restart postgresql';
  return {
    walLevel(): string {
      switch (platform) {
        case 'rds':
          return [
            'In a custom DB parameter group of the instance (the default group cannot be changed), set',
            'rds.logical_replication = 1 (this makes wal_level logical), then reboot the instance:',
            '  aws rds modify-db-parameter-group --db-parameter-group-name <group> \\',
            '    --parameters "ParameterName=rds.logical_replication,ParameterValue=1,ApplyMethod=pending-reboot"',
            '  aws rds reboot-db-instance --db-instance-identifier <instance>',
          ].join('\n');
        case 'aurora':
          return [
            'In a custom DB cluster parameter group, set rds.logical_replication = 1, then reboot the writer:',
            '  aws rds modify-db-cluster-parameter-group --db-cluster-parameter-group-name <group> \\',
            '    --parameters "ParameterName=rds.logical_replication,ParameterValue=1,ApplyMethod=pending-reboot"',
            '  aws rds reboot-db-instance --db-instance-identifier <writer-instance>',
          ].join('\n');
        case 'azure':
          return [
            '  az postgres flexible-server parameter set --resource-group <group> --server-name <server> \\',
            '    --name wal_level --value logical',
            '  az postgres flexible-server restart --resource-group <group> --name <server>',
          ].join('\n');
        case 'cloudsql':
          return [
            '  gcloud sql instances patch <instance> --database-flags=cloudsql.logical_decoding=on',
            'This restarts the instance. --database-flags replaces every flag already set: list those too.',
          ].join('\n');
        case 'supabase':
          return 'Supabase projects run with wal_level = logical; if yours does not, ask Supabase support to enable it.';
        case 'neon':
          return [
            'In the Neon Console: Project settings → Logical Replication → Enable.',
            'This sets wal_level = logical for the whole project and restarts its computes.',
          ].join('\n');
        default:
          return ['As a superuser:', '  ALTER SYSTEM SET wal_level = logical;', restartSelf].join('\n');
      }
    },
    replication(): string {
      switch (platform) {
        case 'rds':
        case 'aurora':
          return ['As the master user (rds_superuser):', `  GRANT rds_replication TO ${r};`].join('\n');
        case 'azure':
          return ['As the server admin (azure_pg_admin):', `  ALTER ROLE ${r} WITH REPLICATION;`].join('\n');
        case 'cloudsql':
          return ['As a cloudsqlsuperuser (e.g. postgres):', `  ALTER USER ${r} WITH REPLICATION;`].join(
            '\n',
          );
        case 'supabase':
          return [
            'As the postgres role (SQL editor or a direct connection):',
            `  ALTER ROLE ${r} WITH REPLICATION;`,
            'Before PostgreSQL 17 only the postgres role itself can be used for replication on Supabase.',
          ].join('\n');
        case 'neon':
          return [
            'Roles created in the Neon Console, CLI or API can replicate; or, as a neon_superuser member:',
            `  ALTER ROLE ${r} WITH REPLICATION;`,
          ].join('\n');
        default:
          return ['As a superuser:', `  ALTER ROLE ${r} REPLICATION;`].join('\n');
      }
    },
    hba(): string {
      const line = `  host  replication  ${role}  <client-ip>/32  scram-sha-256`;
      if (platform !== 'self-managed') {
        return [
          `The server's access rules refused a replication connection for ${role}.`,
          'Grant the role replication as your platform documents, and connect to the direct endpoint.',
        ].join('\n');
      }
      return [
        'Add a pg_hba.conf line whose database column is "replication" (a line for "all" does not cover it):',
        line,
        'then, as a superuser: SELECT pg_reload_conf();',
      ].join('\n');
    },
    maxSetting(name: 'max_replication_slots' | 'max_wal_senders'): string {
      const freeSlots =
        name === 'max_replication_slots'
          ? [
              'Or drop a slot nobody uses (check pg_replication_slots first):',
              "  SELECT pg_drop_replication_slot('<slot_name>');",
            ]
          : ['Or end idle replication sessions (see pg_stat_replication).'];
      let raise: string[];
      switch (platform) {
        case 'rds':
        case 'aurora':
          raise = [
            `Raise ${name} in the ${platform === 'aurora' ? 'DB cluster ' : 'DB '}parameter group, then reboot:`,
            `  ParameterName=${name},ParameterValue=<n>,ApplyMethod=pending-reboot`,
          ];
          break;
        case 'azure':
          raise = [
            `  az postgres flexible-server parameter set --resource-group <group> --server-name <server> --name ${name} --value <n>`,
            '  az postgres flexible-server restart --resource-group <group> --name <server>',
          ];
          break;
        case 'cloudsql':
          raise = [
            `  gcloud sql instances patch <instance> --database-flags=cloudsql.logical_decoding=on,${name}=<n>`,
            '(--database-flags replaces every flag already set: list those too.)',
          ];
          break;
        case 'supabase':
        case 'neon':
          raise = [`${name} is set by the platform; ask its support to raise it.`];
          break;
        default:
          raise = ['As a superuser:', `  ALTER SYSTEM SET ${name} = <n>;`, restartSelf];
      }
      return [...raise, ...freeSlots].join('\n');
    },
    wal2json(testDecodingWorks: boolean): string {
      const fallback = testDecodingWorks
        ? 'Optional: pgnudge falls back to test_decoding, which ships with PostgreSQL (plugin auto).'
        : 'Or use test_decoding (ships with PostgreSQL): pgnudge watch --plugin test_decoding';
      if (platform === 'self-managed') {
        return [
          'Install wal2json for the server’s major version (no restart needed), e.g.',
          '  Debian/Ubuntu (PGDG): sudo apt-get install postgresql-<major>-wal2json',
          '  RHEL/Fedora (PGDG):   sudo dnf install wal2json_<major>',
          fallback,
        ].join('\n');
      }
      return [`${PLATFORM_NAMES[platform]} normally provides wal2json.`, fallback].join('\n');
    },
    untrustedPlugin(plugin: PluginName, otherWorks: boolean): string {
      const fallback = otherWorks
        ? 'Optional: pgnudge falls back to test_decoding (plugin auto).'
        : 'Or use a plugin the server already trusts.';
      const how =
        platform === 'self-managed'
          ? [
              'As a superuser, add it to the trusted output plugins and reload:',
              `  ALTER SYSTEM SET output_plugin_libraries = 'pgoutput, test_decoding, ${plugin}';`,
              '  SELECT pg_reload_conf();',
            ]
          : [`Add ${plugin} to the output_plugin_libraries parameter of ${PLATFORM_NAMES[platform]}.`];
      return [...how, fallback].join('\n');
    },
    testDecoding(): string {
      return platform === 'self-managed'
        ? 'test_decoding ships with PostgreSQL (contrib); install your distribution’s contrib package for this major.'
        : `${PLATFORM_NAMES[platform]} should provide test_decoding; ask its support.`;
    },
    version(): string {
      const how: Record<Platform, string> = {
        rds: 'aws rds modify-db-instance --db-instance-identifier <instance> --engine-version <15 or later> --allow-major-version-upgrade --apply-immediately',
        aurora:
          'aws rds modify-db-cluster --db-cluster-identifier <cluster> --engine-version <15 or later> --allow-major-version-upgrade --apply-immediately',
        azure:
          'az postgres flexible-server upgrade --resource-group <group> --name <server> --version <15 or later>',
        cloudsql: 'gcloud sql instances patch <instance> --database-version=POSTGRES_<15 or later>',
        supabase: 'Upgrade the project in the dashboard: Project settings → Infrastructure.',
        neon: 'Create a project on PostgreSQL 15 or later and move the data there.',
        'self-managed':
          'Upgrade the cluster with pg_upgrade (or dump and restore) to PostgreSQL 15 or later.',
      };
      return `pgnudge needs PostgreSQL 15 or later.\n  ${how[platform]}`;
    },
    direct(): string {
      const where: Record<Platform, string> = {
        supabase:
          "Use the Direct connection (db.<project-ref>.supabase.co:5432), not the pooler's host or port 6543.",
        neon: 'Use the endpoint host without "-pooler" in its name.',
        rds: 'Connect to the instance or cluster endpoint, not an RDS Proxy.',
        aurora: 'Connect to the cluster (writer) endpoint, not an RDS Proxy.',
        azure: 'Connect to port 5432 of the server, not the built-in PgBouncer on port 6432.',
        cloudsql: 'Connect to the instance (or the Cloud SQL Auth Proxy), not a pooler.',
        'self-managed': 'Connect to PostgreSQL itself (usually port 5432), not PgBouncer or another pooler.',
      };
      return `Replication cannot go through a transaction pooler.\n${where[platform]}`;
    },
    connection(failure: Failure, target: string): string {
      switch (failure.code) {
        case 'PGNUDGE_ERR_AUTH_FAILED':
          if (failure.sqlState === '28000') {
            return platform === 'self-managed'
              ? [
                  'Add a pg_hba.conf line for this client, then SELECT pg_reload_conf(); as a superuser:',
                  `  host  all  ${role}  <client-ip>/32  scram-sha-256`,
                ].join('\n')
              : 'The server refused this client: check the user name and the platform’s network and access rules.';
          }
          return 'Check the user name and password: --dsn, PGUSER / PGPASSWORD, or ~/.pgpass (PGPASSFILE).';
        case 'PGNUDGE_ERR_AUTH_INSECURE':
          return [
            'pgnudge never sends a cleartext or MD5 password without TLS. Either connect with TLS',
            '(sslmode=require or verify-full), or switch the role to SCRAM as a superuser:',
            "  SET password_encryption = 'scram-sha-256';",
            `  ALTER ROLE ${r} PASSWORD '<password>';`,
            'and use scram-sha-256 in its pg_hba.conf line.',
          ].join('\n');
        case 'PGNUDGE_ERR_CHANNEL_BINDING':
          return [
            'Either the server did not offer SCRAM-SHA-256-PLUS over TLS (drop channel_binding=require, or enable',
            'TLS with SCRAM on the server), or it did and its certificate has no channel-binding hash (Ed25519,',
            'Ed448, RSA-PSS): use a certificate signed with RSA or ECDSA and SHA-2, or set channel_binding=disable.',
          ].join('\n');
        case 'PGNUDGE_ERR_TLS':
          return platform === 'rds' || platform === 'aurora'
            ? 'Check sslmode and sslrootcert: for verify-full use the RDS CA bundle (global-bundle.pem) as sslrootcert.'
            : 'Check sslmode and sslrootcert (the CA that signed the server certificate); verify-full also needs the host name to match the certificate.';
        case 'PGNUDGE_ERR_UNKNOWN_DATABASE':
          return 'Connect to a database that exists: the path of the --dsn URL, dbname=..., or PGDATABASE.';
        case 'PGNUDGE_ERR_CONNECTION':
        case 'PGNUDGE_ERR_CONNECT_TIMEOUT': {
          const network: Record<Platform, string> = {
            rds: 'Allow your client in the instance security group (inbound TCP 5432), and make the instance reachable from it.',
            aurora:
              'Allow your client in the cluster security group (inbound TCP 5432), and make the cluster reachable from it.',
            azure:
              'Allow your client: az postgres flexible-server firewall-rule create --resource-group <group> --name <server> --rule-name pgnudge --start-ip-address <ip> --end-ip-address <ip>',
            cloudsql:
              "Add your client to the instance's authorized networks, or connect through the Cloud SQL Auth Proxy.",
            supabase:
              'Check the project is not paused and that your network reaches it (the direct host may be IPv6-only).',
            neon: 'Check the host name and that the project is not suspended or blocked by IP Allow.',
            'self-managed':
              'Is PostgreSQL running and listening there? Check listen_addresses and port in postgresql.conf, and any firewall.',
          };
          return `Could not reach ${target}.\n${network[platform]}`;
        }
        case 'PGNUDGE_ERR_PROTOCOL':
          return 'Something other than PostgreSQL answered (a pooler or another service?): check the host and port.';
        default:
          return 'Fix the cause above and run pgnudge doctor again.';
      }
    },
  };
}

function authDetail(facts: DoctorFacts): string {
  const c = facts.connection;
  if (!c) return '';
  return `${c.tls ? 'over TLS' : 'without TLS'}, authenticated with ${c.authMethod}`;
}

/** Turns facts into checks, in order, each failed one with its fix. Pure. */
export function evaluateDoctor(facts: DoctorFacts): DoctorReport {
  const platform = detectPlatform(facts);
  const fixes = platformFixes(platform, facts.user);
  const checks: DoctorCheck[] = [];
  const pass = (name: CheckName, detail: string) => checks.push({ name, ok: true, detail, fix: null });
  const fail = (name: CheckName, detail: string, fix: string) =>
    checks.push({ name, ok: false, detail, fix });
  const skip = (name: CheckName, detail: string) =>
    checks.push({ name, ok: false, detail, fix: null, skipped: true });

  if (facts.connectionError || !facts.connection) {
    const failure = facts.connectionError ?? { code: 'PGNUDGE_ERR_CONNECTION', message: 'no session' };
    fail('connection', failure.message, fixes.connection(failure, facts.target));
    return { ok: false, plugin: null, checks, platform, target: facts.target };
  }
  pass('connection', `connected to ${facts.target} ${authDetail(facts)}`);

  // server_version
  if (facts.serverVersionNum === undefined) skip('server_version', 'the server did not report its version');
  else if (facts.serverVersionNum >= MIN_SERVER_VERSION_NUM)
    pass(
      'server_version',
      `PostgreSQL ${facts.serverVersion ?? facts.serverVersionNum} (15 or later needed)`,
    );
  else
    fail(
      'server_version',
      `PostgreSQL ${facts.serverVersion ?? facts.serverVersionNum} is older than 15`,
      fixes.version(),
    );

  // replication: the REPLICATION attribute (or an equivalent grant), and a session that opens.
  const startup = facts.replicationStartupError;
  const poolerRefused = isPoolerRefusal(startup);
  const attributes = [
    facts.rolSuper ? 'SUPERUSER' : undefined,
    facts.rolReplication ? 'REPLICATION' : undefined,
    ...(facts.memberOf ?? []).filter((role) => role === 'rds_replication').map((role) => `member of ${role}`),
  ].filter((x): x is string => x !== undefined);
  const mayReplicate = attributes.length > 0;
  const roleText = `role ${facts.user}`;
  if (facts.replicationSession) {
    pass(
      'replication',
      `${roleText} opened a replication session${mayReplicate ? ` (${attributes.join(', ')})` : ''}`,
    );
  } else if (
    startup?.code === 'PGNUDGE_ERR_REPLICATION_DENIED' &&
    startup.sqlState === '28000' &&
    mayReplicate
  ) {
    fail('replication', `${roleText} has ${attributes.join(', ')}, but: ${startup.message}`, fixes.hba());
  } else if (
    startup?.code === 'PGNUDGE_ERR_REPLICATION_DENIED' ||
    (facts.rolReplication !== undefined && !mayReplicate)
  ) {
    fail(
      'replication',
      `${roleText} has neither REPLICATION nor SUPERUSER${startup ? `: ${startup.message}` : ''}`,
      fixes.replication(),
    );
  } else if (startup?.sqlState === '53300') {
    // Too many walsenders: reported under wal_senders; the role itself may well be fine.
    if (mayReplicate) pass('replication', `${roleText} has ${attributes.join(', ')}`);
    else skip('replication', `${roleText}: could not tell (${startup.message})`);
  } else if (poolerRefused) {
    if (mayReplicate) pass('replication', `${roleText} has ${attributes.join(', ')}`);
    else skip('replication', `${roleText}: could not tell through the pooler`);
  } else {
    fail(
      'replication',
      `the replication session was refused${startup ? `: ${startup.message}` : ''}`,
      mayReplicate ? fixes.hba() : fixes.replication(),
    );
  }

  // wal_level
  const walLevel = facts.settings?.wal_level;
  if (walLevel === undefined) skip('wal_level', 'could not read wal_level');
  else if (walLevel === 'logical') pass('wal_level', 'wal_level = logical');
  else fail('wal_level', `wal_level = ${walLevel}; logical decoding needs logical`, fixes.walLevel());

  // free replication slots and WAL senders
  const maxSlots = numberSetting(facts, 'max_replication_slots');
  if (maxSlots === undefined || facts.usedReplicationSlots === undefined)
    skip('replication_slots', 'could not count replication slots');
  else {
    const free = maxSlots - facts.usedReplicationSlots;
    const detail = `${free} of max_replication_slots = ${maxSlots} free`;
    if (free >= 1) pass('replication_slots', detail);
    else fail('replication_slots', `${detail}: a feed needs one`, fixes.maxSetting('max_replication_slots'));
  }
  const maxSenders = numberSetting(facts, 'max_wal_senders');
  if (startup?.sqlState === '53300') {
    fail('wal_senders', `no WAL sender free: ${startup.message}`, fixes.maxSetting('max_wal_senders'));
  } else if (maxSenders === undefined || facts.usedWalSenders === undefined)
    skip('wal_senders', 'could not count WAL senders');
  else {
    const free = maxSenders - facts.usedWalSenders;
    const detail = `${free} of max_wal_senders = ${maxSenders} free for a feed`;
    if (free >= 1) pass('wal_senders', detail);
    else fail('wal_senders', `${detail}: a feed needs one`, fixes.maxSetting('max_wal_senders'));
  }

  // plugins, by temporary slot
  const plugin = evaluatePlugins(facts, fixes, { pass, fail, skip }, walLevel, checks);

  // direct connection, as far as it can be told
  const hint = poolerHint(facts);
  if (poolerRefused) {
    fail(
      'direct_connection',
      `a pooler refused the replication session: ${startup?.message}`,
      fixes.direct(),
    );
  } else if (facts.replicationSession) {
    const through =
      facts.serverPort != null && facts.port !== facts.serverPort
        ? ` (the server listens on port ${facts.serverPort}, you connected to ${facts.port}: a proxy or port mapping, which replication tolerates)`
        : '';
    pass(
      'direct_connection',
      `${facts.identifySystem ? 'IDENTIFY_SYSTEM answered' : 'the replication session opened'}: replication works on this connection, so no transaction pooler is in the way${through}`,
    );
  } else if (hint) {
    fail('direct_connection', `${hint}; a feed cannot run through it`, fixes.direct());
  } else {
    skip('direct_connection', 'could not tell without a replication session');
  }

  const blocking = checks.some((check) => !check.ok && !check.skipped && !check.name.startsWith('plugin_'));
  return { ok: plugin !== null && !blocking, plugin, checks, platform, target: facts.target };
}

function numberSetting(facts: DoctorFacts, name: string): number | undefined {
  const value = facts.settings?.[name];
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

type Recorders = {
  pass(name: CheckName, detail: string): void;
  fail(name: CheckName, detail: string, fix: string): void;
  skip(name: CheckName, detail: string): void;
};

function evaluatePlugins(
  facts: DoctorFacts,
  fixes: ReturnType<typeof platformFixes>,
  record: Recorders,
  walLevel: string | undefined,
  earlier: readonly DoctorCheck[],
): PluginName | null {
  const probes = facts.plugins;
  // A cause already reported above gets a pointer, not the same fix again.
  const reported = (name: CheckName, fix: string) =>
    earlier.some((check) => check.name === name && !check.ok && !check.skipped)
      ? `Fix ${name} (above); then this check can pass.`
      : fix;
  const worked = (plugin: PluginName) => probes[plugin]?.ok === true;
  const blocked = (failure: Failure): { why: string; fix: string } | undefined => {
    if (failure.code === 'PGNUDGE_ERR_WAL_LEVEL' || (walLevel !== undefined && walLevel !== 'logical'))
      return {
        why: 'logical decoding is blocked: wal_level is not logical',
        fix: reported('wal_level', fixes.walLevel()),
      };
    if (failure.sqlState === '53400' || /replication slots are in use/i.test(failure.message))
      return {
        why: 'logical decoding is blocked: no free replication slot',
        fix: reported('replication_slots', fixes.maxSetting('max_replication_slots')),
      };
    if (failure.code === 'TIMEOUT')
      return {
        why: failure.message,
        fix: 'Find and end the long-running transaction (SELECT pid, xact_start, query FROM pg_stat_activity WHERE xact_start IS NOT NULL ORDER BY xact_start), then try again.',
      };
    return undefined;
  };
  for (const plugin of PLUGINS) {
    const name: CheckName = `plugin_${plugin}`;
    const probe = probes[plugin];
    if (probe === undefined) {
      record.skip(
        name,
        facts.probeAbort ??
          (facts.replicationSession
            ? `${plugin} was not probed`
            : `${plugin} not probed: creating a slot needs a replication session`),
      );
      continue;
    }
    if (probe.ok) {
      record.pass(name, `created and dropped a temporary slot with ${plugin}`);
      continue;
    }
    const failure = probe.failure;
    const other: PluginName = plugin === 'wal2json' ? 'test_decoding' : 'wal2json';
    if (failure.sqlState === '42501' && /output plugin/.test(failure.message)) {
      record.fail(
        name,
        `${plugin} is installed but not trusted for REPLICATION roles (${failure.message})`,
        fixes.untrustedPlugin(plugin, worked(other)),
      );
      continue;
    }
    const missing = failure.code === 'PGNUDGE_ERR_PLUGIN_MISSING' || failure.sqlState === '58P01';
    if (missing) {
      record.fail(
        name,
        `${plugin} is not installed on the server (${failure.message})`,
        plugin === 'wal2json' ? fixes.wal2json(worked(other)) : fixes.testDecoding(),
      );
      continue;
    }
    // Not a missing file: if the other plugin failed too, decoding itself is blocked, not this plugin.
    const cause = blocked(failure);
    if (cause && !worked(other)) {
      record.fail(name, `${cause.why} (${failure.message})`, cause.fix);
      continue;
    }
    record.fail(
      name,
      `creating a temporary slot with ${plugin} failed: ${failure.message}`,
      plugin === 'wal2json' ? fixes.wal2json(worked(other)) : fixes.testDecoding(),
    );
  }
  return PLUGINS.find(worked) ?? null;
}

const MARK = { ok: '✓', fail: '✗', skip: '-' } as const;

/** The report for people: one line per check, and the fix indented under each failed one. */
export function formatDoctorHuman(report: DoctorReport): string {
  const lines = [`pgnudge doctor: ${report.target} (${PLATFORM_NAMES[report.platform]})`, ''];
  const width = Math.max(...report.checks.map((check) => check.name.length));
  for (const check of report.checks) {
    const mark = check.ok ? MARK.ok : check.skipped ? MARK.skip : MARK.fail;
    lines.push(`${mark} ${check.name.padEnd(width)}  ${check.detail}`);
    if (check.fix) for (const line of check.fix.split('\n')) lines.push(`    ${line}`);
  }
  lines.push('');
  if (report.ok) {
    lines.push(`OK: a feed can run here, with ${report.plugin}.`);
  } else {
    lines.push('NOT READY: a feed cannot run yet. Apply the fixes under ✗ and run pgnudge doctor again.');
  }
  return lines.join('\n');
}

/** The `--json` document: `{ ok, plugin, checks: [{ name, ok, detail, fix }], platform }`. */
export function formatDoctorJson(report: DoctorReport): string {
  return JSON.stringify({
    ok: report.ok,
    plugin: report.plugin,
    checks: report.checks.map(({ name, ok, detail, fix, skipped }) =>
      skipped ? { name, ok, detail, fix, skipped } : { name, ok, detail, fix },
    ),
    platform: report.platform,
  });
}

function toFailure(error: unknown): Failure {
  if (error instanceof ServerError) {
    return { code: error.code, sqlState: error.sqlState, message: error.fields.message };
  }
  if (error instanceof PgnudgeError) return { code: error.code, message: error.message };
  return { code: 'UNEXPECTED', message: error instanceof Error ? error.message : String(error) };
}

/** Startup refusals after which an ordinary session can still tell doctor about the server. */
function worthPlainSession(error: unknown): boolean {
  if (!(error instanceof PgnudgeError)) return false;
  if (error.code === 'PGNUDGE_ERR_REPLICATION_DENIED' || error.code === 'PGNUDGE_ERR_PROTOCOL') return true;
  return error instanceof ServerError && error.code === 'PGNUDGE_ERR_SERVER';
}

export interface GatherOptions {
  logger?: BoundLogger;
  /** Longest wait for one temporary slot (it waits for running transactions). Default 30000. */
  probeTimeoutMs?: number;
  /** Slot-name randomness, for tests. */
  random?: () => Uint8Array;
}

const PLATFORM_ROLES = [
  'rds_superuser',
  'rds_replication',
  'azure_pg_admin',
  'cloudsqlsuperuser',
  'supabase_admin',
  'neon_superuser',
];

/**
 * Connects as a feed would and gathers facts. Never throws: every failure becomes a fact. Creates only
 * TEMPORARY slots, drops them, and closes its session, so nothing is left behind.
 */
export async function gatherDoctorFacts(
  settings: ConnectionSettings,
  target: { target: string; host: string; port: number },
  options: GatherOptions = {},
): Promise<DoctorFacts> {
  const facts: DoctorFacts = {
    ...target,
    user: settings.user,
    replicationSession: false,
    plugins: {},
  };
  const connect = (replication: ReplicationMode) =>
    PgConnection.connect(settings, { replication, ...(options.logger ? { logger: options.logger } : {}) });
  let connection: PgConnection;
  try {
    connection = await connect('database');
    facts.replicationSession = true;
  } catch (error) {
    if (!worthPlainSession(error)) {
      facts.connectionError = toFailure(error);
      return facts;
    }
    facts.replicationStartupError = toFailure(error);
    try {
      connection = await connect('off');
    } catch (plainError) {
      facts.connectionError = toFailure(plainError);
      return facts;
    }
  }
  try {
    facts.connection = { tls: connection.tls, authMethod: connection.authMethod };
    const version = connection.parameters.get('server_version')?.split(' ')[0];
    if (version) facts.serverVersion = version;
    const num = connection.serverVersionNum;
    if (num > 0) facts.serverVersionNum = num;
    await gatherSqlFacts(connection, facts);
    if (facts.replicationSession) await probePlugins(connection, facts, options);
  } finally {
    await closeQuietly(connection);
  }
  return facts;
}

async function rowsOf(connection: PgConnection, sql: string): Promise<QueryResult['rows'] | undefined> {
  try {
    const results = await connection.query(sql);
    return results[results.length - 1]?.rows;
  } catch {
    return undefined;
  }
}

async function gatherSqlFacts(connection: PgConnection, facts: DoctorFacts): Promise<void> {
  const about = await rowsOf(
    connection,
    "SELECT version(), current_setting('server_version_num'), inet_server_port(), to_regproc('aurora_version') IS NOT NULL",
  );
  if (about?.[0]) {
    const [version, num, port, aurora] = about[0];
    if (version != null) facts.versionString = version;
    if (num != null && /^\d+$/.test(num)) facts.serverVersionNum = Number(num);
    facts.serverPort = port == null ? null : Number(port);
    facts.auroraFunction = aurora === 't';
  }
  const role = await rowsOf(
    connection,
    'SELECT rolreplication, rolsuper FROM pg_roles WHERE rolname = current_user',
  );
  if (role?.[0]) {
    facts.rolReplication = role[0][0] === 't';
    facts.rolSuper = role[0][1] === 't';
  }
  const list = PLATFORM_ROLES.map((name) => `'${name}'`).join(', ');
  const platformRoles = await rowsOf(
    connection,
    `SELECT rolname, pg_has_role(current_user, oid, 'MEMBER') FROM pg_roles WHERE rolname IN (${list}) ORDER BY rolname`,
  );
  if (platformRoles) {
    facts.platformRoles = platformRoles.map((row) => row[0] ?? '');
    facts.memberOf = platformRoles.filter((row) => row[1] === 't').map((row) => row[0] ?? '');
  }
  const settingRows = await rowsOf(
    connection,
    "SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'max_replication_slots', 'max_wal_senders') OR name ~ '^(rds|aurora|apg|azure|cloudsql|neon|supabase)[._]' ORDER BY name",
  );
  if (settingRows) {
    facts.settings = Object.fromEntries(settingRows.map((row) => [row[0] ?? '', row[1] ?? '']));
  }
  const slots = await rowsOf(connection, 'SELECT count(*) FROM pg_replication_slots');
  if (slots?.[0]?.[0] != null) facts.usedReplicationSlots = Number(slots[0][0]);
  const senders = await rowsOf(
    connection,
    'SELECT count(*) FROM pg_stat_replication WHERE pid <> pg_backend_pid()',
  );
  if (senders?.[0]?.[0] != null) facts.usedWalSenders = Number(senders[0][0]);
  if (facts.replicationSession)
    facts.identifySystem = (await rowsOf(connection, 'IDENTIFY_SYSTEM')) !== undefined;
}

async function probePlugins(
  connection: PgConnection,
  facts: DoctorFacts,
  options: GatherOptions,
): Promise<void> {
  const timeoutMs = options.probeTimeoutMs ?? 30_000;
  const random = options.random ?? (() => randomBytes(8));
  for (const plugin of PLUGINS) {
    const slot = generateSlotName(random);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      const outcome = await Promise.race([connection.query(formatCreateSlot(slot, plugin)), timedOut]);
      if (outcome === 'timeout') {
        // The slot waits for transactions older than itself; aborting the session drops it (TEMPORARY).
        connection.abort();
        facts.plugins[plugin] = {
          ok: false,
          failure: {
            code: 'TIMEOUT',
            message: `creating a slot waited more than ${timeoutMs} ms: a long-running transaction keeps logical decoding from starting`,
          },
        };
        facts.probeAbort = 'not probed: the previous probe timed out';
        return;
      }
      await connection.query(`DROP_REPLICATION_SLOT ${slot}`).catch(() => {
        // TEMPORARY: it goes away with the session, which doctor ends right after.
      });
      facts.plugins[plugin] = { ok: true };
    } catch (error) {
      facts.plugins[plugin] = { ok: false, failure: toFailure(error) };
      if (connection.closed) {
        facts.probeAbort = 'not probed: the session ended during the previous probe';
        return;
      }
    } finally {
      clearTimeout(timer);
    }
  }
}

async function closeQuietly(connection: PgConnection): Promise<void> {
  try {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      connection.end(),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 2000);
      }),
    ]);
    clearTimeout(timer);
  } catch {
    // Closing is best effort; abort below makes sure the socket is gone.
  }
  connection.abort();
}

/** What `pgnudge doctor` needs from the command line and the process. */
export interface DoctorRun {
  settings: ConnectionSettings;
  json: boolean;
  write(text: string): void;
  logger?: BoundLogger;
  probeTimeoutMs?: number;
}

/** Runs every check and prints the report. Returns the exit status: 0 when a feed can run, else 1. */
export async function runDoctor(run: DoctorRun): Promise<number> {
  let report: DoctorReport;
  const first = run.settings.hosts[0];
  const target = {
    target: describeTarget(run.settings),
    host: first?.host ?? '',
    port: first?.port ?? 0,
  };
  try {
    const facts = await gatherDoctorFacts(run.settings, target, {
      ...(run.logger ? { logger: run.logger } : {}),
      ...(run.probeTimeoutMs === undefined ? {} : { probeTimeoutMs: run.probeTimeoutMs }),
    });
    report = evaluateDoctor(facts);
  } catch (error) {
    // gatherDoctorFacts catches what it expects; anything else still becomes a failed check, not a stack.
    report = evaluateDoctor({
      ...target,
      user: run.settings.user,
      replicationSession: false,
      plugins: {},
      connectionError: toFailure(error),
    });
  }
  run.write(`${run.json ? formatDoctorJson(report) : formatDoctorHuman(report)}\n`);
  return report.ok ? 0 : 1;
}

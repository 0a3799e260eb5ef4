// Doctor's copy-paste fixes. What differs by platform is one row of PLATFORM_FIXES each; what differs only
// between a server you run and a managed one is decided in platformFixes below.
import type { PluginName } from '../../decode/change.js';
import { quoteIdentifierIfNeeded } from '../../protocol/quote.js';
import type { Failure, Platform } from './facts.js';
import { PLATFORM_NAMES } from './platform.js';

/** The two server limits a feed uses one of each. */
export type LimitSetting = 'max_replication_slots' | 'max_wal_senders';

/** One platform's procedures. Line arrays are joined with newlines; `role` arrives quoted. */
interface PlatformFixRow {
  /** Makes wal_level logical. */
  walLevel: readonly string[];
  /** Lets `role` replicate. */
  replication(role: string): readonly string[];
  /** Raises max_replication_slots or max_wal_senders. */
  raise(name: LimitSetting): readonly string[];
  /** Upgrades to PostgreSQL 15 or later. */
  upgrade: string;
  /** Reaches PostgreSQL itself rather than a pooler. */
  direct: string;
  /** Lets this client reach the server. */
  network: string;
  /** Makes TLS verify. */
  tls: string;
  /** Turns hot_standby_feedback on, on the standby (read replica) doctor reached. */
  feedback: readonly string[];
  /** Makes the primary's wal_level logical, seen from its standby. */
  primaryWalLevel: readonly string[];
  /** Whether the platform lets a feed decode on its read replicas at all, when it does not (or says nothing). */
  replicaDecoding?: string;
}

const RESTART_SELF =
  '  then restart PostgreSQL (a reload is not enough), e.g. sudo systemctl restart postgresql';
const TLS_CHECK =
  'Check sslmode and sslrootcert (the CA that signed the server certificate); verify-full also needs the host name to match the certificate.';
const TLS_RDS =
  'Check sslmode and sslrootcert: for verify-full use the RDS CA bundle (global-bundle.pem) as sslrootcert.';
const CLOUDSQL_FLAGS = '--database-flags replaces every flag already set: list those too.';
const rdsReplication = (role: string) => [
  'As the master user (rds_superuser):',
  `  GRANT rds_replication TO ${role};`,
];
const rdsRaise = (group: string) => (name: LimitSetting) => [
  `Raise ${name} in the ${group}, then reboot:`,
  `  ParameterName=${name},ParameterValue=<n>,ApplyMethod=pending-reboot`,
];
const platformAsks = (name: LimitSetting) => [`${name} is set by the platform; ask its support to raise it.`];

const PLATFORM_FIXES: Record<Platform, PlatformFixRow> = {
  rds: {
    walLevel: [
      'In a custom DB parameter group of the instance (the default group cannot be changed), set',
      'rds.logical_replication = 1 (this makes wal_level logical), then reboot the instance:',
      '  aws rds modify-db-parameter-group --db-parameter-group-name <group> \\',
      '    --parameters "ParameterName=rds.logical_replication,ParameterValue=1,ApplyMethod=pending-reboot"',
      '  aws rds reboot-db-instance --db-instance-identifier <instance>',
    ],
    replication: rdsReplication,
    raise: rdsRaise('DB parameter group'),
    upgrade:
      'aws rds modify-db-instance --db-instance-identifier <instance> --engine-version <15 or later> --allow-major-version-upgrade --apply-immediately',
    direct: 'Connect to the instance or cluster endpoint, not an RDS Proxy.',
    network:
      'Allow your client in the instance security group (inbound TCP 5432), and make the instance reachable from it.',
    tls: TLS_RDS,
    feedback: [
      'In the read replica’s custom DB parameter group, set hot_standby_feedback = 1:',
      '  aws rds modify-db-parameter-group --db-parameter-group-name <replica-group> \\',
      '    --parameters "ParameterName=hot_standby_feedback,ParameterValue=1,ApplyMethod=immediate"',
    ],
    primaryWalLevel: [
      'RDS decodes on a read replica from PostgreSQL 16.1 when both the source instance and the replica',
      'use a custom DB parameter group with rds.logical_replication = 1; set it in both groups, then reboot both:',
      '  aws rds modify-db-parameter-group --db-parameter-group-name <group> \\',
      '    --parameters "ParameterName=rds.logical_replication,ParameterValue=1,ApplyMethod=pending-reboot"',
    ],
  },
  aurora: {
    walLevel: [
      'In a custom DB cluster parameter group, set rds.logical_replication = 1, then reboot the writer:',
      '  aws rds modify-db-cluster-parameter-group --db-cluster-parameter-group-name <group> \\',
      '    --parameters "ParameterName=rds.logical_replication,ParameterValue=1,ApplyMethod=pending-reboot"',
      '  aws rds reboot-db-instance --db-instance-identifier <writer-instance>',
    ],
    replication: rdsReplication,
    raise: rdsRaise('DB cluster parameter group'),
    upgrade:
      'aws rds modify-db-cluster --db-cluster-identifier <cluster> --engine-version <15 or later> --allow-major-version-upgrade --apply-immediately',
    direct: 'Connect to the cluster (writer) endpoint, not an RDS Proxy.',
    network:
      'Allow your client in the cluster security group (inbound TCP 5432), and make the cluster reachable from it.',
    tls: TLS_RDS,
    feedback: ['Aurora replicas do not decode logically: connect the feed to the writer endpoint.'],
    primaryWalLevel: ['Aurora replicas do not decode logically: connect the feed to the writer endpoint.'],
    replicaDecoding:
      'Aurora PostgreSQL does not support logical decoding on its reader instances (AWS documents it for RDS, not Aurora): connect the feed to the cluster (writer) endpoint.',
  },
  azure: {
    walLevel: [
      '  az postgres flexible-server parameter set --resource-group <group> --server-name <server> \\',
      '    --name wal_level --value logical',
      '  az postgres flexible-server restart --resource-group <group> --name <server>',
    ],
    replication: (role) => [
      'As the server admin (azure_pg_admin):',
      `  ALTER ROLE ${role} WITH REPLICATION;`,
    ],
    raise: (name) => [
      `  az postgres flexible-server parameter set --resource-group <group> --server-name <server> --name ${name} --value <n>`,
      '  az postgres flexible-server restart --resource-group <group> --name <server>',
    ],
    upgrade:
      'az postgres flexible-server upgrade --resource-group <group> --name <server> --version <15 or later>',
    direct: 'Connect to port 5432 of the server, not the built-in PgBouncer on port 6432.',
    network:
      'Allow your client: az postgres flexible-server firewall-rule create --resource-group <group> --name <server> --rule-name pgnudge --start-ip-address <ip> --end-ip-address <ip>',
    tls: TLS_CHECK,
    feedback: [
      '  az postgres flexible-server parameter set --resource-group <group> --server-name <replica> \\',
      '    --name hot_standby_feedback --value on',
    ],
    primaryWalLevel: [
      'Set wal_level = logical on the primary server (and on the replica), then restart both:',
      '  az postgres flexible-server parameter set --resource-group <group> --server-name <primary> --name wal_level --value logical',
    ],
    replicaDecoding:
      'Check that Azure lets your server version decode on a read replica; if it does not, connect the feed to the primary server.',
  },
  cloudsql: {
    walLevel: [
      '  gcloud sql instances patch <instance> --database-flags=cloudsql.logical_decoding=on',
      `This restarts the instance. ${CLOUDSQL_FLAGS}`,
    ],
    replication: (role) => [
      'As a cloudsqlsuperuser (e.g. postgres):',
      `  ALTER USER ${role} WITH REPLICATION;`,
    ],
    raise: (name) => [
      `  gcloud sql instances patch <instance> --database-flags=cloudsql.logical_decoding=on,${name}=<n>`,
      `(${CLOUDSQL_FLAGS})`,
    ],
    upgrade: 'gcloud sql instances patch <instance> --database-version=POSTGRES_<15 or later>',
    direct: 'Connect to the instance (or the Cloud SQL Auth Proxy), not a pooler.',
    network:
      "Add your client to the instance's authorized networks, or connect through the Cloud SQL Auth Proxy.",
    tls: TLS_CHECK,
    feedback: [
      '  gcloud sql instances patch <replica> --database-flags=hot_standby_feedback=on',
      `(${CLOUDSQL_FLAGS})`,
    ],
    primaryWalLevel: [
      'Turn on logical decoding on the primary instance and on the replica:',
      '  gcloud sql instances patch <primary> --database-flags=cloudsql.logical_decoding=on',
      `  gcloud sql instances patch <replica> --database-flags=cloudsql.logical_decoding=on,hot_standby_feedback=on`,
      `(${CLOUDSQL_FLAGS})`,
    ],
    replicaDecoding:
      'Check that Cloud SQL lets your instance version decode on a read replica; if it does not, connect the feed to the primary instance.',
  },
  supabase: {
    walLevel: [
      'Supabase projects run with wal_level = logical; if yours does not, ask Supabase support to enable it.',
    ],
    replication: (role) => [
      'As the postgres role (SQL editor or a direct connection):',
      `  ALTER ROLE ${role} WITH REPLICATION;`,
      'Before PostgreSQL 17 only the postgres role itself can be used for replication on Supabase.',
    ],
    raise: platformAsks,
    upgrade: 'Upgrade the project in the dashboard: Project settings → Infrastructure.',
    direct:
      "Use the Direct connection (db.<project-ref>.supabase.co:5432), not the pooler's host or port 6543.",
    network:
      'Check the project is not paused and that your network reaches it (the direct host may be IPv6-only).',
    tls: TLS_CHECK,
    feedback: ['Read replicas are configured by Supabase; ask its support to turn on hot_standby_feedback.'],
    primaryWalLevel: [
      'Supabase projects run with wal_level = logical; ask Supabase support about the replica.',
    ],
    replicaDecoding:
      'Check that Supabase lets a read replica decode logically; if it does not, connect the feed to the primary database.',
  },
  neon: {
    walLevel: [
      'In the Neon Console: Project settings → Logical Replication → Enable.',
      'This sets wal_level = logical for the whole project and restarts its computes.',
    ],
    replication: (role) => [
      'Roles created in the Neon Console, CLI or API can replicate; or, as a neon_superuser member:',
      `  ALTER ROLE ${role} WITH REPLICATION;`,
    ],
    raise: platformAsks,
    upgrade: 'Create a project on PostgreSQL 15 or later and move the data there.',
    direct: 'Use the endpoint host without "-pooler" in its name.',
    network: 'Check the host name and that the project is not suspended or blocked by IP Allow.',
    tls: TLS_CHECK,
    feedback: [
      'Neon read replicas are not streaming standbys a feed can decode on: use the primary endpoint.',
    ],
    primaryWalLevel: [
      'Neon read replicas are not streaming standbys a feed can decode on: use the primary endpoint.',
    ],
    replicaDecoding:
      'Neon read replicas share storage with the primary and do not decode logically: connect the feed to the primary (read-write) endpoint.',
  },
  'self-managed': {
    walLevel: ['As a superuser:', '  ALTER SYSTEM SET wal_level = logical;', RESTART_SELF],
    replication: (role) => ['As a superuser:', `  ALTER ROLE ${role} REPLICATION;`],
    raise: (name) => ['As a superuser:', `  ALTER SYSTEM SET ${name} = <n>;`, RESTART_SELF],
    upgrade: 'Upgrade the cluster with pg_upgrade (or dump and restore) to PostgreSQL 15 or later.',
    direct: 'Connect to PostgreSQL itself (usually port 5432), not PgBouncer or another pooler.',
    network:
      'Is PostgreSQL running and listening there? Check listen_addresses and port in postgresql.conf, and any firewall.',
    tls: TLS_CHECK,
    feedback: [
      'On the standby, as a superuser:',
      '  ALTER SYSTEM SET hot_standby_feedback = on;',
      '  SELECT pg_reload_conf();',
      'and give it a physical slot on the primary (primary_slot_name), so the feedback outlives a reconnect.',
    ],
    primaryWalLevel: [
      'On the primary, as a superuser (the standby needs wal_level = logical too):',
      '  ALTER SYSTEM SET wal_level = logical;',
      '  then restart the primary; the standby follows once it has replayed that',
    ],
  },
};

/** Copy-paste fixes, tuned to the platform. `role` is the user doctor connected as. */
export function platformFixes(platform: Platform, role: string) {
  const row = PLATFORM_FIXES[platform];
  const r = quoteIdentifierIfNeeded(role);
  const selfManaged = platform === 'self-managed';
  const name = PLATFORM_NAMES[platform];
  return {
    walLevel: (): string => row.walLevel.join('\n'),
    replication: (): string => row.replication(r).join('\n'),
    hba(): string {
      if (!selfManaged) {
        return [
          `The server's access rules refused a replication connection for ${role}.`,
          'Grant the role replication as your platform documents, and connect to the direct endpoint.',
        ].join('\n');
      }
      return [
        'Add a pg_hba.conf line that admits the role to this database (a feed’s logical replication',
        'connection matches the database’s lines, or "all"; the "replication" keyword is for physical',
        'replication only):',
        `  host  <database>  ${role}  <client-ip>/32  scram-sha-256`,
        'then, as a superuser: SELECT pg_reload_conf();',
      ].join('\n');
    },
    /** Lets `role` open a physical replication session (RawFeed), or says the platform does not. */
    physicalHba(): string {
      if (!selfManaged) {
        return [
          `${name} manages pg_hba.conf and documents physical replication only for its own replicas, not for`,
          "customers' roles: RawFeed cannot run there. Use WalFeed: apply the fix under wal_level.",
        ].join('\n');
      }
      return [
        'Add a pg_hba.conf line whose database column is the keyword replication (a physical session, as a',
        'RawFeed opens, matches only those lines; "all" does not cover it):',
        `  host  replication  ${role}  <client-ip>/32  scram-sha-256`,
        'then, as a superuser: SELECT pg_reload_conf();',
      ].join('\n');
    },
    maxSetting(setting: LimitSetting): string {
      const free =
        setting === 'max_replication_slots'
          ? [
              'Or drop a slot nobody uses (check pg_replication_slots first):',
              "  SELECT pg_drop_replication_slot('<slot_name>');",
            ]
          : ['Or end idle replication sessions (see pg_stat_replication).'];
      return [...row.raise(setting), ...free].join('\n');
    },
    wal2json(testDecodingWorks: boolean): string {
      const fallback = testDecodingWorks
        ? 'Optional: pgnudge falls back to test_decoding, which ships with PostgreSQL (plugin auto).'
        : 'Or use test_decoding (ships with PostgreSQL): pgnudge watch --plugin test_decoding';
      if (!selfManaged) return [`${name} normally provides wal2json.`, fallback].join('\n');
      return [
        'Install wal2json for the server’s major version (no restart needed), e.g.',
        '  Debian/Ubuntu (PGDG): sudo apt-get install postgresql-<major>-wal2json',
        '  RHEL/Fedora (PGDG):   sudo dnf install wal2json_<major>',
        fallback,
      ].join('\n');
    },
    untrustedPlugin(plugin: PluginName, otherWorks: boolean): string {
      const fallback = otherWorks
        ? 'Optional: pgnudge falls back to test_decoding (plugin auto).'
        : 'Or use a plugin the server already trusts.';
      const how = selfManaged
        ? [
            'As a superuser, add it to the trusted output plugins and reload:',
            `  ALTER SYSTEM SET output_plugin_libraries = 'pgoutput, test_decoding, ${plugin}';`,
            '  SELECT pg_reload_conf();',
          ]
        : [`Add ${plugin} to the output_plugin_libraries parameter of ${name}.`];
      return [...how, fallback].join('\n');
    },
    testDecoding(): string {
      return selfManaged
        ? 'test_decoding ships with PostgreSQL (contrib); install your distribution’s contrib package for this major.'
        : `${name} should provide test_decoding; ask its support.`;
    },
    version: (): string => `pgnudge needs PostgreSQL 15 or later.\n  ${row.upgrade}`,
    feedback: (): string => row.feedback.join('\n'),
    primaryWalLevel: (): string => row.primaryWalLevel.join('\n'),
    /** Why a standby on this platform may not decode at all, or null when the platform documents it does. */
    replicaDecoding: (): string | null => row.replicaDecoding ?? null,
    standbyVersion: (): string =>
      [
        'Logical decoding on a standby needs PostgreSQL 16 or later: connect the feed to the primary,',
        `or upgrade both.  ${row.upgrade}`,
      ].join('\n'),
    direct: (): string => `Replication cannot go through a transaction pooler.\n${row.direct}`,
    connection(failure: Failure, target: string): string {
      switch (failure.code) {
        case 'PGNUDGE_ERR_AUTH_FAILED':
          if (failure.sqlState === '28000') {
            return selfManaged
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
          return row.tls;
        case 'PGNUDGE_ERR_UNKNOWN_DATABASE':
          return 'Connect to a database that exists: the path of the --dsn URL, dbname=..., or PGDATABASE.';
        case 'PGNUDGE_ERR_CONNECTION':
        case 'PGNUDGE_ERR_CONNECT_TIMEOUT':
          return `Could not reach ${target}.\n${row.network}`;
        case 'PGNUDGE_ERR_PROTOCOL':
          return 'Something other than PostgreSQL answered (a pooler or another service?): check the host and port.';
        default:
          return 'Fix the cause above and run pgnudge doctor again.';
      }
    },
  };
}

/** What {@link platformFixes} returns. */
export type PlatformFixes = ReturnType<typeof platformFixes>;

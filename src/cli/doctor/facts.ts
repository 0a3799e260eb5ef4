// What `pgnudge doctor` learns about a server (gather.ts) and what it concludes (checks.ts): the types the
// rooms of doctor share.
import type { AutoPluginName, PluginName } from '../../decode/change.js';
import type { PgnudgeErrorCode } from '../../errors.js';
import type { Coverage, PublicationFacts, PublishedTable, TableKey } from '../../feed/publication.js';
import type { TableName } from '../../feed/tables.js';
import type { MissingTable } from '../../feed/watched-tables.js';

/** What the feed doctor checks for will read: a publication (`--publication`) and the tables it watches. */
export interface DoctorWatch {
  readonly publication: string | null;
  readonly tables: readonly TableName[] | null;
}

/** What doctor learned about the publication a feed would read. */
export interface PublicationReport {
  readonly name: string;
  /** null: it does not exist (in this database). */
  readonly facts: PublicationFacts | null;
  /** The tables it lists by name (at most LISTED_TABLES + 1), and the schemas it publishes whole. */
  readonly tables: readonly PublishedTable[];
  readonly schemas: readonly string[];
  /** Per watched table: exists, covered. */
  readonly coverage: readonly Coverage[];
  /** Per watched table: its replica identity's key, for the key-only CREATE PUBLICATION. */
  readonly keys: readonly TableKey[] | null;
  /** Why the catalog could not be read, if it could not. */
  readonly error?: string;
}

/** Where the server runs, as far as its settings, roles and host name tell. */
export type Platform = 'rds' | 'aurora' | 'azure' | 'cloudsql' | 'supabase' | 'neon' | 'self-managed';

/**
 * An error, reduced to what the checks look at. `message` is the server's own text when there is one.
 * `code` is pgnudge's (docs/errors.md), absent when the error was not a PgnudgeError; `timedOut` marks
 * doctor's own give-up on a slot probe, which no error stands for.
 */
export interface Failure {
  code?: PgnudgeErrorCode;
  sqlState?: string;
  message: string;
  timedOut?: true;
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
  /** `pg_is_in_recovery()`: the server is a standby. */
  inRecovery?: boolean;
  /** The publication asked about with --publication, and what doctor learned of it. */
  publication?: PublicationReport;
  /** With --table: the tables asked about, and which of them are not tables (with near matches). */
  tables?: { asked: readonly TableName[]; missing?: readonly MissingTable[]; error?: string };
  /**
   * Whether a physical replication session (what a RawFeed opens: `replication=true`, matched by the
   * `replication` lines of pg_hba.conf) opened and answered IDENTIFY_SYSTEM; undefined when not probed.
   */
  physicalSession?: boolean;
  /** Why the physical replication session was refused. */
  physicalStartupError?: Failure;
}

/** The output plugins doctor probes, in the order `plugin: 'auto'` prefers them. */
export const PROBED_PLUGINS: readonly AutoPluginName[] = ['wal2json', 'test_decoding'];

/** The plugins doctor probes: the one a feed with a publication uses, else those `auto` chooses from. */
export function probedPlugins(publication: boolean): readonly PluginName[] {
  return publication ? ['pgoutput'] : PROBED_PLUGINS;
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
  | 'plugin_pgoutput'
  | 'publication'
  | 'standby'
  | 'direct_connection'
  | 'tables'
  | 'physical_replication';

/**
 * One check: `fix` is copy-paste text for a failed check, else null. `skipped` checks could not run;
 * a `warning` failed without stopping a feed (it runs, but misses what the detail says).
 */
export interface DoctorCheck {
  name: CheckName;
  ok: boolean;
  detail: string;
  fix: string | null;
  skipped?: true;
  warning?: true;
}

/** The feed kinds doctor recommends: logical decoding, or physical WAL (contract R27). */
export type FeedKind = 'WalFeed' | 'RawFeed';

/**
 * The whole verdict; `ok` means a feed can run now: `feed` says which one doctor recommends (WalFeed,
 * with `plugin`, when it can run; else RawFeed), null when neither can.
 */
export interface DoctorReport {
  ok: boolean;
  plugin: PluginName | null;
  feed: FeedKind | null;
  /** Whether a RawFeed can run here (it may, beside a WalFeed that is recommended first). */
  rawFeed: boolean;
  checks: DoctorCheck[];
  platform: Platform;
  target: string;
}

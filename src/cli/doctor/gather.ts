// Doctor's I/O: connects as a feed would and turns everything it can learn, refusals included, into facts.
// Creates only TEMPORARY slots, drops them, and closes its session, so nothing is left behind.
import { randomBytes } from 'node:crypto';
import { PgnudgeError, ServerError } from '../../errors.js';
import { formatCreateSlot, formatDropSlot, generateSlotName } from '../../feed/commands.js';
import {
  coverageSql,
  parseCoverage,
  parsePublication,
  parsePublishedSchemas,
  parsePublishedTables,
  parseTableKeys,
  publicationSql,
  publishedSchemasSql,
  publishedTablesSql,
  tableKeysSql,
} from '../../feed/publication.js';
import type { TableName } from '../../feed/tables.js';
import { missingTables, watchedTablesQuery } from '../../feed/watched-tables.js';
import type { BoundLogger } from '../../logger.js';
import type { QueryResult } from '../../protocol/query-response.js';
import { quoteLiteral } from '../../protocol/quote.js';
import { PgConnection, type ReplicationMode } from '../../transport/connection.js';
import type { ConnectionSettings } from '../../transport/settings.js';
import {
  type DoctorFacts,
  type DoctorWatch,
  type Failure,
  type PublicationReport,
  probedPlugins,
} from './facts.js';
import { PLATFORM_ROLES } from './platform.js';

/** Reduces an error to what the checks look at. */
export function toFailure(error: unknown): Failure {
  if (error instanceof ServerError) {
    return { code: error.code, sqlState: error.sqlState, message: error.fields.message };
  }
  if (error instanceof PgnudgeError) return { code: error.code, message: error.message };
  // Not pgnudge's own error: no code from docs/errors.md stands for it, so it gets none.
  return { message: error instanceof Error ? error.message : String(error) };
}

/** Startup refusals after which an ordinary session can still tell doctor about the server. */
function worthPlainSession(error: unknown): boolean {
  if (!(error instanceof PgnudgeError)) return false;
  if (
    error.code === 'PGNUDGE_ERR_REPLICATION_DENIED' ||
    error.code === 'PGNUDGE_ERR_PROTOCOL' ||
    error.code === 'PGNUDGE_ERR_POOLER'
  )
    return true;
  return error instanceof ServerError && error.code === 'PGNUDGE_ERR_SERVER';
}

export interface GatherOptions {
  logger?: BoundLogger;
  /** The publication and tables the feed will read, if any (--publication, --table). */
  watch?: DoctorWatch;
  /** --table: the tables to look for. */
  tables?: readonly TableName[];
  /** Longest wait for one temporary slot (it waits for running transactions). Default 30000. */
  probeTimeoutMs?: number;
  /** Slot-name randomness, for tests. */
  random?: () => Uint8Array;
}

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
    const watch = options.watch;
    if (watch?.publication != null) {
      facts.publication = await gatherPublication(connection, watch.publication, watch.tables ?? null);
    }
    if (options.tables !== undefined) await gatherTables(connection, facts, options.tables);
    if (facts.replicationSession) {
      if (facts.inRecovery) {
        options.logger?.warn(
          `${target.target} is a hot standby: each slot probe waits for the primary's next running-transactions record (up to 15 s on an idle primary); SELECT pg_log_standby_snapshot() on the primary ends the wait`,
        );
      }
      await probePlugins(connection, facts, options);
    }
  } finally {
    // Terminate, without waiting for the server (contract R10).
    connection.terminate();
  }
  await probePhysical(settings, facts, options);
  return facts;
}

/**
 * Opens the session a RawFeed opens (physical replication, `replication=true`, matched by the
 * `replication` lines of pg_hba.conf) and asks IDENTIFY_SYSTEM; creates nothing.
 */
async function probePhysical(
  settings: ConnectionSettings,
  facts: DoctorFacts,
  options: GatherOptions,
): Promise<void> {
  let physical: PgConnection;
  try {
    physical = await PgConnection.connect(settings, {
      replication: 'physical',
      ...(options.logger ? { logger: options.logger } : {}),
    });
  } catch (error) {
    facts.physicalSession = false;
    facts.physicalStartupError = toFailure(error);
    return;
  }
  try {
    facts.physicalSession = (await rowsOf(physical, 'IDENTIFY_SYSTEM')) !== undefined;
    if (!facts.physicalSession) {
      facts.physicalStartupError = { message: 'the session opened, but IDENTIFY_SYSTEM was not answered' };
    }
  } finally {
    // Terminate, without waiting for the server (contract R10).
    physical.terminate();
  }
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
  const list = PLATFORM_ROLES.map((name) => quoteLiteral(name)).join(', ');
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
    "SELECT name, setting FROM pg_settings WHERE name IN ('wal_level', 'max_replication_slots', 'max_wal_senders', 'hot_standby_feedback', 'primary_slot_name') OR name ~ '^(rds|aurora|apg|azure|cloudsql|neon|supabase)[._]' ORDER BY name",
  );
  const recovery = await rowsOf(connection, 'SELECT pg_is_in_recovery()');
  if (recovery?.[0]?.[0] != null) facts.inRecovery = recovery[0][0] === 't';
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

/** What the catalog says about publication `name`; a failed query becomes `error`, never a throw. */
async function gatherPublication(
  connection: PgConnection,
  name: string,
  tables: readonly TableName[] | null,
): Promise<PublicationReport> {
  const report = { name, facts: null, tables: [], schemas: [], coverage: [], keys: null };
  try {
    const facts = parsePublication(name, (await connection.query(publicationSql(name)))[0]);
    const keys =
      tables === null ? null : parseTableKeys(tables, (await connection.query(tableKeysSql(tables)))[0]);
    if (facts === null) return { ...report, keys };
    const [listed, schemas, coverage] = await Promise.all([
      connection.query(publishedTablesSql(name)),
      connection.query(publishedSchemasSql(name)),
      tables === null ? Promise.resolve([]) : connection.query(coverageSql(name, tables)),
    ]);
    return {
      name,
      facts,
      tables: parsePublishedTables(listed[0]),
      schemas: parsePublishedSchemas(schemas[0]),
      coverage: tables === null ? [] : parseCoverage(tables, coverage[0]),
      keys,
    };
  } catch (error) {
    return { ...report, error: error instanceof Error ? error.message : String(error) };
  }
}

/** Which of `tables` exist, by the query a feed runs at connect (watched-tables.ts). */
async function gatherTables(
  connection: PgConnection,
  facts: DoctorFacts,
  tables: readonly TableName[],
): Promise<void> {
  try {
    const [result] = await connection.query(watchedTablesQuery(tables));
    facts.tables = { asked: tables, missing: missingTables(tables, result?.rows ?? []) };
  } catch (error) {
    facts.tables = { asked: tables, error: toFailure(error).message };
  }
}

async function probePlugins(
  connection: PgConnection,
  facts: DoctorFacts,
  options: GatherOptions,
): Promise<void> {
  const timeoutMs = options.probeTimeoutMs ?? 30_000;
  const random = options.random ?? (() => randomBytes(8));
  for (const plugin of probedPlugins(facts.publication !== undefined)) {
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
            timedOut: true,
            message: `creating a slot waited more than ${timeoutMs} ms: a long-running transaction keeps logical decoding from starting`,
          },
        };
        facts.probeAbort = 'not probed: the previous probe timed out';
        return;
      }
      await connection.query(formatDropSlot(slot)).catch(() => {
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

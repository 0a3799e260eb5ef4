// Classifies an ErrorResponse (PG docs Appendix A "PostgreSQL Error Codes") into pgnudge's codes, with the fix a
// user must apply, so startup and the replication commands report causes the same way (contract R11).

import { isRetryableSqlState, ServerError, type ServerErrorCode, type ServerErrorFields } from '../errors.js';
import { quoteIdentifier, quoteIdentifierIfNeeded } from './quote.js';

/** pgnudge's reading of an ErrorResponse. */
export interface ServerErrorClassification {
  code: ServerErrorCode;
  retryable: boolean;
  fix?: string;
}

/**
 * Where the error arrived: `startup` (before ReadyForQuery) or `query` (a replication command such as
 * CREATE_REPLICATION_SLOT or START_REPLICATION).
 */
export type ServerErrorContext = 'startup' | 'query';

/** What the client knows about the session that the server's message may not say. */
export interface SessionFacts {
  /** The role the client logged in as. */
  user?: string;
}

const REPLICATION_MENTION = /replication|wal sender|walsender/i;
// pg_hba.conf refusals (auth.c). Only a physical walsender's says "replication connection": a logical one
// (replication=database, what a feed opens) is matched against the lines of its database, like any session.
const HBA_REFUSAL = /pg_hba\.conf/;
const PHYSICAL_HBA_REFUSAL = /pg_hba\.conf (?:entry for|rejects) replication connection/;
const HBA_DATABASE = /database "((?:[^"]|"")*)"/;
// PgBouncer's answer to a startup parameter it does not pass on (`replication`, or a setting pgnudge pins
// for the session, whichever comes first): a plain 08P01 that would otherwise be retried for ever, though
// no pooler will ever carry a walsender. PostgreSQL itself never says this (it reports unknown settings
// as 42704).
const POOLER_REFUSAL = /^unsupported startup parameter: /;
const MISSING_FILE = /could not access file "([^"]+)"/;
const UNTRUSTED_PLUGIN = /library "([^"]+)" may not be used as an output plugin/;
// The server prints the name as it is, quotes and all.
const MISSING_PUBLICATION = /^publication "(.*)" does not exist$/s;
// PostgreSQL 16+ says what fails on a standby; 18 quotes the setting's name and value.
const PRIMARY_WAL_LEVEL = /on the primary/;

/**
 * Maps SQLSTATE and message to a code, retryability and a fix sentence. Message texts are matched only
 * where the SQLSTATE alone is ambiguous; they are the English texts of PostgreSQL 15–18, e.g.
 * "must be superuser or replication role to start walsender" (15) and "permission denied to start WAL sender" (16+).
 */
export function classifyServerError(
  fields: ServerErrorFields,
  context: ServerErrorContext,
  session: SessionFacts = {},
): ServerErrorClassification {
  const { sqlState, message } = fields;
  // The server's message does not name the role; the fix should be copy-paste ready when we know it.
  const role = session.user === undefined ? '<role>' : quoteIdentifier(session.user);
  const hbaRole = session.user === undefined ? '<role>' : hbaName(session.user);
  const text = `${message}\n${fields.detail ?? ''}`;
  // Newer minor releases (e.g. 15.20) let REPLICATION roles load only the output plugins named in
  // output_plugin_libraries (default 'pgoutput, test_decoding'): installed, but not trusted. To a feed
  // that is the same as missing (auto falls back to test_decoding); the fix is a setting, not a package.
  const untrusted = sqlState === '42501' ? UNTRUSTED_PLUGIN.exec(message)?.[1] : undefined;
  if (untrusted !== undefined) {
    return {
      code: 'PGNUDGE_ERR_PLUGIN_MISSING',
      retryable: false,
      fix: `A superuser can trust it: add ${untrusted} to output_plugin_libraries (e.g. ALTER SYSTEM SET output_plugin_libraries = 'pgoutput, test_decoding, ${untrusted}'; SELECT pg_reload_conf();), or choose plugin test_decoding.`,
    };
  }
  if (context === 'startup' && sqlState === '08P01' && POOLER_REFUSAL.test(message)) {
    return {
      code: 'PGNUDGE_ERR_POOLER',
      retryable: false,
      fix: 'Connect to PostgreSQL itself (usually port 5432), not PgBouncer or another pooler, which refuses the startup parameters of pgnudge sessions: a pooler cannot carry replication.',
    };
  }
  if (sqlState === '28000' && PHYSICAL_HBA_REFUSAL.test(message)) {
    return {
      code: 'PGNUDGE_ERR_REPLICATION_DENIED',
      retryable: false,
      fix: `Add a pg_hba.conf line whose database column is "replication" (physical replication matches only that keyword), e.g. host replication ${hbaRole} <client-ip>/32 scram-sha-256, then SELECT pg_reload_conf(); as a superuser.`,
    };
  }
  if (sqlState === '28000' && HBA_REFUSAL.test(message)) {
    const database = HBA_DATABASE.exec(message)?.[1]?.replaceAll('""', '"');
    const column = database === undefined ? '<database>' : hbaName(database);
    return {
      code: 'PGNUDGE_ERR_AUTH_FAILED',
      retryable: false,
      fix: `Add a pg_hba.conf line that admits this role to this database, e.g. host ${column} ${hbaRole} <client-ip>/32 scram-sha-256 (or "all" in the database column), then SELECT pg_reload_conf(); as a superuser. A logical replication connection matches the database's lines; the "replication" keyword covers physical replication only.`,
    };
  }
  if (sqlState === '42501' && REPLICATION_MENTION.test(text)) {
    return {
      code: 'PGNUDGE_ERR_REPLICATION_DENIED',
      retryable: false,
      fix: `Grant the role the REPLICATION attribute (as a superuser): ALTER ROLE ${role} WITH REPLICATION;`,
    };
  }
  if (sqlState === '28P01' || sqlState === '28000') {
    return {
      code: 'PGNUDGE_ERR_AUTH_FAILED',
      retryable: false,
      fix: 'Check the user name and password (PGUSER, PGPASSWORD, ~/.pgpass) and the pg_hba.conf entry for this host.',
    };
  }
  if (sqlState === '3D000') {
    return {
      code: 'PGNUDGE_ERR_UNKNOWN_DATABASE',
      retryable: false,
      fix: 'Create the database or connect to an existing one (dbname / PGDATABASE).',
    };
  }
  if (sqlState === '55000' && /wal_level/.test(message) && PRIMARY_WAL_LEVEL.test(message)) {
    return {
      code: 'PGNUDGE_ERR_WAL_LEVEL',
      retryable: false,
      fix: 'This server is a standby: set wal_level = logical on its primary (ALTER SYSTEM SET wal_level = logical there) and restart the primary; the standby follows once it has replayed that.',
    };
  }
  if (sqlState === '55000' && /cannot be used while in recovery/.test(message)) {
    return {
      code: 'PGNUDGE_ERR_SERVER',
      retryable: false,
      fix: 'This server is a standby, and logical decoding on a standby needs PostgreSQL 16 or later: connect to the primary, or upgrade the standby and its primary.',
    };
  }
  if (sqlState === '55000' && /wal_level/.test(message)) {
    return {
      code: 'PGNUDGE_ERR_WAL_LEVEL',
      retryable: false,
      fix: 'Set wal_level = logical in postgresql.conf (ALTER SYSTEM SET wal_level = logical) and restart the server.',
    };
  }
  if (context === 'query' && sqlState === '58P01') {
    const plugin = MISSING_FILE.exec(message)?.[1];
    if (plugin !== undefined) {
      return {
        code: 'PGNUDGE_ERR_PLUGIN_MISSING',
        retryable: false,
        fix: `Install the output plugin "${plugin}" on the server (e.g. the postgresql-<major>-wal2json package), or choose plugin test_decoding.`,
      };
    }
  }
  // PostgreSQL 15–17 refuse a missing publication only when the stream loads it (a feed checks first,
  // so this is one dropped while the feed ran, or between its check and START_REPLICATION).
  const publication = sqlState === '42704' ? MISSING_PUBLICATION.exec(message)?.[1] : undefined;
  if (publication !== undefined) {
    return {
      code: 'PGNUDGE_ERR_PUBLICATION_MISSING',
      retryable: false,
      fix: `pgnudge never creates a publication: its owner must (e.g. CREATE PUBLICATION ${quoteIdentifierIfNeeded(publication)} FOR TABLE <schema.table> (<key columns>), ...;), or run pgnudge doctor --publication for the exact statement.`,
    };
  }
  if (sqlState === '53300' || sqlState === '53400') {
    // Too many connections, all replication slots in use, max_wal_senders exceeded: a slot frees up when
    // another session ends, so waiting heals it.
    return {
      code: 'PGNUDGE_ERR_SERVER',
      retryable: true,
      fix: 'Another session may free a slot soon; otherwise raise max_connections, max_wal_senders or max_replication_slots.',
    };
  }
  return { code: 'PGNUDGE_ERR_SERVER', retryable: isRetryableSqlState(sqlState) };
}

/** Words pg_hba.conf reads as keywords in its database and user columns, unless quoted. */
const HBA_KEYWORDS = new Set(['all', 'sameuser', 'samerole', 'samegroup', 'replication']);

/** A database or role name as a pg_hba.conf column takes it: bare when plain, else in double quotes. */
function hbaName(name: string): string {
  return /^[a-z_][a-z0-9_]*$/.test(name) && !HBA_KEYWORDS.has(name) ? name : `"${name}"`;
}

/** Builds the ServerError for an ErrorResponse, classified by {@link classifyServerError}. */
export function serverErrorFromFields(
  fields: ServerErrorFields,
  context: ServerErrorContext,
  session: SessionFacts = {},
): ServerError {
  return new ServerError(fields, classifyServerError(fields, context, session));
}

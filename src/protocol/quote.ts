// Every way pgnudge puts caller or catalog text into a statement: SQL identifiers, SQL string literals, and the
// replication grammar's string literal (PG docs §4.1.1 "Identifiers and Key Words", §4.1.2.2 "String
// Constants with C-Style Escapes", §55.4 "Streaming Replication Protocol"). Each form means exactly the text
// given, whatever it holds, so no name or value can change a statement (contract R18). Pure.

import { ConfigError } from '../errors.js';

/**
 * Keywords that PostgreSQL's quote_ident() quotes (every category but unreserved) on 15 to 18: the union of
 * `SELECT word FROM pg_get_keywords() WHERE catcode <> 'U'` on each major. A word that is a keyword on only
 * some majors is quoted on all, which is harmless; test/live/sql-quote.test.ts checks the running server.
 */
const QUOTED_KEYWORDS: ReadonlySet<string> = new Set(
  (
    'all analyse analyze and any array as asc asymmetric authorization between bigint binary bit boolean both ' +
    'case cast char character check coalesce collate collation column concurrently constraint create cross ' +
    'current_catalog current_date current_role current_schema current_time current_timestamp current_user dec ' +
    'decimal default deferrable desc distinct do else end except exists extract false fetch float for foreign ' +
    'freeze from full grant greatest group grouping having ilike in initially inner inout int integer intersect ' +
    'interval into is isnull join json json_array json_arrayagg json_exists json_object json_objectagg ' +
    'json_query json_scalar json_serialize json_table json_value lateral leading least left like limit ' +
    'localtime localtimestamp merge_action national natural nchar none normalize not notnull null nullif ' +
    'numeric offset on only or order out outer overlaps overlay placing position precision primary real ' +
    'references returning right row select session_user setof similar smallint some substring symmetric ' +
    'system_user table tablesample then time timestamp to trailing treat trim true union unique user using ' +
    'values varchar variadic verbose when where window with xmlattributes xmlconcat xmlelement xmlexists ' +
    'xmlforest xmlnamespaces xmlparse xmlpi xmlroot xmlserialize xmltable'
  ).split(' '),
);

const PLAIN_IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

/**
 * `"name"` with inner double quotes doubled: an identifier that means exactly `name` (case, spaces and dots
 * kept). What pgnudge sends and what its error messages print. `option` names what held the text when it has
 * a NUL, which no statement can carry.
 */
export function quoteIdentifier(name: string, option?: string): string {
  refuseNul(name, 'an SQL identifier', option);
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * PostgreSQL's quote_ident(): `name` bare when the server would read it back unchanged (lower case letters,
 * digits and `_`, not a keyword that needs quoting), else {@link quoteIdentifier}. For SQL a person reads and
 * pastes, such as doctor's fixes (`ALTER ROLE app REPLICATION`).
 */
export function quoteIdentifierIfNeeded(name: string, option?: string): string {
  return PLAIN_IDENTIFIER.test(name) && !QUOTED_KEYWORDS.has(name) ? name : quoteIdentifier(name, option);
}

/**
 * An SQL string literal that means exactly `text`: single quotes doubled, and when a backslash occurs, the
 * `E'…'` form with backslashes doubled, which reads the same whatever standard_conforming_strings says (as
 * libpq's PQescapeLiteral does).
 */
export function quoteLiteral(text: string, option?: string): string {
  refuseNul(text, 'an SQL string', option);
  const quoted = text.replaceAll("'", "''");
  return text.includes('\\') ? `E'${quoted.replaceAll('\\', '\\\\')}'` : `'${quoted}'`;
}

/**
 * A string literal of the replication grammar (CREATE_REPLICATION_SLOT, START_REPLICATION options): `''`
 * stands for `'`, and a backslash is an ordinary character there, so it is not escaped.
 */
export function quoteReplicationLiteral(text: string, option?: string): string {
  refuseNul(text, 'a replication command value', option);
  return `'${text.replaceAll("'", "''")}'`;
}

// A NUL would end the Query message early and truncate the statement.
function refuseNul(text: string, what: string, option: string | undefined): void {
  if (text.includes('\0')) {
    throw new ConfigError(`${what} contains a NUL character, which PostgreSQL cannot accept`, option);
  }
}

// Which watched tables exist (issue 21): naming a table that does not exist yet is allowed (contract R14),
// but a typo would otherwise wait for ever in silence. One catalog query at connect, on the session's own
// connection before the stream starts (a replication=database walsender also runs SQL), finds each
// watched table and every relation of the same name in any schema, whatever its case. Pure: the query
// text in, rows out; the feed and doctor run it.
import { ServerError } from '../errors.js';
import { type BoundLogger, printable } from '../logger.js';
import type { QueryResult } from '../protocol/query-response.js';
import { quoteIdentifierIfNeeded, quoteLiteral } from '../protocol/quote.js';
import type { TableName } from './tables.js';

/** A watched table that is not a table the feed can see changes of, and what exists instead. */
export interface MissingTable {
  readonly table: TableName;
  /** What the name is, when it is something other than a table (a view, ...); else undefined. */
  readonly kind: string | undefined;
  /** Tables of the same name, compared without case, in any schema (the exact one excluded). */
  readonly near: readonly TableName[];
}

/** Relations whose rows reach the WAL: ordinary and partitioned tables. */
const TABLE_KINDS = new Set(['r', 'p']);
const KIND_NAMES: Readonly<Record<string, string>> = {
  v: 'a view',
  m: 'a materialized view',
  f: 'a foreign table',
  S: 'a sequence',
  i: 'an index',
  I: 'an index',
  c: 'a composite type',
  t: 'a TOAST table',
};

/** Near matches named per missing table, at most; a schema-per-tenant database could have hundreds. */
const MAX_NEAR = 5;

/**
 * The catalog query for `tables`: one row per relation whose name equals a watched table's, ignoring
 * case, in any schema: `[index of the watched table, schema, name, relkind]`.
 */
export function watchedTablesQuery(tables: readonly TableName[]): string {
  const watched = tables
    .map((name, index) => `(${index}, ${quoteLiteral(name.schema)}, ${quoteLiteral(name.table)})`)
    .join(', ');
  return [
    'SELECT w.i, n.nspname, c.relname, c.relkind',
    `FROM (VALUES ${watched}) AS w(i, s, t)`,
    'JOIN pg_catalog.pg_class c ON lower(c.relname) = lower(w.t)',
    'JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace',
    'ORDER BY w.i, n.nspname, c.relname',
  ].join(' ');
}

/** The watched tables that the rows of {@link watchedTablesQuery} show are not tables, in watch order. */
export function missingTables(
  tables: readonly TableName[],
  rows: readonly (readonly (string | null)[])[],
): MissingTable[] {
  const found = tables.map(() => ({ exact: undefined as string | undefined, near: [] as TableName[] }));
  for (const [index, schema, table, kind] of rows) {
    const entry = found[Number(index)];
    const watched = tables[Number(index)];
    if (entry === undefined || watched === undefined || schema == null || table == null || kind == null) {
      continue;
    }
    if (schema === watched.schema && table === watched.table) entry.exact = kind;
    else if (TABLE_KINDS.has(kind)) entry.near.push({ schema, table });
  }
  const missing: MissingTable[] = [];
  tables.forEach((table, index) => {
    const { exact, near } = found[index]!;
    if (exact !== undefined && TABLE_KINDS.has(exact)) return;
    missing.push({
      table,
      kind: exact === undefined ? undefined : (KIND_NAMES[exact] ?? 'not a table'),
      near,
    });
  });
  return missing;
}

/** A table name as a user writes it in `tables` or `--table`, safe for a log line. */
export function showTable(name: TableName): string {
  return printable(`${quoteIdentifierIfNeeded(name.schema)}.${quoteIdentifierIfNeeded(name.table)}`);
}

/** What to tell about one missing table: what it is, that it wakes nothing yet, and what exists instead. */
export function describeMissingTable(missing: MissingTable): string {
  const shown = showTable(missing.table);
  const what =
    missing.kind === undefined
      ? `${shown} does not exist (yet): it wakes the feed once it is created`
      : `${shown} is ${missing.kind}, not a table: its changes never reach the feed; watch the tables it reads`;
  if (missing.near.length === 0) return what;
  const near = missing.near.slice(0, MAX_NEAR).map(showTable);
  const more = missing.near.length > MAX_NEAR ? ` and ${missing.near.length - MAX_NEAR} more` : '';
  return `${what}; did you mean ${near.join(', ')}${more}?`;
}

/** The start-up line's list of watched tables. */
export function describeWatched(tables: readonly TableName[] | null): string {
  return tables === null ? 'every table' : tables.map(showTable).join(', ');
}

/**
 * Runs the catalog query through `query` (the session's connection, bounded by its watchdog) and warns
 * once per missing table. A query the server refuses is only a debug line: the check is a courtesy, never
 * a reason to fail a feed; a connection that ends meanwhile ends the session as usual.
 */
export async function warnMissingTables(
  query: (sql: string) => Promise<QueryResult[]>,
  tables: readonly TableName[],
  log: BoundLogger,
): Promise<void> {
  let rows: QueryResult['rows'];
  try {
    rows = (await query(watchedTablesQuery(tables)))[0]?.rows ?? [];
  } catch (error) {
    if (!(error instanceof ServerError) || error.severity === 'FATAL') throw error;
    log.debug(`could not check which watched tables exist: ${error.message}`);
    return;
  }
  for (const missing of missingTables(tables, rows))
    log.warn(`watched table ${describeMissingTable(missing)}`);
}

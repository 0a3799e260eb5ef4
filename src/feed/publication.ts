// What a feed and doctor learn about a publication from the catalog (contract R25), and what they say
// about it: the CREATE PUBLICATION that would make a missing one (key-only where a table has a key: the
// server then sends almost nothing per row), and the ways a publication hides changes from the feed (ops
// it does not publish, row filters, watched tables it does not cover). pgnudge never creates, alters or
// drops a publication; it only reads pg_publication. The SQL runs on any session, a walsender included
// (replication=database accepts SQL before streaming); everything else here is pure.
import type { ChangeOp } from '../decode/change.js';
import { PublicationError } from '../errors.js';
import type { QueryResult } from '../protocol/query-response.js';
import { quoteIdentifierIfNeeded, quoteLiteral } from '../protocol/quote.js';
import { formatPayload, type TableName } from './tables.js';

/** Runs SQL (one or more statements) and resolves with one result per statement. */
export type RunQuery = (sql: string) => Promise<QueryResult[]>;

/** What pg_publication says about one publication. */
export interface PublicationFacts {
  readonly name: string;
  /** `FOR ALL TABLES`. */
  readonly allTables: boolean;
  /** `publish_via_partition_root`: a partition's changes come as its published ancestor's. */
  readonly viaRoot: boolean;
  /** The ops it does not publish (its `publish` option): such changes never reach a feed. */
  readonly unpublished: readonly ChangeOp[];
  /** How many of its tables have a row filter (`FOR TABLE t WHERE ...`): rows outside it never reach a feed. */
  readonly rowFilters: number;
}

/** Whether a watched table exists and whether the publication carries its changes. */
export interface Coverage {
  readonly table: TableName;
  readonly exists: boolean;
  /** The table, a partition below it, or a partitioned table above it is published. */
  readonly covered: boolean;
}

/** A watched table's replica identity, as far as a column list can follow it. */
export interface TableKey {
  readonly table: TableName;
  /** Whether the table exists (a `tables` entry may name one that does not yet). */
  readonly exists: boolean;
  /** `pg_class.relreplident`: `d` default (primary key), `n` nothing, `f` full, `i` index. */
  readonly identity: 'd' | 'n' | 'f' | 'i' | null;
  /** The replica identity's key columns in key order; empty when there is none (or it is FULL without a key). */
  readonly columns: readonly string[];
}

const OPS: readonly ChangeOp[] = ['insert', 'update', 'delete', 'truncate'];

/** The query behind {@link parsePublication}: one row, or none for a publication that does not exist. */
export function publicationSql(name: string): string {
  return `SELECT p.puballtables, p.pubviaroot, p.pubinsert, p.pubupdate, p.pubdelete, p.pubtruncate,
  (SELECT count(*) FROM pg_catalog.pg_publication_rel r WHERE r.prpubid = p.oid AND r.prqual IS NOT NULL)
FROM pg_catalog.pg_publication p WHERE p.pubname = ${quoteLiteral(name, 'publication')}`;
}

/** The facts of publication `name` from {@link publicationSql}'s result, or null when it does not exist. */
export function parsePublication(name: string, result: QueryResult | undefined): PublicationFacts | null {
  const row = result?.rows[0];
  if (row === undefined) return null;
  const flag = (i: number) => row[i] === 't';
  return {
    name,
    allTables: flag(0),
    viaRoot: flag(1),
    unpublished: OPS.filter((_, i) => !flag(2 + i)),
    rowFilters: Number(row[6] ?? 0),
  };
}

/** `(VALUES (1, 's', 't'), ...) w(n, s, t)`: the watched tables as a relation, in order. */
function watchedValues(tables: readonly TableName[]): string {
  const rows = tables.map(
    (t, i) => `(${i}, ${quoteLiteral(t.schema, 'tables')}, ${quoteLiteral(t.table, 'tables')})`,
  );
  return `(VALUES ${rows.join(', ')}) w(n, s, t)`;
}

/** The watched tables (by `watchedValues`) joined to the catalog: `c` is the table, NULL when it does not exist. */
function watchedJoin(tables: readonly TableName[]): string {
  return `FROM ${watchedValues(tables)}
  LEFT JOIN pg_catalog.pg_namespace n ON n.nspname = w.s
  LEFT JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = w.t AND c.relkind IN ('r', 'p')`;
}

/**
 * The query behind {@link parseCoverage}: per watched table, whether it exists and whether publication
 * `name` carries its changes (the table, a partition below it or an ancestor above it is published).
 */
export function coverageSql(name: string, tables: readonly TableName[]): string {
  return `SELECT w.n, c.oid IS NOT NULL, EXISTS (
    SELECT 1 FROM (SELECT c.oid AS relid UNION SELECT relid FROM pg_catalog.pg_partition_tree(c.oid)
                   UNION SELECT relid FROM pg_catalog.pg_partition_ancestors(c.oid)) tree
    JOIN pg_catalog.pg_class pc ON pc.oid = tree.relid
    JOIN pg_catalog.pg_namespace pn ON pn.oid = pc.relnamespace
    JOIN pg_catalog.pg_publication_tables pt
      ON pt.pubname = ${quoteLiteral(name, 'publication')} AND pt.schemaname = pn.nspname AND pt.tablename = pc.relname)
${watchedJoin(tables)}
ORDER BY w.n`;
}

export function parseCoverage(tables: readonly TableName[], result: QueryResult | undefined): Coverage[] {
  return (result?.rows ?? []).map((row) => ({
    table: tables[Number(row[0])]!,
    exists: row[1] === 't',
    covered: row[2] === 't',
  }));
}

/**
 * The query behind {@link parseTableKeys}: per watched table, its replica identity and that identity's key
 * columns (the primary key's under `d` and `f`, the index's under `i`) as a JSON array.
 */
export function tableKeysSql(tables: readonly TableName[]): string {
  return `SELECT w.n, c.relreplident, (
    SELECT pg_catalog.json_agg(a.attname ORDER BY k.ord)
    FROM pg_catalog.pg_index i
    CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
    JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
    WHERE i.indrelid = c.oid
      AND CASE c.relreplident WHEN 'i' THEN i.indisreplident WHEN 'n' THEN false ELSE i.indisprimary END)
${watchedJoin(tables)}
ORDER BY w.n`;
}

export function parseTableKeys(tables: readonly TableName[], result: QueryResult | undefined): TableKey[] {
  return (result?.rows ?? []).map((row) => {
    const identity = row[1];
    const columns = row[2] == null ? [] : (JSON.parse(row[2]) as string[]);
    return {
      table: tables[Number(row[0])]!,
      exists: identity != null,
      identity:
        identity === 'd' || identity === 'n' || identity === 'f' || identity === 'i' ? identity : null,
      columns,
    };
  });
}

function quoteTable(table: TableName): string {
  return `${quoteIdentifierIfNeeded(table.schema)}.${quoteIdentifierIfNeeded(table.table)}`;
}

/**
 * The CREATE PUBLICATION that would let a feed watch `keys`' tables, each with a column list of its key
 * columns (the server then sends only those per row; a column list must hold the replica identity, so
 * a table under REPLICA IDENTITY FULL, or without a key, is listed whole), and notes for what the
 * statement leaves out or what it would break. With no tables: FOR ALL TABLES (a superuser's statement).
 */
export function formatCreatePublication(
  name: string,
  keys: readonly TableKey[] | null,
): { statement: string; notes: string[] } {
  const publication = quoteIdentifierIfNeeded(name);
  if (keys === null) {
    return {
      statement: `CREATE PUBLICATION ${publication} FOR ALL TABLES;`,
      notes: [
        'as a superuser; or, as the tables’ owner and far cheaper for the server, list the watched tables with their key columns (pgnudge doctor --publication NAME --table SCHEMA.TABLE ... prints that statement)',
      ],
    };
  }
  const entries: string[] = [];
  const notes: string[] = [];
  for (const key of keys) {
    const table = quoteTable(key.table);
    if (!key.exists) {
      notes.push(
        `${formatPayload(key.table)} does not exist yet: once it does, ALTER PUBLICATION ${publication} ADD TABLE ${table}`,
      );
    } else if (key.identity === 'f' || key.columns.length === 0) {
      entries.push(table);
      if (key.identity !== 'f') {
        notes.push(
          `${formatPayload(key.table)} has no replica identity: in a publication, its UPDATE and DELETE statements fail until it has a primary key or REPLICA IDENTITY FULL`,
        );
      }
    } else {
      entries.push(`${table} (${key.columns.map((column) => quoteIdentifierIfNeeded(column)).join(', ')})`);
    }
  }
  if (entries.length === 0) {
    return {
      statement: `CREATE PUBLICATION ${publication} FOR TABLE <schema.table> (<key columns>);`,
      notes,
    };
  }
  return { statement: `CREATE PUBLICATION ${publication} FOR TABLE ${entries.join(', ')};`, notes };
}

/**
 * What the feed should warn about: changes the publication never sends (ops it does not publish, rows
 * outside its row filters) and watched tables it does not cover. Empty when nothing is hidden.
 */
export function publicationWarnings(facts: PublicationFacts, coverage: readonly Coverage[]): string[] {
  const name = JSON.stringify(facts.name);
  const warnings: string[] = [];
  if (facts.unpublished.length > 0) {
    warnings.push(
      `publication ${name} does not publish ${facts.unpublished.join(', ')}: such changes never reach the feed and nudge nothing (its owner can ALTER PUBLICATION ${quoteIdentifierIfNeeded(facts.name)} SET (publish = 'insert, update, delete, truncate'))`,
    );
  }
  if (facts.rowFilters > 0) {
    warnings.push(
      `publication ${name} has a row filter on ${facts.rowFilters} table${facts.rowFilters === 1 ? '' : 's'}: changes to rows outside a filter never reach the feed and nudge nothing`,
    );
  }
  const uncovered = coverage.filter((c) => c.exists && !c.covered).map((c) => formatPayload(c.table));
  if (uncovered.length > 0) {
    warnings.push(
      `publication ${name} does not cover ${uncovered.map((t) => JSON.stringify(t)).join(', ')}: changes to ${uncovered.length === 1 ? 'it' : 'them'} never reach the feed (its owner can ALTER PUBLICATION ${quoteIdentifierIfNeeded(facts.name)} ADD TABLE ...)`,
    );
  }
  return warnings;
}

/**
 * The error for a publication that does not exist in `database`: its message names the CREATE
 * PUBLICATION that would make it, for `tables` (null: every table), looked up with `run`.
 */
export async function missingPublication(
  run: RunQuery,
  name: string,
  database: string,
  tables: readonly TableName[] | null,
): Promise<PublicationError> {
  const keys = tables === null ? null : parseTableKeys(tables, (await run(tableKeysSql(tables)))[0]);
  const { statement, notes } = formatCreatePublication(name, keys);
  return new PublicationError(
    name,
    `publication ${JSON.stringify(name)} does not exist in database ${JSON.stringify(database)}, and pgnudge never creates one (contract R25). Its owner can create it: ${statement}${notes.length > 0 ? ` (${notes.join('; ')})` : ''}`,
  );
}

/** A table a publication lists by name (`FOR TABLE`), with its column list and whether it has a row filter. */
export interface PublishedTable {
  readonly table: TableName;
  /** The column list, or null when every column is published. */
  readonly columns: readonly string[] | null;
  readonly rowFilter: boolean;
}

/** How many listed tables doctor shows before it says "and N more". */
export const LISTED_TABLES = 20;

/** The query behind {@link parsePublishedTables}: the tables publication `name` lists, at most LISTED_TABLES + 1. */
export function publishedTablesSql(name: string): string {
  return `SELECT n.nspname, c.relname,
  (SELECT pg_catalog.json_agg(a.attname ORDER BY a.attnum) FROM pg_catalog.pg_attribute a
    WHERE a.attrelid = r.prrelid AND a.attnum = ANY (r.prattrs)),
  r.prqual IS NOT NULL
FROM pg_catalog.pg_publication_rel r
JOIN pg_catalog.pg_publication p ON p.oid = r.prpubid
JOIN pg_catalog.pg_class c ON c.oid = r.prrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE p.pubname = ${quoteLiteral(name, 'publication')}
ORDER BY 1, 2 LIMIT ${LISTED_TABLES + 1}`;
}

export function parsePublishedTables(result: QueryResult | undefined): PublishedTable[] {
  return (result?.rows ?? []).map((row) => ({
    table: { schema: row[0] ?? '', table: row[1] ?? '' },
    columns: row[2] == null ? null : (JSON.parse(row[2]) as string[]),
    rowFilter: row[3] === 't',
  }));
}

/** The query behind {@link parsePublishedSchemas}: the schemas publication `name` publishes whole (`TABLES IN SCHEMA`). */
export function publishedSchemasSql(name: string): string {
  return `SELECT n.nspname FROM pg_catalog.pg_publication_namespace s
JOIN pg_catalog.pg_publication p ON p.oid = s.pnpubid
JOIN pg_catalog.pg_namespace n ON n.oid = s.pnnspid
WHERE p.pubname = ${quoteLiteral(name, 'publication')} ORDER BY 1`;
}

export function parsePublishedSchemas(result: QueryResult | undefined): string[] {
  return (result?.rows ?? []).map((row) => row[0] ?? '');
}

/** `schema.table (a, b)` as SQL would name it, for a listing. */
export function formatPublishedTable(entry: PublishedTable): string {
  const columns =
    entry.columns === null ? '' : ` (${entry.columns.map((c) => quoteIdentifierIfNeeded(c)).join(', ')})`;
  return `${quoteTable(entry.table)}${columns}${entry.rowFilter ? ' WHERE …' : ''}`;
}

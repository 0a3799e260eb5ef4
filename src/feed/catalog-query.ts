// The one catalog question a feed asks (contract R20, R23): for each relation named by schema and table, its
// partition lineage (the relation itself, then each ancestor up to the partition root) and, when row keys
// are on, its replica identity's key columns. Pure: SQL text out, query results in. Every name goes into the statement as a literal quoted by protocol/quote.ts, and every object
// is schema-qualified, so neither a name nor the role's search_path can change what the statement does
// (contract R18).

import { ProtocolError } from '../errors.js';
import type { QueryResult } from '../protocol/query-response.js';
import { quoteLiteral } from '../protocol/quote.js';
import type { TableName } from './tables.js';

/** What the catalog says about one relation, as of the moment it answered. */
export interface RelationFacts {
  /** The relation itself first, then its ancestors, nearest first: the last is the partition root. */
  readonly lineage: readonly TableName[];
  /** Whether the relation itself is a partitioned table (it holds no rows of its own). */
  readonly partitioned: boolean;
  /**
   * The replica identity's key columns in key order (contract R23): the primary key's under DEFAULT and
   * FULL, the index's under USING INDEX; null without one (no primary key, NOTHING), or when not asked.
   */
  readonly key: readonly string[] | null;
}

/**
 * The statement that describes `relations`: rows `(index, kind, n, schema, name, relkind)` ordered by index,
 * kind and n. Kind `l` is the n-th member of the relation's lineage: `pg_partition_ancestors` lists a
 * partition and its ancestors, nearest first; a relation that is no partition is its own lineage. With
 * `keys`, kind `k` is the n-th key column of its replica identity (contract R23). A relation the catalog does
 * not hold has no row.
 */
export function formatDescribeRelations(relations: readonly TableName[], keys = false): string {
  if (relations.length === 0) throw new RangeError('formatDescribeRelations needs at least one relation');
  return `WITH q(i, s, t) AS (VALUES ${namesList(relations, true)}),
r AS (
  SELECT q.i, c.oid, c.relispartition, c.relreplident
  FROM q
  JOIN pg_catalog.pg_namespace n ON n.nspname = q.s
  JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = q.t
)
${describe(keys)}`;
}

/**
 * The statement that describes, in the same rows as {@link formatDescribeRelations}, the tables a feed
 * should know before its first change: each of `tables` and every partition below it, or, when `tables`
 * is null, every table of the database; at most `limit` relations (those of the lowest oids), ordinary
 * and partitioned tables that are logged. Index `i` numbers them; the relation is its lineage's first member.
 */
export function formatDescribeScope(
  tables: readonly TableName[] | null,
  keys: boolean,
  limit: number,
): string {
  if (!Number.isSafeInteger(limit) || limit < 1)
    throw new RangeError('the scope holds at least one relation');
  if (tables !== null && tables.length === 0) throw new RangeError('an empty scope');
  const within =
    tables === null
      ? ''
      : `
    AND c.oid IN (
      SELECT x.oid
      FROM (VALUES ${namesList(tables, false)}) AS e(s, t)
      JOIN pg_catalog.pg_namespace en ON en.nspname = e.s
      JOIN pg_catalog.pg_class ec ON ec.relnamespace = en.oid AND ec.relname = e.t
      CROSS JOIN LATERAL (SELECT ec.oid UNION SELECT relid FROM pg_catalog.pg_partition_tree(ec.oid)) AS x(oid)
    )`;
  return `WITH r AS (
  SELECT pg_catalog.row_number() OVER (ORDER BY c.oid) - 1 AS i, c.oid, c.relispartition, c.relreplident
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'p') AND c.relpersistence = 'p'
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')${within}
  ORDER BY c.oid
  LIMIT ${limit}
)
${describe(keys)}`;
}

/** `(i, 'schema', 'table')` (or without the index) per name, every name a quoted literal. */
function namesList(relations: readonly TableName[], indexed: boolean): string {
  return relations
    .map(({ schema, table }, i) => {
      // Only a broken or hostile stream names one: PostgreSQL names cannot hold NUL, and no literal can.
      if (schema.includes('\0') || table.includes('\0')) malformed('a relation name holds NUL');
      return `(${indexed ? `${i}, ` : ''}${quoteLiteral(schema)}, ${quoteLiteral(table)})`;
    })
    .join(', ');
}

/** The rows of every relation of the CTE `r` (i, oid, relispartition, relreplident). */
function describe(keys: boolean): string {
  const keyColumns = keys
    ? `
UNION ALL
SELECT r.i, 'k', k.n, NULL, att.attname, NULL
FROM r
JOIN pg_catalog.pg_index x ON x.indrelid = r.oid
  AND CASE r.relreplident WHEN 'i' THEN x.indisreplident WHEN 'n' THEN false ELSE x.indisprimary END
CROSS JOIN LATERAL pg_catalog.unnest(x.indkey::pg_catalog.int2[]) WITH ORDINALITY AS k(attnum, n)
JOIN pg_catalog.pg_attribute att ON att.attrelid = r.oid AND att.attnum = k.attnum
WHERE k.n <= x.indnkeyatts`
    : '';
  return `SELECT r.i, 'l', a.depth, an.nspname, ac.relname, ac.relkind
FROM r
CROSS JOIN LATERAL (
  SELECT p.relid, p.depth FROM pg_catalog.pg_partition_ancestors(r.oid) WITH ORDINALITY AS p(relid, depth) WHERE r.relispartition
  UNION ALL SELECT r.oid, 1 WHERE NOT r.relispartition
) a
JOIN pg_catalog.pg_class ac ON ac.oid = a.relid
JOIN pg_catalog.pg_namespace an ON an.oid = ac.relnamespace${keyColumns}
ORDER BY 1, 2, 3`;
}

/**
 * The answer to {@link formatDescribeRelations} for `count` relations: each one's facts, or null when the
 * catalog does not hold it (dropped or renamed since the change was written). Anything a PostgreSQL server
 * would not send (a missing column, an index out of range, a gap in a lineage) is a ProtocolError.
 */
export function parseDescribeRelations(
  results: readonly QueryResult[],
  count: number,
): (RelationFacts | null)[] {
  const result = results.at(-1);
  if (result === undefined || result.fields.length !== 6) malformed('expected one result of six columns');
  const lineages: TableName[][] = Array.from({ length: count }, () => []);
  const keys: string[][] = Array.from({ length: count }, () => []);
  const partitioned: boolean[] = new Array<boolean>(count).fill(false);
  for (const row of result.rows) {
    const [index, kind, n, schema, name, relkind] = row;
    const i = Number(index);
    if (!Number.isInteger(i) || i < 0 || i >= count) malformed(`relation index ${JSON.stringify(index)}`);
    if (kind === 'l') {
      const lineage = lineages[i]!;
      if (Number(n) !== lineage.length + 1) malformed(`depth ${JSON.stringify(n)} of relation ${i}`);
      if (typeof schema !== 'string' || typeof name !== 'string' || schema === '' || name === '') {
        malformed(`a null or empty name in the lineage of relation ${i}`);
      }
      if (lineage.length === 0) partitioned[i] = relkind === 'p';
      lineage.push({ schema, table: name });
    } else if (kind === 'k') {
      const key = keys[i]!;
      if (Number(n) !== key.length + 1) malformed(`key column ${JSON.stringify(n)} of relation ${i}`);
      if (typeof name !== 'string' || name === '') malformed(`a null or empty key column of relation ${i}`);
      key.push(name);
    } else {
      malformed(`row kind ${JSON.stringify(kind)}`);
    }
  }
  return lineages.map((lineage, i) => {
    if (lineage.length === 0) return null;
    const key = keys[i]!;
    return { lineage, partitioned: partitioned[i]!, key: key.length === 0 ? null : key };
  });
}

/** Whether `a` and `b` say the same thing: a cached answer that differs from a fresh one is stale. */
export function sameFacts(a: RelationFacts, b: RelationFacts): boolean {
  if (a.partitioned !== b.partitioned || a.lineage.length !== b.lineage.length) return false;
  for (let i = 0; i < a.lineage.length; i++) {
    const x = a.lineage[i]!;
    const y = b.lineage[i]!;
    if (x.schema !== y.schema || x.table !== y.table) return false;
  }
  if (a.key === null || b.key === null) return a.key === b.key;
  return a.key.length === b.key.length && a.key.every((column, i) => column === b.key![i]);
}

function malformed(what: string): never {
  throw new ProtocolError(`the catalog lookup cannot go on: ${what}`);
}

// What RawFeed knows about relations, by relation file (contract R13, R14, R20, R28): the catalog query that
// describes relations, the payload a description gives (partition root or leaf, `tables` filter, system
// schemas and relations that never nudge), a snapshot's visibility rule, and the cache. Pure: the
// queries are text, the answers rows; raw-feed.ts runs them on its catalog connection.

import { xidPrecedes } from '../decode/wal/xid.js';
import { ProtocolError } from '../errors.js';
import type { QueryResult } from '../protocol/query-response.js';
import type { TableFilter } from './tables.js';

/** How partitions are reported (contract R20): under their root, or under their own name. */
export type PartitionReport = 'root' | 'leaf';

/** A relation file: tablespace and relfilenumber (the database is the session's). */
export interface RelFile {
  readonly spcOid: number;
  readonly relNumber: number;
}

/** One relation, as the catalog describes it. */
export interface RelationRow {
  readonly oid: number;
  readonly schema: string;
  readonly name: string;
  /** pg_class.relkind: `r` table, `m` materialized view, `i` index, `t` TOAST, `S` sequence, ... */
  readonly kind: string;
  /** pg_class.relpersistence: `p` permanent, `u` unlogged, `t` temporary. */
  readonly persistence: string;
  /** For a partition: itself and its ancestors up to the root, as [schema, name], leaf first; else null. */
  readonly chain: readonly (readonly [string, string])[] | null;
}

/** What the cache holds for a relation file: whose it is, and what a change to it nudges. */
export interface RelationEntry {
  readonly oid: number;
  /** The payload a change nudges, or null when it nudges nothing (system, filtered out, not a table). */
  readonly payload: string | null;
  /** The names generation it was read in; older entries are read again before they are used. */
  readonly generation: number;
  /** Set for pg_class, pg_namespace and pg_inherits: a change to them can rename tables. */
  readonly nameCatalog?: 'renames' | 'parents';
}

const SYSTEM_SCHEMAS = new Set(['pg_catalog', 'information_schema', 'pg_toast']);

/** Whether `schema` holds system relations (catalogs, TOAST, temporary schemas), which never nudge. */
export function isSystemSchema(schema: string): boolean {
  return SYSTEM_SCHEMAS.has(schema) || schema.startsWith('pg_temp_') || schema.startsWith('pg_toast_temp_');
}

/**
 * The payload a change to `row` nudges, or null. Only permanent tables and materialized views in user
 * schemas nudge (an unlogged table writes no WAL for its rows, so it never nudges, not even by
 * TRUNCATE); a partition nudges under its root, or its own name with `leaf`, and matches `filter` when
 * it or any of its ancestors is named there (contract R20).
 */
export function payloadOf(
  row: RelationRow,
  filter: TableFilter | null,
  partitions: PartitionReport,
): string | null {
  if (isSystemSchema(row.schema)) return null;
  if ((row.kind !== 'r' && row.kind !== 'm') || row.persistence !== 'p') return null;
  const chain = row.chain !== null && row.chain.length > 0 ? row.chain : [[row.schema, row.name] as const];
  if (filter !== null && !chain.some(([schema, name]) => filter.matches(schema, name))) return null;
  const [schema, name] = partitions === 'root' ? chain[chain.length - 1]! : chain[0]!;
  return `${schema}.${name}`;
}

/** The catalogs a change to which can rename tables or change partition trees. */
export function nameCatalogOf(row: RelationRow): 'renames' | 'parents' | undefined {
  if (row.schema !== 'pg_catalog') return undefined;
  if (row.name === 'pg_class' || row.name === 'pg_namespace') return 'renames';
  if (row.name === 'pg_inherits') return 'parents';
  return undefined;
}

/** Relation files by tablespace and relfilenumber. Holds what lookups answered; evicts dropped files. */
export class RelationCache {
  readonly #bySpace = new Map<number, Map<number, RelationEntry>>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(file: RelFile): RelationEntry | undefined {
    return this.#bySpace.get(file.spcOid)?.get(file.relNumber);
  }

  set(file: RelFile, entry: RelationEntry): void {
    let files = this.#bySpace.get(file.spcOid);
    if (files === undefined) {
      files = new Map();
      this.#bySpace.set(file.spcOid, files);
    }
    if (!files.has(file.relNumber)) this.#size += 1;
    files.set(file.relNumber, entry);
  }

  delete(file: RelFile): void {
    const files = this.#bySpace.get(file.spcOid);
    if (files?.delete(file.relNumber)) this.#size -= 1;
  }
}

/** What a lookup asks for: the relation that owns a file now, or the relation with an OID. */
export type LookupItem = ({ readonly by: 'file' } & RelFile) | { readonly by: 'oid'; readonly oid: number };

/** A snapshot as pg_current_snapshot() prints it (`xmin:xmax:xip,...`), reduced to 32-bit xids. */
export interface Snapshot {
  readonly xmin: number;
  readonly xmax: number;
  readonly xip: readonly number[];
}

/** Parses pg_snapshot text (64-bit xids, epoch included) into 32-bit xids; null for anything else. */
export function parseSnapshot(text: string): Snapshot | null {
  const match = /^(\d+):(\d+):((?:\d+(?:,\d+)*)?)$/.exec(text);
  if (match === null) return null;
  const low = (digits: string) => Number(BigInt(digits) & 0xffff_ffffn);
  return {
    xmin: low(match[1]!),
    xmax: low(match[2]!),
    xip: match[3] === '' ? [] : match[3]!.split(',').map(low),
  };
}

/**
 * Whether the transaction `xid` (32 bits, committed) is visible to `snapshot`: it is older than xmax and
 * not in progress. A commit the walsender already sent may not be visible yet: the WAL is flushed before
 * the transaction leaves the proc array (and, with synchronous replication, after the standbys answer).
 */
export function snapshotShows(snapshot: Snapshot, xid: number): boolean {
  if (!xidPrecedes(xid, snapshot.xmax)) return false;
  return !snapshot.xip.includes(xid);
}

/**
 * The columns every description query returns, in order: oid, schema, name, relkind, relpersistence,
 * and the partition chain as JSON (leaf first, through pg_partition_ancestors) or NULL. `c` is pg_class.
 */
const DESCRIBE_COLUMNS = `c.oid, n.nspname, c.relname, c.relkind, c.relpersistence,
  CASE WHEN c.relispartition THEN (
    SELECT pg_catalog.json_agg(pg_catalog.json_build_array(an.nspname, ac.relname) ORDER BY a.o)
      FROM pg_catalog.pg_partition_ancestors(c.oid) WITH ORDINALITY AS a(r, o)
      JOIN pg_catalog.pg_class ac ON ac.oid = a.r
      JOIN pg_catalog.pg_namespace an ON an.oid = ac.relnamespace) END`;

/**
 * One query for `items`: per item its index, the relation's description (or NULLs when nothing owns the
 * file, or the OID is gone), and in every row the statement's snapshot, taken before the catalog is read
 * (GetTransactionSnapshot invalidates the catalog snapshot), so a commit it shows is one the answer
 * reflects. Numbers only reach the text, so no input can change the query (contract R18).
 */
export function formatLookup(items: readonly LookupItem[]): string {
  if (items.length === 0) throw new RangeError('a lookup needs at least one item');
  const values = items
    .map((item, i) =>
      item.by === 'file'
        ? `(${i}, ${oid(item.spcOid)}::pg_catalog.oid, ${oid(item.relNumber)}::pg_catalog.oid, 0::pg_catalog.oid)`
        : `(${i}, 0::pg_catalog.oid, 0::pg_catalog.oid, ${oid(item.oid)}::pg_catalog.oid)`,
    )
    .join(', ');
  return `SELECT q.i, pg_catalog.pg_current_snapshot()::text, ${DESCRIBE_COLUMNS}
  FROM (VALUES ${values}) AS q(i, spc, rel, id)
  LEFT JOIN pg_catalog.pg_class c ON c.oid = CASE WHEN q.id <> 0 THEN q.id
    ELSE pg_catalog.pg_filenode_relation(q.spc, q.rel) END
  LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  ORDER BY q.i`;
}

/** The answer to {@link formatLookup}: the snapshot, and a row (or null) per item, in item order. */
export interface LookupAnswer {
  readonly snapshot: Snapshot;
  readonly rows: readonly (RelationRow | null)[];
}

/** Reads the result of {@link formatLookup} for `count` items; throws on a shape no server gives. */
export function parseLookup(result: QueryResult | undefined, count: number): LookupAnswer {
  const rows = result?.rows ?? [];
  if (rows.length !== count)
    throw new ProtocolError(`a lookup of ${count} items returned ${rows.length} rows`);
  let snapshot: Snapshot | null = null;
  const out: (RelationRow | null)[] = [];
  for (const [i, row] of rows.entries()) {
    if (row[0] !== String(i)) throw new ProtocolError(`lookup row ${i} is for item ${row[0]}`);
    snapshot ??= parseSnapshot(row[1] ?? '');
    out.push(describedRow(row, 2));
  }
  if (snapshot === null) throw new ProtocolError('a lookup returned no readable pg_current_snapshot()');
  return { snapshot, rows: out };
}

/** The description in `row` from column `at` on (DESCRIBE_COLUMNS), or null when its oid is NULL. */
export function describedRow(row: readonly (string | null)[], at: number): RelationRow | null {
  const [id, schema, name, kind, persistence, chain] = row.slice(at, at + 6);
  if (id == null) return null;
  if (schema == null || name == null || kind == null || persistence == null) {
    throw new ProtocolError(`relation ${id} is described with NULL names`);
  }
  return {
    oid: Number(id),
    schema,
    name,
    kind,
    persistence,
    chain: chain == null ? null : parseChain(chain),
  };
}

function parseChain(text: string): (readonly [string, string])[] {
  const value: unknown = JSON.parse(text);
  if (
    !Array.isArray(value) ||
    !value.every(
      (pair) =>
        Array.isArray(pair) &&
        pair.length === 2 &&
        typeof pair[0] === 'string' &&
        typeof pair[1] === 'string',
    )
  ) {
    throw new ProtocolError(`a partition chain is not a list of [schema, name]: ${text.slice(0, 200)}`);
  }
  return value as [string, string][];
}

function oid(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff)
    throw new RangeError(`not an OID: ${value}`);
  return String(value);
}

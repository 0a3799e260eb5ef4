// pgoutput's Relation message ('R') and the cache of relations it fills, keyed by OID. The server
// describes a relation before the first change that needs it in a session, and again whenever its
// definition changed (ALTER TABLE, a rename, a new replica identity): the latest description wins.

import { expectEnd, fail, need, readString, stringEnd, u32 } from './pgoutput-wire.js';

/** One published column of a relation, as the Relation message describes it. */
export interface PgoutputColumn {
  /** The column's name, exactly as in the catalog. */
  readonly name: string;
  /**
   * Part of the replica identity (the row key the server sends in UPDATE and DELETE): the primary
   * key's columns by default, the index's under `REPLICA IDENTITY USING INDEX`, every column under
   * `REPLICA IDENTITY FULL`, none under `NOTHING`.
   */
  readonly key: boolean;
  /** `pg_type` OID of the column's type. */
  readonly typeOid: number;
  /** The type modifier (`atttypmod`, -1 when none). */
  readonly typeModifier: number;
}

/**
 * What a Relation message says about a table. Changes name their relation by OID only, so this is
 * all a sink learns about the table a change touched. Only published columns are listed (a
 * publication's column list, e.g. `FOR TABLE t (id)`, leaves the others out), in table order.
 */
export interface PgoutputRelation {
  /** The relation's OID: what change messages carry. */
  readonly oid: number;
  /** Schema name, exactly as in the catalog (the server sends `pg_catalog` as an empty name). */
  readonly schema: string;
  /** Table name, exactly as in the catalog. */
  readonly table: string;
  /** `pg_class.relreplident`: `d` default (primary key), `n` nothing, `f` full, `i` index. */
  readonly replicaIdentity: 'd' | 'n' | 'f' | 'i';
  /** The published columns, with their key flags. */
  readonly columns: readonly PgoutputColumn[];
}

const KEY_FLAG = 1;

/**
 * Parses a Relation message body from `at` (just past the message type, and past the xid inside a
 * streamed block) to the end of `data`.
 */
export function parseRelation(data: Uint8Array, at: number): PgoutputRelation {
  need(data, at, 4, 'relation OID');
  const oid = u32(data, at);
  const [sent, afterSchema] = readString(data, at + 4, 'schema name');
  // logicalrep_write_namespace saves a few bytes by sending pg_catalog as "".
  const schema = sent === '' ? 'pg_catalog' : sent;
  const [table, afterTable] = readString(data, afterSchema, 'table name');
  let i = afterTable;
  need(data, i, 3, 'replica identity and column count');
  const identity = data[i]!;
  if (identity !== 0x64 && identity !== 0x6e && identity !== 0x66 && identity !== 0x69) {
    fail(`unknown replica identity ${identity}`, i);
  }
  const count = (data[i + 1]! << 8) | data[i + 2]!;
  i += 3;
  const columns: PgoutputColumn[] = [];
  for (let n = 0; n < count; n++) {
    need(data, i, 1, 'column flags');
    const flags = data[i]!;
    if ((flags & ~KEY_FLAG) !== 0) fail(`unknown column flags ${flags}`, i);
    let name: string;
    [name, i] = readString(data, i + 1, 'column name');
    need(data, i, 8, 'column type');
    columns.push({
      name,
      key: flags === KEY_FLAG,
      typeOid: u32(data, i),
      typeModifier: u32(data, i + 4) | 0,
    });
    i += 8;
  }
  expectEnd(data, i, 'a Relation message');
  return {
    oid,
    schema,
    table,
    replicaIdentity: String.fromCharCode(identity) as PgoutputRelation['replicaIdentity'],
    columns,
  };
}

/** Checks a Type message ('Y') body from `at`: OID, schema, name. The decoder needs nothing from it. */
export function checkType(data: Uint8Array, at: number): void {
  need(data, at, 4, 'type OID');
  const end = stringEnd(data, stringEnd(data, at + 4, 'type schema') + 1, 'type name');
  expectEnd(data, end + 1, 'a Type message');
}

/**
 * Relations by OID, at most `capacity` of them. The server never says a relation was dropped, so a
 * long session with many tables created and dropped would grow without end: past the capacity the
 * relation described longest ago is forgotten. A later change to it then finds no relation, which is a
 * DecodeError (the feed reconnects and resyncs): coarser, never wrong.
 */
export class RelationCache {
  readonly #byOid = new Map<number, PgoutputRelation>();
  readonly #capacity: number;
  // The last relation looked up: rows of one table come in runs, and this skips the hash.
  #last: PgoutputRelation | undefined;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#byOid.size;
  }

  get(oid: number): PgoutputRelation | undefined {
    const last = this.#last;
    if (last !== undefined && last.oid === oid) return last;
    const found = this.#byOid.get(oid);
    if (found !== undefined) this.#last = found;
    return found;
  }

  set(relation: PgoutputRelation): void {
    this.#last = undefined;
    // Deleting first moves a redescribed relation to the newest end of the eviction order.
    this.#byOid.delete(relation.oid);
    if (this.#byOid.size >= this.#capacity) {
      const oldest = this.#byOid.keys().next();
      if (!oldest.done) this.#byOid.delete(oldest.value);
    }
    this.#byOid.set(relation.oid, relation);
  }
}

// Where a pgoutput change belongs (contract R20, R25): a change to a partition is reported under its partition
// root, and a `tables` entry naming the partition or any partitioned table above it matches. pgoutput
// names a relation by OID and describes only the relation itself (with publish_via_partition_root, the
// topmost *published* ancestor, which may itself be a partition), so the lineage is looked up in the
// catalog: once per description, since the server describes a relation again after any change to its
// definition (ATTACH and DETACH PARTITION included). A change waits, parked as a count, until its
// relation's lineage is known; the stream and its status replies never wait. Pure: the look-up itself
// and the clock come from the caller (the shell is wal-feed.ts, over an ordinary connection).
//
// catalog.ts places the other plugins' changes by name; pgoutput describes each relation by OID and anew
// after every change to its definition, so it keeps this small look-up by OID, keyed by description.
//
// Row keys (contract R22, R23) come from the same look-up. The Relation message flags the replica
// identity's columns, in table order; the key is written in key-column order (the index's), and under
// REPLICA IDENTITY FULL the message flags every column while the key is the primary key. So the look-up
// also returns the key columns by name (catalog-query.ts's rule: the primary key under DEFAULT and FULL,
// the index under USING INDEX). Until it answers, a relation's rows are keyed by the flagged columns
// (DEFAULT, USING INDEX) and parked; under FULL they are table-level until then (the primary key is not
// known yet: coarser, never wrong). The answer must agree with the flags (same columns, all published)
// or the relation's rows stay table-level.
//
// A look-up must read the catalog as the change's own transaction left it. The walsender sends a
// transaction once its commit record is written, which is a moment before other sessions see it: an
// ATTACH or DETACH PARTITION read too early would place a change under its old root (a lost wakeup for
// the table it went to). So each parked change remembers its transaction, the look-up also answers which
// of those its own snapshot did not see committed, and those are asked again a few milliseconds later.
import type { PgoutputRelation } from '../decode/pgoutput-relation.js';
import type { QueryResult } from '../protocol/query-response.js';
import type { PartitionNaming } from './catalog.js';
import { formatPayload, type TableFilter, type TableName } from './tables.js';

/** A relation and its ancestors, the relation first and the partition root last; null: it no longer exists. */
export type Lineage = readonly TableName[] | null;

/** What one look-up answers, by OID. */
export interface LineageAnswer {
  readonly lineages: Map<number, Lineage>;
  /** With keys: each relation's replica identity key columns by name, in key order (null: no key). */
  readonly keys: Map<number, readonly string[] | null> | null;
  /** Of the transactions the look-up was asked to see, those its snapshot did not see committed yet. */
  readonly running: ReadonlySet<number>;
}

/**
 * The look-up of `oids`' lineages: per OID, the relation itself, then each ancestor up to the root
 * (walked through pg_inherits), as a JSON array of [schema, table] pairs; NULL for a relation that is gone.
 * With `keys`, a third column: the replica identity's key column names in key order (JSON), or NULL.
 */
export function lineageSql(oids: readonly number[], keys = false, xids: readonly number[] = []): string {
  for (const oid of oids) {
    if (!Number.isInteger(oid) || oid < 1 || oid > 0xffffffff) throw new RangeError(`not an OID: ${oid}`);
  }
  for (const xid of xids) {
    if (!Number.isInteger(xid) || xid < 1 || xid > 0xffffffff) throw new RangeError(`not an xid: ${xid}`);
  }
  // The ancestors are walked in pg_inherits and pg_class under the statement's own snapshot, the one
  // runningSql checks, not with pg_partition_ancestors: that function first asks the backend's catalog
  // cache whether the relation is a partition, and a commit becomes visible a moment before the cache
  // hears of it, so an ATTACH just seen committed could still read as "not a partition". Only a
  // partition's parent counts (table inheritance is not partitioning); detach-pending parents count, as
  // they do for pg_partition_ancestors. A relation with no pg_class row any more has no lineage.
  return `SELECT x.oid, CASE WHEN c.oid IS NOT NULL THEN (
    WITH RECURSIVE up(relid, depth) AS (
      SELECT x.oid, 0
      UNION ALL
      SELECT i.inhparent, up.depth + 1
      FROM up
      JOIN pg_catalog.pg_class child ON child.oid = up.relid AND child.relispartition
      JOIN pg_catalog.pg_inherits i ON i.inhrelid = up.relid
      WHERE up.depth < 1000)
    SELECT pg_catalog.json_agg(pg_catalog.json_build_array(an.nspname, ac.relname) ORDER BY up.depth)
    FROM up
    JOIN pg_catalog.pg_class ac ON ac.oid = up.relid
    JOIN pg_catalog.pg_namespace an ON an.oid = ac.relnamespace) END,
  ${keys ? KEY_COLUMNS_SQL : 'NULL'}, ${runningSql(xids)}
FROM pg_catalog.unnest('{${oids.join(',')}}'::pg_catalog.oid[]) x(oid)
LEFT JOIN pg_catalog.pg_class c ON c.oid = x.oid`;
}

/**
 * Which of `xids` (32-bit, as pgoutput sends them) the statement's own snapshot does not see committed,
 * as a JSON array (NULL: none). Not only those it lists as running: a transaction newer than every one
 * completed is past the snapshot's xmax and listed nowhere. Each xid is widened to the 64-bit one nearest
 * the snapshot's xmax. The catalog reads of the same statement use a snapshot at least as new, so when
 * none is returned, they see what those transactions committed.
 */
function runningSql(xids: readonly number[]): string {
  if (xids.length === 0) return 'NULL';
  return `(SELECT pg_catalog.json_agg(x.v)
    FROM pg_catalog.unnest('{${xids.join(',')}}'::pg_catalog.int8[]) x(v)
    CROSS JOIN (SELECT pg_catalog.pg_current_snapshot() AS s) cur
    CROSS JOIN LATERAL (SELECT pg_catalog.pg_snapshot_xmax(cur.s)::pg_catalog.text::pg_catalog.int8 AS xmax) m
    CROSS JOIN LATERAL (SELECT m.xmax - m.xmax % 4294967296 + x.v AS f) near
    WHERE NOT pg_catalog.pg_visible_in_snapshot((CASE
      WHEN near.f >= m.xmax + 2147483648 AND near.f >= 4294967296 THEN near.f - 4294967296
      WHEN near.f < m.xmax - 2147483648 THEN near.f + 4294967296
      ELSE near.f END)::pg_catalog.text::pg_catalog.xid8, cur.s))`;
}

// The same rule as catalog-query.ts: USING INDEX is the index marked indisreplident, NOTHING has no key,
// DEFAULT and FULL the primary key; index key columns only (not INCLUDE columns).
const KEY_COLUMNS_SQL = `(
    SELECT pg_catalog.json_agg(att.attname ORDER BY k.n)
    FROM pg_catalog.pg_index x
    CROSS JOIN LATERAL pg_catalog.unnest(x.indkey::pg_catalog.int2[]) WITH ORDINALITY AS k(attnum, n)
    JOIN pg_catalog.pg_attribute att ON att.attrelid = x.indrelid AND att.attnum = k.attnum
    WHERE x.indrelid = c.oid AND k.n <= x.indnkeyatts
      AND CASE c.relreplident WHEN 'i' THEN x.indisreplident WHEN 'n' THEN false ELSE x.indisprimary END)`;

/** The key columns of {@link lineageSql}'s result asked `keys`, by OID. */
export function parseKeyColumns(result: QueryResult | undefined): Map<number, readonly string[] | null> {
  const found = new Map<number, readonly string[] | null>();
  for (const row of result?.rows ?? []) {
    const names = row[2] == null ? null : (JSON.parse(row[2]) as string[]);
    found.set(Number(row[0]), names === null || names.length === 0 ? null : names);
  }
  return found;
}

/** The transactions {@link lineageSql}'s snapshot did not see committed yet (the same in every row). */
export function parseRunning(result: QueryResult | undefined): Set<number> {
  const value = result?.rows[0]?.[3];
  return new Set(value == null ? [] : (JSON.parse(value) as number[]));
}

/** The lineages of {@link lineageSql}'s result, by OID. */
export function parseLineage(result: QueryResult | undefined): Map<number, Lineage> {
  const found = new Map<number, Lineage>();
  for (const row of result?.rows ?? []) {
    const oid = Number(row[0]);
    const pairs = row[1] == null ? null : (JSON.parse(row[1]) as [string, string][]);
    found.set(
      oid,
      pairs === null || pairs.length === 0 ? null : pairs.map(([schema, table]) => ({ schema, table })),
    );
  }
  return found;
}

/** What a resolver needs from its owner. */
export interface LineageResolverOptions {
  /**
   * Looks up the lineages of `oids` (one query), with their key columns when `maxKeys` is set; rejects
   * when the look-up connection fails.
   */
  lookup(oids: readonly number[], xids: readonly number[]): Promise<LineageAnswer>;
  /** The top-level xid of the transaction whose changes are being reported now (0: unknown). */
  committedXid(): number;
  /** Runs `callback` after `ms` (the feed's timers): a look-up that came too early is asked again. */
  later(callback: () => void, ms: number): void;
  /**
   * A change to report: `count` changes to `payload`, first seen at `firstSeenMs`; undefined when it
   * arrives just now with the stream (the owner reads the clock once per socket read, not per change).
   */
  emit(payload: string, count: number, firstSeenMs?: number): void;
  /** With keys: `count` changes to the row `key` (key-column order; reused, copy to keep) of `table`. */
  emitRow?(table: string, key: readonly string[], count: number, firstSeenMs?: number): void;
  /**
   * With keys: whether `table`'s rows folded in the pending batch (BatchEngine.rowsFolded), so a row
   * change counts exactly as a table-level one and the decoder need not read its key.
   */
  rowsFolded?(table: string): boolean;
  /** Row keys on: most distinct keys parked per relation before they collapse (contract R24); null: off. */
  readonly maxKeys?: number | null;
  /**
   * Whether changes wait, parked, for a look-up: true when the first is parked, false once none is
   * (placed, dropped, or vanished). The feed's batch stays open meanwhile (batch-engine.ts, invariant 3).
   */
  holding?(held: boolean): void;
  /** Something could not be placed: the feed must reload everything (Resync, coarser but never wrong). */
  resync(why: string): void;
  /** A look-up failed: the session must end (it reconnects and resyncs). */
  fail(error: unknown): void;
  /** Only changes to these tables (or below them) are reported; null: every table. */
  readonly filter: TableFilter | null;
  /** `root`: a change to a partition is reported under its partition root; `leaf`: under the relation described. */
  readonly naming: PartitionNaming;
  /** Milliseconds now, from the feed's clock. */
  now(): number;
  /** Most relations whose changes may wait for a look-up at once; past it, they become one resync. */
  readonly maxParked: number;
}

/** Where a described relation's changes go: a payload, or null when the filter drops them. */
type Place = string | null;

interface Parked {
  /** Table-level changes (and row changes whose keys collapsed). */
  count: number;
  /** Row changes by key (in the relation's key columns' table order), until maxKeys; null before the first. */
  keys: Map<string, ParkedKey> | null;
  /** Past maxKeys: every row change of it since counts in `count`. */
  collapsed: boolean;
  readonly firstSeenMs: number;
  /** The look-ups sent before this relation was described: only a later one can place it. */
  readonly after: number;
  /** The transaction of its first change, which the look-up must see committed (0: none to wait for). */
  readonly xid: number;
}

/** The first wait before asking again when a look-up came before its transaction was visible, in ms. */
const RETRY_FIRST_MS = 1;
/** The longest such wait: a commit waiting for a synchronous standby can stay invisible for long. */
const RETRY_MAX_MS = 100;

interface ParkedKey {
  readonly values: readonly string[];
  count: number;
}

/**
 * How a relation's rows are keyed once its look-up answered: the key columns as ascending indexes into
 * its columns (what the decoder reads), and `order`, where key position k takes the value read at
 * `order[k]` (null when table order is key order).
 */
interface KeyPlan {
  readonly columns: readonly number[];
  readonly order: readonly number[] | null;
}

/** Places pgoutput changes under their partition root, looking each described relation up once. */
export class LineageResolver {
  readonly #options: LineageResolverOptions;
  /** Keyed by the described relation: a new description of the same OID is a new object, looked up anew. */
  readonly #places = new WeakMap<PgoutputRelation, Place>();
  /** With keys: each placed relation's key plan (null: its rows are table-level). */
  readonly #plans = new WeakMap<PgoutputRelation, KeyPlan | null>();
  /** With keys: the columns the Relation message flags, for relations not placed yet. */
  readonly #flagged = new WeakMap<PgoutputRelation, readonly number[] | null>();
  /** The key in key order, reused. */
  readonly #key: string[] = [];
  readonly #parked = new Map<PgoutputRelation, Parked>();
  /** OIDs to look up in the next query. */
  readonly #queued = new Set<number>();
  #sent = 0;
  #inFlightSince: number | null = null;
  /** When the last look-up was sent (kept after it answers, for a retry round's start). */
  #inFlightStarted = 0;
  /** While a look-up is asked again later: when the first of this round was sent, the last wait, and whether it runs. */
  #retrying: { since: number; waitMs: number; sleeping: boolean; xids: ReadonlySet<number> } | null = null;
  #failed = false;

  constructor(options: LineageResolverOptions) {
    this.#options = options;
  }

  /** Relations waiting for their lineage now. */
  get parked(): number {
    return this.#parked.size;
  }

  /** How long the look-up in flight has waited, in ms; null when none is. */
  waitingMs(): number | null {
    const since = this.#retrying?.since ?? this.#inFlightSince;
    return since === null ? null : this.#options.now() - since;
  }

  /** While look-ups are asked again because their transactions were not visible yet: those xids. */
  invisibleXids(): number[] {
    return this.#retrying === null ? [] : [...this.#retrying.xids];
  }

  /** `count` committed changes to `relation`: reported at once when its place is known, else parked. */
  change(relation: PgoutputRelation, count: number): void {
    const place = this.#places.get(relation);
    if (place !== undefined) {
      if (place !== null) this.#options.emit(place, count);
      return;
    }
    const parked = this.#parked.get(relation);
    if (parked !== undefined) parked.count += count;
    else this.#park(relation, count);
  }

  /**
   * With keys: the columns the decoder should read a key from for `relation` (ascending indexes), or null
   * when its rows are table-level: the plan once placed, the flagged columns before (none under FULL).
   */
  keyColumns(relation: PgoutputRelation): readonly number[] | null {
    const plan = this.#plans.get(relation);
    if (plan !== undefined) return plan?.columns ?? null;
    if (this.#places.get(relation) === null) return null;
    let flagged = this.#flagged.get(relation);
    if (flagged === undefined) {
      flagged = null;
      if (relation.replicaIdentity === 'd' || relation.replicaIdentity === 'i') {
        const indexes: number[] = [];
        relation.columns.forEach((column, i) => {
          if (column.key) indexes.push(i);
        });
        if (indexes.length > 0) flagged = indexes;
      }
      this.#flagged.set(relation, flagged);
    }
    return flagged;
  }

  /**
   * With keys: whether a row change to `relation` now counts exactly as a table-level one, its place's
   * rows having folded in the pending batch (past maxKeys), so its key need not be read. False until
   * the relation is placed.
   */
  rowsFolded(relation: PgoutputRelation): boolean {
    const place = this.#places.get(relation);
    return typeof place === 'string' && this.#options.rowsFolded?.(place) === true;
  }

  /**
   * `count` committed changes to the row of `relation` whose key `values` were read from the columns
   * {@link keyColumns} named (null: rows whose key is unknown, table-level).
   */
  changeRow(relation: PgoutputRelation, values: readonly string[] | null, count: number): void {
    if (values === null) {
      this.change(relation, count);
      return;
    }
    const place = this.#places.get(relation);
    if (place !== undefined) {
      if (place !== null) this.#emitRow(relation, place, values, count, undefined);
      return;
    }
    const parked = this.#parked.get(relation) ?? this.#park(relation, 0);
    if (parked.collapsed) {
      parked.count += count;
      return;
    }
    let keys = parked.keys;
    // Key text never holds NUL (PostgreSQL text cannot), so joining on it keeps keys distinct.
    const id = values.length === 1 ? values[0]! : values.join('\0');
    const found = keys?.get(id);
    if (found !== undefined) {
      found.count += count;
    } else if (keys === null || keys.size < (this.#options.maxKeys ?? 0)) {
      if (keys === null) {
        keys = new Map();
        parked.keys = keys;
      }
      keys.set(id, { values: values.slice(), count });
    } else {
      // Past maxKeys the relation's parked rows collapse into one count: coarser, never wrong (contract R24).
      for (const kept of keys.values()) parked.count += kept.count;
      parked.count += count;
      parked.keys = null;
      parked.collapsed = true;
    }
  }

  #park(relation: PgoutputRelation, count: number): Parked {
    if (this.#parked.size >= this.#options.maxParked) {
      this.#parked.clear();
      this.#options.holding?.(false);
      this.#options.resync(
        `more than ${this.#options.maxParked} relations waited for their partition root at once`,
      );
    }
    const parked: Parked = {
      count,
      keys: null,
      collapsed: false,
      firstSeenMs: this.#options.now(),
      after: this.#sent,
      xid: this.#options.committedXid(),
    };
    this.#parked.set(relation, parked);
    if (this.#parked.size === 1) this.#options.holding?.(true);
    this.#queued.add(relation.oid);
    this.#pump();
    return parked;
  }

  /** Reports a row by its plan: in key order, or table-level when the relation has no plan. */
  #emitRow(
    relation: PgoutputRelation,
    place: string,
    values: readonly string[],
    count: number,
    firstSeenMs: number | undefined,
  ): void {
    const plan = this.#plans.get(relation);
    if (plan === null || plan === undefined || this.#options.emitRow === undefined) {
      this.#options.emit(place, count, firstSeenMs);
      return;
    }
    const order = plan.order;
    if (order === null) {
      this.#options.emitRow(place, values, count, firstSeenMs);
      return;
    }
    const key = this.#key;
    key.length = order.length;
    for (let k = 0; k < order.length; k++) key[k] = values[order[k]!]!;
    this.#options.emitRow(place, key, count, firstSeenMs);
  }

  #pump(): void {
    if (this.#inFlightSince !== null || this.#queued.size === 0 || this.#failed) return;
    if (this.#retrying?.sleeping) return;
    const oids = [...this.#queued];
    this.#queued.clear();
    const xids = new Set<number>();
    for (const parked of this.#parked.values()) if (parked.xid !== 0) xids.add(parked.xid);
    const request = ++this.#sent;
    this.#inFlightSince = this.#options.now();
    this.#inFlightStarted = this.#inFlightSince;
    this.#options.lookup(oids, [...xids]).then(
      (answer) => {
        this.#inFlightSince = null;
        if (this.#settle(request, answer)) this.#retryLater(answer.running);
        else {
          this.#retrying = null;
          this.#pump();
        }
      },
      (error: unknown) => {
        this.#inFlightSince = null;
        this.#failed = true;
        this.#options.fail(error);
      },
    );
  }

  /** Asks again after a wait that doubles each time the look-up still comes too early (`xids` not visible). */
  #retryLater(xids: ReadonlySet<number>): void {
    const retrying = this.#retrying ?? { since: this.#inFlightStarted, waitMs: 0, sleeping: false, xids };
    retrying.xids = xids;
    retrying.waitMs = Math.min(RETRY_MAX_MS, retrying.waitMs === 0 ? RETRY_FIRST_MS : retrying.waitMs * 2);
    retrying.sleeping = true;
    this.#retrying = retrying;
    this.#options.later(() => {
      retrying.sleeping = false;
      this.#pump();
    }, retrying.waitMs);
  }

  /** Places what the answer can place; true when some waited for a transaction it did not see yet. */
  #settle(request: number, { lineages, keys, running }: LineageAnswer): boolean {
    const vanished: string[] = [];
    let early = false;
    for (const [relation, parked] of this.#parked) {
      if (parked.after >= request || !lineages.has(relation.oid)) {
        // Described after this look-up was sent, so the catalog it read may be older: ask again.
        this.#queued.add(relation.oid);
        continue;
      }
      if (running.has(parked.xid)) {
        this.#queued.add(relation.oid);
        early = true;
        continue;
      }
      this.#parked.delete(relation);
      const lineage = lineages.get(relation.oid)!;
      if (lineage === null) {
        // Dropped since: it may have been a partition, whose root cannot be known any more.
        vanished.push(formatPayload(relation));
        continue;
      }
      const place = this.#place(relation, lineage);
      this.#places.set(relation, place);
      if (keys !== null) this.#plans.set(relation, this.#plan(relation, keys.get(relation.oid) ?? null));
      if (place === null) continue;
      if (parked.count > 0) this.#options.emit(place, parked.count, parked.firstSeenMs);
      if (parked.keys === null) continue;
      for (const key of parked.keys.values()) {
        this.#emitRow(relation, place, key.values, key.count, parked.firstSeenMs);
      }
    }
    if (this.#parked.size === 0) this.#options.holding?.(false);
    if (vanished.length > 0) {
      this.#options.resync(
        `${vanished.map((name) => JSON.stringify(name)).join(', ')} changed and then left the catalog before its partition root was known`,
      );
    }
    return early;
  }

  /**
   * How `relation`'s rows are keyed, given its key column `names` from the catalog: null when it has no
   * key, a key column is not published, or (DEFAULT, USING INDEX) the catalog names other columns than
   * the Relation message flags (a definition changed since; the next description is looked up anew).
   */
  #plan(relation: PgoutputRelation, names: readonly string[] | null): KeyPlan | null {
    const identity = relation.replicaIdentity;
    if (names === null || identity === 'n') return null;
    const indexes: number[] = [];
    for (const name of names) {
      const index = relation.columns.findIndex((column) => column.name === name);
      if (index === -1) return null;
      indexes.push(index);
    }
    const columns = [...indexes].sort((a, b) => a - b);
    if (identity !== 'f') {
      const flagged = this.keyColumns(relation);
      if (flagged === null || flagged.length !== columns.length) return null;
      if (flagged.some((index, k) => index !== columns[k])) return null;
    }
    const order = indexes.map((index) => columns.indexOf(index));
    return { columns, order: order.every((position, k) => position === k) ? null : order };
  }

  /**
   * The payload for `relation` (as described, the name it had when the change was decoded) under its
   * partition root (or as itself with `leaf` naming), or null when the filter matches neither it nor any table above it.
   */
  #place(relation: PgoutputRelation, lineage: readonly TableName[]): Place {
    const filter = this.#options.filter;
    if (
      filter !== null &&
      !filter.matches(relation.schema, relation.table) &&
      !lineage.some((table) => filter.matches(table.schema, table.table))
    ) {
      return null;
    }
    return formatPayload(
      this.#options.naming === 'root' && lineage.length > 1 ? lineage[lineage.length - 1]! : relation,
    );
  }
}

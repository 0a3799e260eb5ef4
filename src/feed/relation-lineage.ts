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
import type { PgoutputRelation } from '../decode/pgoutput-relation.js';
import type { QueryResult } from '../protocol/query-response.js';
import type { PartitionNaming } from './catalog.js';
import { formatPayload, type TableFilter, type TableName } from './tables.js';

/** A relation and its ancestors, the relation first and the partition root last; null: it no longer exists. */
export type Lineage = readonly TableName[] | null;

/**
 * The look-up of `oids`' lineages: per OID, the relation itself, then each ancestor up to the root
 * (`pg_partition_ancestors`), as a JSON array of [schema, table] pairs; NULL for a relation that is gone.
 */
export function lineageSql(oids: readonly number[]): string {
  for (const oid of oids) {
    if (!Number.isInteger(oid) || oid < 1 || oid > 0xffffffff) throw new RangeError(`not an OID: ${oid}`);
  }
  // pg_partition_ancestors gives no row for a table that is not a partition: then the lineage is the
  // table alone, and a relation with no pg_class row any more has none.
  return `SELECT x.oid, CASE WHEN c.oid IS NOT NULL THEN COALESCE((
    SELECT pg_catalog.json_agg(pg_catalog.json_build_array(an.nspname, ac.relname) ORDER BY a.ord)
    FROM pg_catalog.pg_partition_ancestors(x.oid) WITH ORDINALITY a(relid, ord)
    JOIN pg_catalog.pg_class ac ON ac.oid = a.relid
    JOIN pg_catalog.pg_namespace an ON an.oid = ac.relnamespace),
  pg_catalog.json_build_array(pg_catalog.json_build_array(n.nspname, c.relname))) END
FROM pg_catalog.unnest('{${oids.join(',')}}'::pg_catalog.oid[]) x(oid)
LEFT JOIN pg_catalog.pg_class c ON c.oid = x.oid
LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace`;
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
  /** Looks up the lineages of `oids` (one query); rejects when the look-up connection fails. */
  lookup(oids: readonly number[]): Promise<Map<number, Lineage>>;
  /** A change to report: `count` changes to `payload`, first seen at `firstSeenMs`. */
  emit(payload: string, count: number, firstSeenMs: number): void;
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
  count: number;
  readonly firstSeenMs: number;
  /** The look-ups sent before this relation was described: only a later one can place it. */
  readonly after: number;
}

/** Places pgoutput changes under their partition root, looking each described relation up once. */
export class LineageResolver {
  readonly #options: LineageResolverOptions;
  /** Keyed by the described relation: a new description of the same OID is a new object, looked up anew. */
  readonly #places = new WeakMap<PgoutputRelation, Place>();
  readonly #parked = new Map<PgoutputRelation, Parked>();
  /** OIDs to look up in the next query. */
  readonly #queued = new Set<number>();
  #sent = 0;
  #inFlightSince: number | null = null;
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
    return this.#inFlightSince === null ? null : this.#options.now() - this.#inFlightSince;
  }

  /** `count` committed changes to `relation`: reported at once when its place is known, else parked. */
  change(relation: PgoutputRelation, count: number): void {
    const place = this.#places.get(relation);
    if (place !== undefined) {
      if (place !== null) this.#options.emit(place, count, this.#options.now());
      return;
    }
    const parked = this.#parked.get(relation);
    if (parked !== undefined) {
      parked.count += count;
      return;
    }
    if (this.#parked.size >= this.#options.maxParked) {
      this.#parked.clear();
      this.#options.resync(
        `more than ${this.#options.maxParked} relations waited for their partition root at once`,
      );
    }
    this.#parked.set(relation, { count, firstSeenMs: this.#options.now(), after: this.#sent });
    this.#queued.add(relation.oid);
    this.#pump();
  }

  #pump(): void {
    if (this.#inFlightSince !== null || this.#queued.size === 0 || this.#failed) return;
    const oids = [...this.#queued];
    this.#queued.clear();
    const request = ++this.#sent;
    this.#inFlightSince = this.#options.now();
    this.#options.lookup(oids).then(
      (lineages) => {
        this.#inFlightSince = null;
        this.#settle(request, lineages);
        this.#pump();
      },
      (error: unknown) => {
        this.#inFlightSince = null;
        this.#failed = true;
        this.#options.fail(error);
      },
    );
  }

  #settle(request: number, lineages: Map<number, Lineage>): void {
    const vanished: string[] = [];
    for (const [relation, parked] of this.#parked) {
      if (parked.after >= request || !lineages.has(relation.oid)) {
        // Described after this look-up was sent, so the catalog it read may be older: ask again.
        this.#queued.add(relation.oid);
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
      if (place !== null) this.#options.emit(place, parked.count, parked.firstSeenMs);
    }
    if (vanished.length > 0) {
      this.#options.resync(
        `${vanished.map((name) => JSON.stringify(name)).join(', ')} changed and then left the catalog before its partition root was known`,
      );
    }
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

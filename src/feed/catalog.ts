// What a feed knows of the relations its stream names (contract R20): a cache of catalog answers, the changes
// held while a relation is looked up, and when to ask again. Pure: the shell (catalog-session.ts) runs the
// queries and the timers; this file only decides. Output plugins name a change by the relation it was
// written to, a leaf partition, so where a change is reported depends on catalog facts the stream does not
// carry.
//
// The rules (docs/how-it-works.md, "Partitions and the catalog"):
// 1. A change to a relation without a cache entry is held (a count and the time of its first change, per
//    relation) until a lookup answers; the stream never waits. Past `maxHeld` distinct relations held,
//    everything held is dropped and the caller resyncs.
// 2. An answer fills the cache and releases what was held for that relation. A relation the catalog does
//    not hold (dropped or renamed since its change was written) cannot be placed: the caller resyncs.
// 3. Every change that used a cache entry marks it seen. The seen entries are asked about again in one
//    query, at most one query in flight and at most one such re-check every `refreshIntervalMs`; an answer
//    that differs from the cache (an attach, a detach, a rename, a drop, other key columns) replaces it
//    and the caller resyncs. So a change routed by a stale entry is always followed by a Resync. Nothing is asked while
//    no change arrives: no polling.

import { type RelationFacts, sameFacts } from './catalog-query.js';
import { formatPayload, type TableFilter, type TableName } from './tables.js';

/** How a change to a partition is named: under its partition root (the default), or as itself. */
export type PartitionNaming = 'root' | 'leaf';

/** Every {@link PartitionNaming}, the default first. */
export const PARTITION_NAMINGS: readonly PartitionNaming[] = ['root', 'leaf'];

/** A relation the cache knows. The hot path keeps a reference; the catalog updates it in place. */
export interface CatalogEntry {
  readonly schema: string;
  readonly table: string;
  /** The payload its changes are reported under, or null when the `tables` filter drops them. */
  readonly payload: string | null;
  /** Its replica identity's key columns (contract R23), or null: its changes are table-level. */
  readonly key: readonly string[] | null;
  /** Set once a change used this entry since its last re-check was sent; see {@link RelationCatalog.use}. */
  readonly seen: boolean;
  /** False once the entry left the cache: the hot path must look the relation up again. */
  readonly cached: boolean;
}

/** Changes held for one unknown relation. */
interface Held {
  readonly name: TableName;
  count: number;
  readonly firstSeenMs: number;
  /** The query that asks about it, once sent. */
  asked: CatalogQuery | null;
  /** Changes were added after it was asked about: the answer may predate them. */
  grew: boolean;
}

interface Entry extends CatalogEntry {
  facts: RelationFacts;
  payload: string | null;
  key: readonly string[] | null;
  seen: boolean;
  cached: boolean;
}

/** One query's worth of work: the relations to ask about, unknown ones first. */
export interface CatalogQuery {
  /** Every relation asked about, in the order the answer lists them. */
  readonly relations: readonly TableName[];
  /** How many of `relations`, from the first, are lookups of unknown relations; the rest are re-checks. */
  readonly lookups: number;
  /** The entries re-checked, in order after the lookups. */
  readonly rechecks: readonly CatalogEntry[];
}

/** What held changes become once their relation is known: `count` changes to `payload`. */
export interface Release {
  readonly payload: string;
  readonly count: number;
  readonly firstSeenMs: number;
}

/** The outcome of an answer: changes to release, and whether the feed must resync. */
export interface CatalogOutcome {
  readonly releases: readonly Release[];
  /** Something was routed, or held, that the catalog now contradicts or cannot place. */
  readonly resync: boolean;
}

export interface RelationCatalogOptions {
  readonly naming: PartitionNaming;
  /** The `tables` filter, or null for every table. An entry matches every partition below it. */
  readonly filter: TableFilter | null;
  /** Distinct relations held at once before everything held is dropped for a Resync. */
  readonly maxHeld: number;
  /** The least time between two re-checks of seen entries. */
  readonly refreshIntervalMs: number;
}

/** The cache, the held changes and the query policy of one session. */
export class RelationCatalog {
  readonly #naming: PartitionNaming;
  readonly #filter: TableFilter | null;
  readonly #maxHeld: number;
  readonly #refreshIntervalMs: number;
  readonly #entries = new Map<string, Map<string, Entry>>();
  readonly #held = new Map<string, Map<string, Held>>();
  #heldCount = 0;
  /** Held relations not asked about yet, in order of first change. */
  #unasked: Held[] = [];
  /** Entries seen since the last re-check was sent. */
  #seen: Entry[] = [];
  #lastRecheckMs = Number.NEGATIVE_INFINITY;

  constructor(options: RelationCatalogOptions) {
    this.#naming = options.naming;
    this.#filter = options.filter;
    this.#maxHeld = options.maxHeld;
    this.#refreshIntervalMs = options.refreshIntervalMs;
  }

  /** The cache entry of `schema`.`table`, or undefined when it must be looked up. */
  entry(schema: string, table: string): CatalogEntry | undefined {
    return this.#entries.get(schema)?.get(table);
  }

  /**
   * Fills the cache with an answer obtained outside the query cycle (at connect), releasing nothing. An
   * absent relation is not cached: its first change will be looked up.
   */
  learn(name: TableName, facts: RelationFacts | null): void {
    if (facts !== null) this.#store(name, facts);
  }

  /**
   * Marks `entry` seen by a change (call it only when `entry.seen` is false: the hot path checks the flag).
   * Returns true when this makes a re-check wanted where none was: the shell should look at its schedule.
   */
  use(entry: CatalogEntry): boolean {
    const own = entry as Entry;
    if (own.seen || !own.cached) return false;
    own.seen = true;
    this.#seen.push(own);
    return this.#seen.length === 1;
  }

  /** Distinct relations with held changes. */
  get heldRelations(): number {
    return this.#heldCount;
  }

  /**
   * Holds `count` changes to the unknown relation `schema`.`table`, first seen at `nowMs`. Returns false,
   * holding nothing, when that would hold more than `maxHeld` relations: the caller drops what is held
   * ({@link dropHeld}) and resyncs.
   */
  hold(schema: string, table: string, count: number, nowMs: number): boolean {
    let tables = this.#held.get(schema);
    const held = tables?.get(table);
    if (held !== undefined) {
      held.count += count;
      if (held.asked !== null) held.grew = true;
      return true;
    }
    if (this.#heldCount >= this.#maxHeld) return false;
    if (tables === undefined) {
      tables = new Map();
      this.#held.set(schema, tables);
    }
    const fresh: Held = { name: { schema, table }, count, firstSeenMs: nowMs, asked: null, grew: false };
    tables.set(table, fresh);
    this.#heldCount += 1;
    this.#unasked.push(fresh);
    return true;
  }

  /** Forgets every held change (a Resync covers them); lookups in flight still fill the cache. */
  dropHeld(): void {
    this.#held.clear();
    this.#heldCount = 0;
    this.#unasked = [];
  }

  /**
   * The query to send now, or null: every held relation not yet asked about, and the seen entries when a
   * re-check is allowed (`refreshIntervalMs` after the last one). The caller sends it at once and has at
   * most one query in flight.
   */
  nextQuery(nowMs: number): CatalogQuery | null {
    const recheck = this.#seen.length > 0 && nowMs >= this.#lastRecheckMs + this.#refreshIntervalMs;
    if (this.#unasked.length === 0 && !recheck) return null;
    const relations: TableName[] = [];
    const rechecks: Entry[] = [];
    const query: CatalogQuery = { relations, lookups: this.#unasked.length, rechecks };
    for (const held of this.#unasked) {
      held.asked = query;
      relations.push(held.name);
    }
    this.#unasked = [];
    if (recheck) {
      this.#lastRecheckMs = nowMs;
      // Cleared now: a change that uses an entry after this query was sent is checked by the next one.
      for (const entry of this.#seen) {
        entry.seen = false;
        rechecks.push(entry);
        relations.push({ schema: entry.schema, table: entry.table });
      }
      this.#seen = [];
    }
    return query;
  }

  /** When a re-check becomes allowed, if one is wanted and not yet allowed; else null. */
  nextQueryAtMs(): number | null {
    if (this.#unasked.length > 0) return Number.NEGATIVE_INFINITY;
    return this.#seen.length > 0 ? this.#lastRecheckMs + this.#refreshIntervalMs : null;
  }

  /** Applies the answer to `query`: `facts[i]` answers `query.relations[i]` (null: not in the catalog). */
  answer(query: CatalogQuery, facts: readonly (RelationFacts | null)[]): CatalogOutcome {
    const releases: Release[] = [];
    let resync = false;
    for (let i = 0; i < query.lookups; i++) {
      const name = query.relations[i]!;
      const found = facts[i] ?? null;
      const held = this.#takeHeld(name, query);
      if (found === null) {
        // Written to a relation that is gone: nothing says where it belongs.
        if (held !== undefined) resync = true;
        continue;
      }
      const entry = this.#store(name, found);
      if (held === undefined) continue;
      if (entry.payload !== null) {
        releases.push({ payload: entry.payload, count: held.count, firstSeenMs: held.firstSeenMs });
      }
      // Routed by an answer that may be older than some of them: checked again, like any use.
      if (held.grew) this.use(entry);
    }
    for (let k = 0; k < query.rechecks.length; k++) {
      const entry = query.rechecks[k] as Entry;
      const found = facts[query.lookups + k] ?? null;
      if (!entry.cached) continue;
      if (found === null) {
        this.#evict(entry);
        resync = true;
      } else if (!sameFacts(entry.facts, found)) {
        entry.facts = found;
        entry.payload = this.#route(entry, found);
        entry.key = found.key;
        resync = true;
      }
    }
    return { releases, resync };
  }

  #store(name: TableName, facts: RelationFacts): Entry {
    let tables = this.#entries.get(name.schema);
    if (tables === undefined) {
      tables = new Map();
      this.#entries.set(name.schema, tables);
    }
    const existing = tables.get(name.table);
    if (existing !== undefined) {
      existing.facts = facts;
      existing.payload = this.#route(existing, facts);
      existing.key = facts.key;
      return existing;
    }
    const entry: Entry = {
      schema: name.schema,
      table: name.table,
      facts,
      payload: null,
      key: facts.key,
      seen: false,
      cached: true,
    };
    entry.payload = this.#route(entry, facts);
    tables.set(name.table, entry);
    return entry;
  }

  #evict(entry: Entry): void {
    entry.cached = false;
    const tables = this.#entries.get(entry.schema);
    tables?.delete(entry.table);
    if (tables?.size === 0) this.#entries.delete(entry.schema);
  }

  /** The changes held for `name` that `query` asked about; a later hold waits for its own query's answer. */
  #takeHeld(name: TableName, query: CatalogQuery): Held | undefined {
    const tables = this.#held.get(name.schema);
    const held = tables?.get(name.table);
    if (held === undefined || held.asked !== query) return undefined;
    tables!.delete(name.table);
    if (tables!.size === 0) this.#held.delete(name.schema);
    this.#heldCount -= 1;
    return held;
  }

  /** contract R20: matched when the filter names the relation or any ancestor; named by root or by itself. */
  #route(name: TableName, facts: RelationFacts): string | null {
    const filter = this.#filter;
    if (filter !== null && !facts.lineage.some((member) => filter.matches(member.schema, member.table))) {
      return null;
    }
    return formatPayload(this.#naming === 'leaf' ? name : facts.lineage[facts.lineage.length - 1]!);
  }
}

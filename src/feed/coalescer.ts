// Coalescing (contract R4, R6, R16, R24): changes to the same table (key null) or the same row become
// one entry with a count, kept in order of first arrival. Memory is one entry per distinct payload,
// whatever the row count, and at most `maxKeys` row entries per table: the change that would add one
// more folds the table's entries into one table-level entry (coarser, never wrong).

import { NudgeEvent } from './items.js';
import { formatKey } from './row-key.js';

interface Entry {
  readonly table: string;
  /** null for a table-level entry, which a collapse may make of a row entry. */
  key: readonly string[] | null;
  count: number;
  firstSeenMs: number;
  /** Arrival rank in the batch: the earliest of a table's entries keeps its place when they fold. */
  readonly rank: number;
}

/** One table's entries in the batch. */
interface TableEntries {
  whole: Entry | undefined;
  /** Row entries by key text; undefined until the first, and again once they folded into `whole`. */
  rows: Map<string, Entry> | undefined;
  /** Whether the rows folded in this batch: its later row changes count for the whole table. */
  folded: boolean;
}

/** Accumulates one batch's changes. */
export class Coalescer {
  readonly #maxKeys: number;
  // A Set iterates in insertion order, which is exactly "order of first arrival", and deletes in O(1)
  // when a table's rows fold. Not keyed by payload: `public.a:b` is row `b` of `public.a` and also the
  // whole of a table named `a:b`, two entries.
  #order = new Set<Entry>();
  #tables = new Map<string, TableEntries>();
  #changes = 0;
  #rank = 0;

  /** `maxKeys`: the most row entries one table may hold (at least 1). */
  constructor(maxKeys: number) {
    this.#maxKeys = maxKeys;
  }

  /**
   * Counts `n` changes to `table`, or to its row `key`; `firstSeenMs` becomes the firstSeen of an entry
   * this makes. `key` is copied when it makes an entry, so the caller may reuse its array.
   */
  add(table: string, key: readonly string[] | null, n: number, firstSeenMs: number): void {
    this.#changes += n;
    let entries = this.#tables.get(table);
    if (entries === undefined) {
      entries = { whole: undefined, rows: undefined, folded: false };
      this.#tables.set(table, entries);
    }
    if (key === null || entries.folded) {
      if (entries.whole === undefined) entries.whole = this.#enter(table, null, n, firstSeenMs);
      else entries.whole.count += n;
      return;
    }
    const text = formatKey(key);
    entries.rows ??= new Map();
    const entry = entries.rows.get(text);
    if (entry !== undefined) entry.count += n;
    else if (entries.rows.size < this.#maxKeys) {
      entries.rows.set(text, this.#enter(table, Object.freeze(key.slice()), n, firstSeenMs));
    } else this.#fold(entries, entries.rows, n, firstSeenMs);
  }

  /** Whether counting a change to `table` (or its row `key`) would add an entry, as opposed to a count. */
  adds(table: string, key: readonly string[] | null): boolean {
    const entries = this.#tables.get(table);
    if (entries === undefined) return true;
    if (key === null || entries.folded) return entries.whole === undefined;
    const rows = entries.rows;
    // A row past maxKeys folds the table's entries: never an entry more.
    return rows === undefined || (rows.size < this.#maxKeys && !rows.has(formatKey(key)));
  }

  /**
   * Whether `table`'s rows folded in this batch, so that a row change to it counts for the whole table
   * exactly as a table-level change does (its key no longer matters).
   */
  folded(table: string): boolean {
    return this.#tables.get(table)?.folded === true;
  }

  /** Distinct payloads held: table-level and row entries. */
  get size(): number {
    return this.#order.size;
  }

  /** Changes held, summed over entries. */
  get changes(): number {
    return this.#changes;
  }

  /** The events in order of first arrival; leaves the coalescer empty. */
  drain(): NudgeEvent[] {
    const events: NudgeEvent[] = [];
    for (const entry of this.#order) {
      events.push(new NudgeEvent(entry.table, entry.count, new Date(entry.firstSeenMs), entry.key));
    }
    this.clear();
    return events;
  }

  /** Forgets everything held. */
  clear(): void {
    this.#order = new Set();
    this.#tables = new Map();
    this.#changes = 0;
    this.#rank = 0;
  }

  #enter(table: string, key: readonly string[] | null, n: number, firstSeenMs: number): Entry {
    const entry: Entry = { table, key, count: n, firstSeenMs, rank: this.#rank++ };
    this.#order.add(entry);
    return entry;
  }

  /**
   * Folds a table's row entries, its table-level entry if any, and `n` more changes into one table-level
   * entry: the earliest of them, so the table keeps its place in the batch, with their summed count and
   * earliest firstSeen. Costs one pass over at most maxKeys entries, once per table per batch.
   */
  #fold(entries: TableEntries, rows: Map<string, Entry>, n: number, firstSeenMs: number): void {
    // Rows are in arrival order, and there is at least one (maxKeys >= 1): only the first of them can
    // be earlier than the table-level entry.
    const first = rows.values().next().value as Entry;
    const whole = entries.whole;
    const into = whole !== undefined && whole.rank < first.rank ? whole : first;
    let count = n;
    let earliest = firstSeenMs;
    const merge = (entry: Entry) => {
      count += entry.count;
      earliest = Math.min(earliest, entry.firstSeenMs);
      if (entry !== into) this.#order.delete(entry);
    };
    if (entries.whole !== undefined) merge(entries.whole);
    for (const entry of rows.values()) merge(entry);
    into.key = null;
    into.count = count;
    into.firstSeenMs = earliest;
    entries.whole = into;
    entries.rows = undefined;
    entries.folded = true;
  }
}

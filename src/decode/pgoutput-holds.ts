// Changes the pgoutput decoder may not nudge yet: those of transactions streamed while in progress
// (released at Stream Commit) and of transactions decoded at PREPARE (released at COMMIT PREPARED).
// Only counts are held, per (top-level transaction, subtransaction, relation, op), so that a
// subtransaction's abort can drop exactly its share; with row keys, also each row key's count per
// (transaction, subtransaction, relation). Both the number of transactions and of entries are capped:
// past a cap the transaction that needed more is dropped and the set is marked lost, and the decoder
// turns the commit of a transaction it no longer holds into an overflow. Keys have caps of their own
// (per entry, and over everything held) past which an entry's keys collapse into one count of row
// changes whose keys are not kept: coarser, never wrong (contract R24).

import type { ChangeOp } from './change.js';
import type { PgoutputRelation } from './pgoutput-relation.js';

/** The ops in the order held counts store them. */
export const OPS: readonly ChangeOp[] = ['insert', 'update', 'delete', 'truncate'];

/** An index into OPS. */
export type OpIndex = 0 | 1 | 2 | 3;

/** One row key held, with its count. */
interface HeldKey {
  readonly values: readonly string[];
  count: number;
}

/** What one (subtransaction, relation) changed. */
class HeldEntry {
  /** Table-level changes by op (TRUNCATE, and rows of a relation without a readable key). */
  readonly counts = [0, 0, 0, 0];
  /** Row changes by key; null once collapsed (or before the first). */
  keys: Map<string, HeldKey> | null = null;
  /** Row changes whose keys are not kept (collapsed past a cap). */
  collapsed = 0;
}

/** One top-level transaction's held changes. */
export class HeldTransaction {
  /** The top-level transaction id. */
  readonly xid: number;
  /** Relations described inside this transaction's stream blocks, applied to the cache at its commit. */
  readonly relations = new Map<number, PgoutputRelation>();
  /** What each subtransaction (the top-level id for the transaction's own changes) changed, by relation. */
  readonly subtransactions = new Map<number, Map<PgoutputRelation, HeldEntry>>();
  /** Decoded at PREPARE (two-phase): waits for COMMIT PREPARED or ROLLBACK PREPARED. */
  prepared = false;
  /** Held entries: (subtransaction, relation) pairs plus described relations. */
  entries = 0;
  /** Row keys held over all its entries. */
  keys = 0;
  // The last (subtransaction, relation) counted: a large transaction repeats it row after row.
  lastSub = -1;
  lastRelation: PgoutputRelation | null = null;
  lastEntry: HeldEntry | null = null;

  constructor(xid: number) {
    this.xid = xid;
  }

  /**
   * Calls `emit` once per (relation, op) with the table-level counts summed over subtransactions, in
   * first-seen order; then `emitRow` once per held row key (per subtransaction: the engine sums a key's
   * counts), and once with a null key per entry whose keys collapsed.
   */
  release(
    emit: (relation: PgoutputRelation, op: ChangeOp, count: number) => void,
    emitRow: (relation: PgoutputRelation, key: readonly string[] | null, count: number) => void,
  ): void {
    const merged = new Map<PgoutputRelation, number[]>();
    for (const byRelation of this.subtransactions.values()) {
      for (const [relation, entry] of byRelation) {
        const sum = merged.get(relation);
        if (sum === undefined) merged.set(relation, entry.counts.slice());
        else for (let op = 0; op < OPS.length; op++) sum[op]! += entry.counts[op]!;
      }
    }
    for (const [relation, counts] of merged) {
      for (let op = 0; op < OPS.length; op++) if (counts[op]! > 0) emit(relation, OPS[op]!, counts[op]!);
    }
    if (this.keys === 0 && !this.#anyCollapsed()) return;
    for (const byRelation of this.subtransactions.values()) {
      for (const [relation, entry] of byRelation) {
        if (entry.collapsed > 0) emitRow(relation, null, entry.collapsed);
        if (entry.keys !== null)
          for (const key of entry.keys.values()) emitRow(relation, key.values, key.count);
      }
    }
  }

  #anyCollapsed(): boolean {
    for (const byRelation of this.subtransactions.values()) {
      for (const entry of byRelation.values()) if (entry.collapsed > 0) return true;
    }
    return false;
  }
}

/** Caps on what the decoder holds; see HeldTransactions. */
export interface HoldLimits {
  /** Most transactions held at once (streamed in progress, or prepared). */
  readonly maxTransactions: number;
  /** Most entries held over all transactions: (subtransaction, relation) pairs and described relations. */
  readonly maxEntries: number;
  /** Most row keys held per entry before its keys collapse (the feed's maxKeys, contract R24). */
  readonly maxKeysPerEntry: number;
  /** Most row keys held over all transactions before the entry that needed more collapses. */
  readonly maxKeys: number;
}

/** Every held transaction, by top-level xid, within the limits. */
export class HeldTransactions {
  readonly #byXid = new Map<number, HeldTransaction>();
  readonly #limits: HoldLimits;
  #entries = 0;
  #keys = 0;
  #lost = false;

  constructor(limits: HoldLimits) {
    this.#limits = limits;
  }

  /** Transactions held now. */
  get size(): number {
    return this.#byXid.size;
  }

  /** Entries held now, over all transactions. */
  get entries(): number {
    return this.#entries;
  }

  /**
   * Whether a cap ever dropped a transaction. From then on a commit of a transaction that is not held
   * may be one that was dropped, so it cannot be said to have touched nothing.
   */
  get lost(): boolean {
    return this.#lost;
  }

  get(xid: number): HeldTransaction | undefined {
    return this.#byXid.get(xid);
  }

  /** Starts holding `xid` (which must not be held), or returns null when the transaction cap is reached. */
  open(xid: number): HeldTransaction | null {
    if (this.#byXid.size >= this.#limits.maxTransactions) {
      this.#lost = true;
      return null;
    }
    const held = new HeldTransaction(xid);
    this.#byXid.set(xid, held);
    return held;
  }

  /** Row keys held now, over all transactions. */
  get keys(): number {
    return this.#keys;
  }

  /** Counts `count` table-level changes; false when the entry cap dropped the transaction instead. */
  add(held: HeldTransaction, sub: number, relation: PgoutputRelation, op: OpIndex, count: number): boolean {
    const entry = this.#entry(held, sub, relation);
    if (entry === null) return false;
    entry.counts[op]! += count;
    return true;
  }

  /**
   * Counts `count` changes to the row whose key is `key` (copied when kept); false when the entry cap
   * dropped the transaction instead. Past a key cap the entry's keys collapse into one count.
   */
  addKey(
    held: HeldTransaction,
    sub: number,
    relation: PgoutputRelation,
    key: readonly string[],
    count: number,
  ): boolean {
    const entry = this.#entry(held, sub, relation);
    if (entry === null) return false;
    if (entry.collapsed > 0 && entry.keys === null) {
      entry.collapsed += count;
      return true;
    }
    // Key text never holds NUL (PostgreSQL text cannot), so joining on it keeps keys distinct.
    const id = key.length === 1 ? key[0]! : key.join('\0');
    let keys = entry.keys;
    const found = keys?.get(id);
    if (found !== undefined) {
      found.count += count;
      return true;
    }
    if ((keys?.size ?? 0) >= this.#limits.maxKeysPerEntry || this.#keys >= this.#limits.maxKeys) {
      let sum = count;
      if (keys !== null) for (const kept of keys.values()) sum += kept.count;
      const size = keys?.size ?? 0;
      held.keys -= size;
      this.#keys -= size;
      entry.keys = null;
      entry.collapsed += sum;
      return true;
    }
    if (keys === null) {
      keys = new Map();
      entry.keys = keys;
    }
    keys.set(id, { values: key.slice(), count });
    held.keys += 1;
    this.#keys += 1;
    return true;
  }

  /** The entry of (sub, relation), made when new; null when the entry cap dropped the transaction instead. */
  #entry(held: HeldTransaction, sub: number, relation: PgoutputRelation): HeldEntry | null {
    if (held.lastSub === sub && held.lastRelation === relation) return held.lastEntry!;
    let byRelation = held.subtransactions.get(sub);
    let entry = byRelation?.get(relation);
    if (entry === undefined) {
      if (!this.#grow(held)) return null;
      if (byRelation === undefined) {
        byRelation = new Map();
        held.subtransactions.set(sub, byRelation);
      }
      entry = new HeldEntry();
      byRelation.set(relation, entry);
    }
    held.lastSub = sub;
    held.lastRelation = relation;
    held.lastEntry = entry;
    return entry;
  }

  /** Remembers a relation described inside the transaction; false when the entry cap dropped it instead. */
  describe(held: HeldTransaction, relation: PgoutputRelation): boolean {
    if (!held.relations.has(relation.oid) && !this.#grow(held)) return false;
    held.relations.set(relation.oid, relation);
    return true;
  }

  /** Removes and returns the relations the transaction described (they now apply to everyone). */
  takeRelations(held: HeldTransaction): PgoutputRelation[] {
    const relations = [...held.relations.values()];
    held.relations.clear();
    held.entries -= relations.length;
    this.#entries -= relations.length;
    return relations;
  }

  /** Forgets what subtransaction `sub` of the held transaction changed (it rolled back). */
  abortSubtransaction(held: HeldTransaction, sub: number): void {
    const byRelation = held.subtransactions.get(sub);
    if (byRelation === undefined) return;
    held.subtransactions.delete(sub);
    held.entries -= byRelation.size;
    this.#entries -= byRelation.size;
    for (const entry of byRelation.values()) {
      const size = entry.keys?.size ?? 0;
      held.keys -= size;
      this.#keys -= size;
    }
    if (held.lastSub === sub) {
      held.lastSub = -1;
      held.lastRelation = null;
      held.lastEntry = null;
    }
  }

  /** Stops holding `xid` and returns what it held (to release or to drop), if anything. */
  take(xid: number): HeldTransaction | undefined {
    const held = this.#byXid.get(xid);
    if (held === undefined) return undefined;
    this.#byXid.delete(xid);
    this.#entries -= held.entries;
    this.#keys -= held.keys;
    return held;
  }

  #grow(held: HeldTransaction): boolean {
    if (this.#entries >= this.#limits.maxEntries) {
      this.take(held.xid);
      this.#lost = true;
      return false;
    }
    held.entries += 1;
    this.#entries += 1;
    return true;
  }
}

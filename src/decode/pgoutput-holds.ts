// Changes the pgoutput decoder may not nudge yet: those of transactions streamed while in progress
// (released at Stream Commit) and of transactions decoded at PREPARE (released at COMMIT PREPARED).
// Only counts are held, per (top-level transaction, subtransaction, relation, op), so that a
// subtransaction's abort can drop exactly its share. Both the number of transactions and of entries
// are capped: past a cap the transaction that needed more is dropped and the set is marked lost,
// and the decoder turns the commit of a transaction it no longer holds into an overflow.

import type { ChangeOp } from './change.js';
import type { PgoutputRelation } from './pgoutput-relation.js';

/** The ops in the order held counts store them. */
export const OPS: readonly ChangeOp[] = ['insert', 'update', 'delete', 'truncate'];

/** An index into OPS. */
export type OpIndex = 0 | 1 | 2 | 3;

/** One top-level transaction's held changes. */
export class HeldTransaction {
  /** The top-level transaction id. */
  readonly xid: number;
  /** Relations described inside this transaction's stream blocks, applied to the cache at its commit. */
  readonly relations = new Map<number, PgoutputRelation>();
  /** Counts by subtransaction id (the top-level id for its own changes), relation and op. */
  readonly subtransactions = new Map<number, Map<PgoutputRelation, number[]>>();
  /** Decoded at PREPARE (two-phase): waits for COMMIT PREPARED or ROLLBACK PREPARED. */
  prepared = false;
  /** Held entries: (subtransaction, relation) pairs plus described relations. */
  entries = 0;
  // The last (subtransaction, relation) counted: a large transaction repeats it row after row.
  lastSub = -1;
  lastRelation: PgoutputRelation | null = null;
  lastCounts: number[] | null = null;

  constructor(xid: number) {
    this.xid = xid;
  }

  /** Calls `emit` once per (relation, op) with the counts summed over subtransactions, in first-seen order. */
  release(emit: (relation: PgoutputRelation, op: ChangeOp, count: number) => void): void {
    let merged: Map<PgoutputRelation, number[]>;
    if (this.subtransactions.size === 1) {
      merged = this.subtransactions.values().next().value!;
    } else {
      merged = new Map();
      for (const byRelation of this.subtransactions.values()) {
        for (const [relation, counts] of byRelation) {
          const sum = merged.get(relation);
          if (sum === undefined) merged.set(relation, counts.slice());
          else for (let op = 0; op < OPS.length; op++) sum[op]! += counts[op]!;
        }
      }
    }
    for (const [relation, counts] of merged) {
      for (let op = 0; op < OPS.length; op++) if (counts[op]! > 0) emit(relation, OPS[op]!, counts[op]!);
    }
  }
}

/** Caps on what the decoder holds; see HeldTransactions. */
export interface HoldLimits {
  /** Most transactions held at once (streamed in progress, or prepared). */
  readonly maxTransactions: number;
  /** Most entries held over all transactions: (subtransaction, relation) pairs and described relations. */
  readonly maxEntries: number;
}

/** Every held transaction, by top-level xid, within the limits. */
export class HeldTransactions {
  readonly #byXid = new Map<number, HeldTransaction>();
  readonly #limits: HoldLimits;
  #entries = 0;
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

  /** Counts `count` changes; false when the entry cap dropped the transaction instead. */
  add(held: HeldTransaction, sub: number, relation: PgoutputRelation, op: OpIndex, count: number): boolean {
    if (held.lastSub === sub && held.lastRelation === relation) {
      held.lastCounts![op]! += count;
      return true;
    }
    let byRelation = held.subtransactions.get(sub);
    let counts = byRelation?.get(relation);
    if (counts === undefined) {
      if (!this.#grow(held)) return false;
      if (byRelation === undefined) {
        byRelation = new Map();
        held.subtransactions.set(sub, byRelation);
      }
      counts = [0, 0, 0, 0];
      byRelation.set(relation, counts);
    }
    counts[op]! += count;
    held.lastSub = sub;
    held.lastRelation = relation;
    held.lastCounts = counts;
    return true;
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
    if (held.lastSub === sub) {
      held.lastSub = -1;
      held.lastRelation = null;
      held.lastCounts = null;
    }
  }

  /** Stops holding `xid` and returns what it held (to release or to drop), if anything. */
  take(xid: number): HeldTransaction | undefined {
    const held = this.#byXid.get(xid);
    if (held === undefined) return undefined;
    this.#byXid.delete(xid);
    this.#entries -= held.entries;
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

// CommitGate: holds each transaction's row counts per relation until the transaction's fate is in the
// WAL. Physical WAL carries changes as they happen, committed or not; only a commit record makes them
// real. Pure code: it implements WalEventSink and emits one GateOutput per commit that matters.
//
// Rules (contract R28):
// - A commit releases its own counts and its subtransactions' (the commit record lists the committed
//   ones; at wal_level = replica each subtransaction writes under its own xid). An abort drops them.
// - PREPARE TRANSACTION moves the counts (with the subtransactions') under the prepared xid, and COMMIT
//   PREPARED releases them, ABORT PREPARED drops them. Releasing at PREPARE would wake consumers before
//   the rows are visible (a PREPAREd transaction's changes stay invisible until COMMIT PREPARED), and the
//   wakeup that matters, at COMMIT PREPARED, would then never come: a missed change, where contract R3 allows
//   none. A transaction prepared before the stream started is in `runningAtStart` (the snapshot's xip
//   includes prepared transactions), so its COMMIT PREPARED resyncs.
// - A commit also reports the relation files it drops (TRUNCATE, VACUUM FULL and CLUSTER swap the files
//   of a table: at wal_level = replica there is no TRUNCATE record) and the ones it created.
// - Only relations of the watched database are held; shared catalogs (database 0) and other databases
//   are dropped on arrival.
// - A transaction that ended unseen (the server crashed, so no abort record exists) is forgotten when an
//   XLOG_RUNNING_XACTS record shows every transaction older than it has ended.
// - A commit of a transaction that was running when the stream started may have written rows before
//   the start: the gate cannot know which, so that commit yields a resync (coarser, never wrong).
//
// Bounds: at most `maxTransactions` transactions (open or prepared) and `maxRelations` held relation
// counts in total. Past them, never unbounded memory, never a missed change:
// - a transaction that needs a relation slot past `maxRelations` gives up all its slots and is marked
//   overflowed; its commit yields a resync instead of a release;
// - a transaction that needs an entry past `maxTransactions` is not tracked; the range of xids lost this
//   way is kept (two numbers), and a commit of any xid in that range that the gate holds nothing for
//   yields a resync, until an XLOG_RUNNING_XACTS record shows every lost transaction has ended.

import type { ChangeOp } from '../change.js';
import type { WalEventSink } from './interpret.js';
import type { BlockRef, WalRecord } from './record.js';
import type { RelFileLocator, XactEnd, XactPrepare } from './xact.js';
import { xidPrecedes } from './xid.js';

/** Row changes a committed transaction made to one relation file. */
export interface RelationCount extends RelFileLocator {
  /** Rows inserted, updated or deleted (a COPY of 500 rows counts 500). */
  count: number;
}

/** A committed transaction's effects on the watched database. */
export interface GateRelease {
  readonly type: 'release';
  /** The top-level xid (for COMMIT PREPARED, the prepared one). */
  readonly xid: number;
  /** End of the commit record: the changes are visible to transactions that start after it. */
  readonly endLsn: bigint;
  /** Row counts per relation file, in order of first change. */
  readonly relations: readonly RelationCount[];
  /** Relation files the commit dropped: a TRUNCATE, VACUUM FULL, CLUSTER or DROP of their relation. */
  readonly droppedRelFiles: readonly RelFileLocator[];
  /** Main-fork relation files the transaction created (new relations, or the new files of a rewrite). */
  readonly createdRelFiles: readonly RelFileLocator[];
}

/**
 * A commit whose effects the gate cannot list: `overflow` (a bound was hit) or `started-before-stream`
 * (the transaction was running when the stream started). The feed turns it into a Resync.
 */
export interface GateResync {
  readonly type: 'resync';
  readonly reason: 'overflow' | 'started-before-stream';
  readonly xid: number;
  readonly endLsn: bigint;
}

export type GateOutput = GateRelease | GateResync;

/** Options for {@link CommitGate}. */
export interface CommitGateOptions {
  /** OID of the watched database: relations of any other database are ignored. */
  dbOid: number;
  /** Transactions (open or prepared) tracked at once. Default 10,000. */
  maxTransactions?: number;
  /** Relation counts held across all tracked transactions. Default 100,000. */
  maxRelations?: number;
  /** Top-level xids running when the stream started (`pg_current_snapshot()`'s xip, taken after it started). */
  runningAtStart?: Iterable<number>;
}

export const DEFAULT_MAX_TRANSACTIONS = 10_000;
export const DEFAULT_MAX_RELATIONS = 100_000;

/** One relation's count inside a transaction; `next` chains files that share a relfilenumber. */
interface Slot {
  spcOid: number;
  relNumber: number;
  count: number;
  next: Slot | undefined;
}

class Held {
  /** Keyed by relfilenumber (unique per tablespace within one database). */
  readonly slots = new Map<number, Slot>();
  /** Insertion order, for a stable release order. */
  readonly order: Slot[] = [];
  created: RelFileLocator[] | undefined = undefined;
  /** Slots this transaction occupies (relation counts plus created files). */
  size = 0;
  overflowed = false;
}

/** See the file comment. */
export class CommitGate implements WalEventSink {
  readonly #dbOid: number;
  readonly #maxTransactions: number;
  readonly #maxRelations: number;
  readonly #emit: (output: GateOutput) => void;
  readonly #held = new Map<number, Held>();
  readonly #runningAtStart: Set<number>;
  #slots = 0;
  #lost = false;
  #lostFrom = 0;
  #lostTo = 0;
  // The last transaction that changed a row: consecutive changes are usually by one transaction.
  #lastXid = 0;
  #lastHeld: Held | undefined = undefined;

  constructor(options: CommitGateOptions, emit: (output: GateOutput) => void) {
    this.#dbOid = options.dbOid;
    this.#maxTransactions = options.maxTransactions ?? DEFAULT_MAX_TRANSACTIONS;
    this.#maxRelations = options.maxRelations ?? DEFAULT_MAX_RELATIONS;
    for (const [name, value] of [
      ['maxTransactions', this.#maxTransactions],
      ['maxRelations', this.#maxRelations],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 1) {
        throw new RangeError(`${name} must be a positive integer, got ${value}`);
      }
    }
    this.#runningAtStart = new Set(options.runningAtStart ?? []);
    this.#emit = emit;
  }

  /** Transactions tracked right now (open or prepared). */
  get transactions(): number {
    return this.#held.size;
  }

  /** Relation slots held right now, across all transactions. */
  get relations(): number {
    return this.#slots;
  }

  change(xid: number, block: BlockRef, _op: ChangeOp, count: number, _record: WalRecord): void {
    if (block.dbOid !== this.#dbOid || xid === 0) return;
    const held = xid === this.#lastXid && this.#lastHeld !== undefined ? this.#lastHeld : this.#entry(xid);
    if (held === undefined || held.overflowed) return;
    this.#lastXid = xid;
    this.#lastHeld = held;
    this.#add(held, block.spcOid, block.relNumber, count);
  }

  create(xid: number, locator: RelFileLocator): void {
    if (locator.dbOid !== this.#dbOid || xid === 0) return;
    const held = this.#entry(xid);
    if (held === undefined || held.overflowed || !this.#reserve(held)) return;
    addCreated(held, locator);
  }

  end(event: XactEnd): void {
    const commit = event.kind === 'commit' || event.kind === 'commit-prepared';
    let overflow = false;
    const merged = commit ? new Held() : undefined;
    for (let i = -1; i < event.subxacts.length; i++) {
      const xid = i === -1 ? event.xid : event.subxacts[i]!;
      const held = this.#take(xid);
      if (!commit) continue;
      if (held === undefined) {
        if (this.#isLost(xid)) overflow = true;
      } else if (held.overflowed) {
        overflow = true;
      } else {
        mergeInto(merged!, held);
      }
    }
    const startedBefore = this.#runningAtStart.delete(event.xid);
    if (!commit) return;
    if (overflow || startedBefore) {
      this.#emit({
        type: 'resync',
        reason: overflow ? 'overflow' : 'started-before-stream',
        xid: event.xid,
        endLsn: event.endLsn,
      });
      return;
    }
    const relations: RelationCount[] = merged!.order.map((slot) => ({
      spcOid: slot.spcOid,
      dbOid: this.#dbOid,
      relNumber: slot.relNumber,
      count: slot.count,
    }));
    const droppedRelFiles = event.relFiles.filter((file) => file.dbOid === this.#dbOid);
    const createdRelFiles = merged!.created ?? [];
    if (relations.length === 0 && droppedRelFiles.length === 0 && createdRelFiles.length === 0) return;
    this.#emit({
      type: 'release',
      xid: event.xid,
      endLsn: event.endLsn,
      relations,
      droppedRelFiles,
      createdRelFiles,
    });
  }

  prepare(event: XactPrepare): void {
    this.#gather(event.xid, event.subxacts);
  }

  assignment(top: number, subxacts: readonly number[]): void {
    this.#gather(top, subxacts);
  }

  runningXacts(oldestRunningXid: number, _nextXid: number, _record: WalRecord): void {
    for (const xid of [...this.#held.keys()]) {
      if (xidPrecedes(xid, oldestRunningXid)) this.#take(xid);
    }
    for (const xid of [...this.#runningAtStart]) {
      if (xidPrecedes(xid, oldestRunningXid)) this.#runningAtStart.delete(xid);
    }
    if (this.#lost && xidPrecedes(this.#lostTo, oldestRunningXid)) this.#lost = false;
  }

  /** Moves the counts of `subxacts` under `top` (fewer entries; same release, since top's end lists them). */
  #gather(top: number, subxacts: readonly number[]): void {
    let target = this.#held.get(top);
    for (const sub of subxacts) {
      const held = this.#take(sub);
      if (held === undefined) continue;
      if (target === undefined) {
        // Taking `held` out freed an entry, so this never passes maxTransactions.
        target = new Held();
        this.#held.set(top, target);
      }
      if (held.overflowed) this.#overflow(target);
      if (target.overflowed) continue;
      for (const slot of held.order) {
        if (!this.#add(target, slot.spcOid, slot.relNumber, slot.count)) break;
      }
      for (const file of held.created ?? []) {
        if (target.overflowed || !this.#reserve(target)) break;
        addCreated(target, file);
      }
    }
  }

  #add(held: Held, spcOid: number, relNumber: number, count: number): boolean {
    const first = held.slots.get(relNumber);
    let slot = first;
    while (slot !== undefined && slot.spcOid !== spcOid) slot = slot.next;
    if (slot === undefined) {
      if (!this.#reserve(held)) return false;
      slot = { spcOid, relNumber, count: 0, next: first };
      held.slots.set(relNumber, slot);
      held.order.push(slot);
    }
    slot.count += count;
    return true;
  }

  /** The entry for `xid`, created if there is room; undefined (and the xid remembered as lost) if not. */
  #entry(xid: number): Held | undefined {
    let held = this.#held.get(xid);
    if (held !== undefined) return held;
    if (this.#held.size >= this.#maxTransactions) {
      this.#lose(xid);
      return undefined;
    }
    held = new Held();
    // An xid in the lost range may have changed rows while untracked: its counts would be short.
    if (this.#isLost(xid)) held.overflowed = true;
    this.#held.set(xid, held);
    return held;
  }

  /** Takes one slot for `held`, or overflows it when the total bound is reached. */
  #reserve(held: Held): boolean {
    if (this.#slots >= this.#maxRelations) {
      this.#overflow(held);
      return false;
    }
    this.#slots++;
    held.size++;
    return true;
  }

  #overflow(held: Held): void {
    this.#slots -= held.size;
    held.size = 0;
    held.slots.clear();
    held.order.length = 0;
    held.created = undefined;
    held.overflowed = true;
  }

  #take(xid: number): Held | undefined {
    const held = this.#held.get(xid);
    if (held === undefined) return undefined;
    this.#held.delete(xid);
    this.#slots -= held.size;
    if (this.#lastHeld === held) this.#lastHeld = undefined;
    return held;
  }

  #lose(xid: number): void {
    if (!this.#lost) {
      this.#lost = true;
      this.#lostFrom = xid;
      this.#lostTo = xid;
      return;
    }
    if (xidPrecedes(xid, this.#lostFrom)) this.#lostFrom = xid;
    if (xidPrecedes(this.#lostTo, xid)) this.#lostTo = xid;
  }

  #isLost(xid: number): boolean {
    return this.#lost && !xidPrecedes(xid, this.#lostFrom) && !xidPrecedes(this.#lostTo, xid);
  }
}

/** Adds `from`'s counts and created files into `into` (a local merge: no bounds, nothing held). */
function mergeInto(into: Held, from: Held): void {
  for (const slot of from.order) {
    const first = into.slots.get(slot.relNumber);
    let found = first;
    while (found !== undefined && found.spcOid !== slot.spcOid) found = found.next;
    if (found === undefined) {
      found = { spcOid: slot.spcOid, relNumber: slot.relNumber, count: 0, next: first };
      into.slots.set(slot.relNumber, found);
      into.order.push(found);
    }
    found.count += slot.count;
  }
  for (const file of from.created ?? []) addCreated(into, file);
}

function addCreated(held: Held, file: RelFileLocator): void {
  if (held.created === undefined) held.created = [file];
  else held.created.push(file);
}

// The batching engine (contract R4–R6, R9, R24): coalesces changes, closes batches on debounce / maxBatchWait,
// queues Resyncs, and hands items to the consumer. Pure: time comes from an injected Clock.
//
// Invariants (checked by test/unit/feed/batch-engine*.test.ts):
// 1. There is one pending batch (possibly empty) and at most one queued Resync.
// 2. The pending batch is "open" (timers armed, not takeable) or "ready" (closed, takeable, no batch
//    timers). Ready implies non-empty. While ready, new changes merge into it: a slow consumer costs
//    one entry per distinct payload (a table, or one row of it), never more (contract R6).
// 3. An open batch closes when debounceMs pass with no new change, or maxBatchWaitMs after its first
//    change, whichever is first (contract R5). Changes do not touch timers: the debounce timer, when it fires,
//    re-arms itself for the rest of the quiet period, so a million-row transaction costs no timer work.
//    While the feed holds changes for a catalog lookup (holding(true)), the quiet period has not begun:
//    those changes reached the client and belong to the burst, so the debounce waits for them, for at most
//    maxBatchWaitMs since the hold began (then a lookup that is slow to answer, or retried, no longer
//    holds back batches it has nothing to do with; the held changes come in the next one). A transaction
//    that names tables the feed has not looked up yet is one wakeup, not a batch without them and a
//    second with them.
// 4. A Resync drops the pending batch: reloading covers every change that reached the client before
//    it. So the queued Resync is older than everything in the batch, and take() returns it first.
// 5. Collapsing Resyncs keeps the reason that must not be lost: connected > reconnected > bridge >
//    overflow = failsafe, the newest among equals. The first item of a connection stays its
//    connect Resync (contract R1), whatever housekeeping Resync lands before the consumer pulls.
// 6. The batch never holds more than maxPending payloads: the change that would add one more drops
//    the batch and itself, and queues Resync('overflow') instead (contract R6).
// 7. Every change fed is exactly one of: pending, taken in a Batch, or counted in droppedChanges and
//    followed by a queued or taken Resync. Counts are never lost or invented, folds included.
// 8. After close() no timer is pending and every call is a no-op (take() returns undefined).
// 9. No timer is pending before the first change or start(): an engine never started (a feed never
//    iterated, or refused by a later check of its constructor) cannot keep the process alive (contract R10).
// 10. Row changes (changeRow) coalesce per row, table-level ones (change) per table; a table's
//    table-level entry and its row entries are distinct payloads. A table holds at most maxKeys row
//    entries per batch: the row change that would add one more folds them, its table-level entry and
//    itself into one table-level entry, at the place of the earliest of them, with their summed count
//    and earliest firstSeen; the table's later row changes in that batch count for it (contract R24).
//    A fold never adds an entry, so it never overflows; a ready batch folds the same way.
// 11. A firstSeenMs that is no time a Date can hold is replaced by now, so every event's firstSeen is a
//    valid Date (a bridge's bad clock cannot break a consumer's `--json`).

import { count, duration, optionalDuration } from '../option-rules.js';
import type { Clock, TimerHandle } from './clock.js';
import { Coalescer } from './coalescer.js';
import { Batch, type FeedItem, Resync, type ResyncReason } from './items.js';

/** The latest epoch millisecond a Date can hold, either side of 1970 (ECMA-262 TimeClip). */
const MAX_TIME_MS = 8.64e15;

/** BatchEngine settings; durations in milliseconds. */
export interface BatchEngineOptions {
  readonly clock: Clock;
  /** Quiet period that closes a batch; 0 closes it on the next timer tick. */
  readonly debounceMs: number;
  /** Longest a batch stays open after its first change, however busy the tables. */
  readonly maxBatchWaitMs: number;
  /** Most distinct payloads one pending batch may hold before it becomes Resync('overflow'). */
  readonly maxPending: number;
  /** Most distinct row keys of one table a batch holds before they fold into one table-level entry. */
  readonly maxKeys: number;
  /** Interval of Resync('failsafe') once started, or null for none. */
  readonly failsafeMs: number | null;
  /** Called, synchronously, when take() may have something new. May call take() or close(). */
  readonly onReadable: () => void;
}

const RESYNC_RANK: Readonly<Record<ResyncReason, number>> = {
  connected: 3,
  reconnected: 2,
  bridge: 1,
  overflow: 0,
  failsafe: 0,
};

/** Turns a stream of changes and resyncs into the feed's items. One per feed; not reusable after close(). */
export class BatchEngine {
  readonly #clock: Clock;
  readonly #debounceMs: number;
  readonly #maxBatchWaitMs: number;
  readonly #maxPending: number;
  readonly #failsafeMs: number | null;
  readonly #onReadable: () => void;

  readonly #batch: Coalescer;
  #ready = false;
  #held = false;
  /** When the current hold began (holding(true) after false). */
  #heldSinceMs = 0;
  #lastChangeMs = 0;
  #debounceTimer: TimerHandle | undefined;
  #maxWaitTimer: TimerHandle | undefined;
  #failsafeTimer: TimerHandle | undefined;
  #resync: ResyncReason | undefined;
  #dropped = 0;
  /** Changes that left the pending batch: taken in a Batch, dropped for a Resync, or forgotten by close(). */
  #settled = 0;
  #started = false;
  #closed = false;

  /** Validates the settings (ConfigError naming the option, as the feed options name it). Arms nothing. */
  constructor(options: BatchEngineOptions) {
    this.#clock = options.clock;
    this.#debounceMs = duration('debounce', options.debounceMs, 0);
    this.#maxBatchWaitMs = duration('maxBatchWait', options.maxBatchWaitMs, 0);
    this.#maxPending = count('maxPending', options.maxPending, 'distinct payloads', 1);
    this.#batch = new Coalescer(count('maxKeys', options.maxKeys, 'distinct keys per table', 1));
    this.#failsafeMs = optionalDuration('failsafe', options.failsafeMs, 1, null);
    this.#onReadable = options.onReadable;
  }

  /** Starts the failsafe timer, if any: the feed calls it on the first `next()`. Idempotent. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    if (this.#failsafeMs !== null) this.#armFailsafe();
  }

  /**
   * Records `count` (default 1) changes to the whole of `payload` (`schema.table`): a table-level event
   * (key null). `firstSeenMs` (default now) stamps a new entry: a fan-out listener passes the time the
   * bridge first saw the change. `receivedMs` is this engine's clock as the caller read it when the
   * change arrived (default: read now), so a feed reads the clock once per socket read, not per change.
   */
  change(payload: string, count = 1, firstSeenMs?: number, receivedMs?: number): void {
    this.#record(payload, null, count, firstSeenMs, receivedMs);
  }

  /**
   * Records `count` (default 1) changes to the row of `table` whose key values (as text, in key-column
   * order) are `key`; a null `key` is {@link change}. Coalesces per row, at most `maxKeys` rows per table
   * per batch (contract R24). `key` is copied when kept, so the caller may reuse its array. Throws
   * RangeError for a key without values. `firstSeenMs` and `receivedMs` as in {@link change}.
   */
  changeRow(
    table: string,
    key: readonly string[] | null,
    count = 1,
    firstSeenMs?: number,
    receivedMs?: number,
  ): void {
    if (key !== null && key.length === 0) throw new RangeError('a row key has at least one value');
    this.#record(table, key, count, firstSeenMs, receivedMs);
  }

  /**
   * Whether a row change to `table` would now count exactly as a table-level one: its rows folded in the
   * pending batch (past maxKeys), so changeRow() and change() do the same until the batch is taken. A
   * decoder may then skip reading the row's key, which a big transaction would otherwise pay per row.
   */
  rowsFolded(table: string): boolean {
    return this.#batch.folded(table);
  }

  #record(
    table: string,
    key: readonly string[] | null,
    count: number,
    firstSeenMs: number | undefined,
    receivedMs: number | undefined,
  ): void {
    if (this.#closed) return;
    const now = receivedMs ?? this.#clock.now();
    if (this.#batch.size >= this.#maxPending && this.#batch.adds(table, key)) {
      this.#dropBatch(count);
      this.#queueResync('overflow');
      return;
    }
    const stamp = firstSeenMs !== undefined && Math.abs(firstSeenMs) <= MAX_TIME_MS ? firstSeenMs : now;
    this.#batch.add(table, key, count, stamp);
    this.#lastChangeMs = now;
    if (!this.#ready && this.#debounceTimer === undefined) {
      this.#debounceTimer = this.#clock.setTimer(this.#debounceMs, this.#onDebounce);
      this.#maxWaitTimer = this.#clock.setTimer(this.#maxBatchWaitMs, this.#onMaxWait);
    }
  }

  /**
   * Whether changes that reached the feed are held until a catalog lookup places them (a relation the
   * feed has not looked up yet). While they are, for at most maxBatchWait since the hold began, an open
   * batch does not close on debounce (invariant 3). The feed says false once nothing is held: released,
   * dropped for a Resync, or its session ended. Reads the clock only when a hold begins.
   */
  holding(held: boolean): void {
    if (this.#closed) return;
    if (held && !this.#held) this.#heldSinceMs = this.#clock.now();
    this.#held = held;
  }

  /** Drops the pending batch and queues Resync(`reason`), collapsing with one already queued. */
  resync(reason: ResyncReason): void {
    if (this.#closed) return;
    this.#dropBatch(0);
    this.#queueResync(reason);
  }

  /** The next item: the queued Resync first, then the closed batch; undefined when neither exists. */
  take(): FeedItem | undefined {
    if (this.#resync !== undefined) {
      const item = new Resync(this.#resync);
      this.#resync = undefined;
      return item;
    }
    if (!this.#ready) return undefined;
    this.#ready = false;
    this.#settled += this.#batch.changes;
    return new Batch(this.#batch.drain());
  }

  /** Distinct payloads (tables and rows) in the pending batch, open or ready. */
  get pendingPayloads(): number {
    return this.#batch.size;
  }

  /** Changes discarded so far because a Resync (connect, overflow, failsafe) superseded them. */
  get droppedChanges(): number {
    return this.#dropped;
  }

  /**
   * Every change fed so far, pending or not (feed.stats().changes). Summed from what the engine counts
   * anyway, so a change costs nothing more; changes fed after close() are not counted.
   */
  get changesReceived(): number {
    return this.#settled + this.#batch.changes;
  }

  /** Cancels every timer and forgets everything pending. Idempotent. */
  close(): void {
    if (!this.#closed) this.#settled += this.#batch.changes;
    this.#closed = true;
    this.#clearBatchTimers();
    if (this.#failsafeTimer !== undefined) this.#clock.clearTimer(this.#failsafeTimer);
    this.#failsafeTimer = undefined;
    this.#batch.clear();
    this.#ready = false;
    this.#resync = undefined;
  }

  readonly #onDebounce = (): void => {
    this.#debounceTimer = undefined;
    const now = this.#clock.now();
    const remaining = this.#lastChangeMs + this.#debounceMs - now;
    const holdLeft = this.#held ? this.#heldSinceMs + this.#maxBatchWaitMs - now : 0;
    // A wall clock stepped backwards shows as remaining > debounceMs (or holdLeft > maxBatchWaitMs);
    // closing early is harmless.
    if (remaining > 0 && remaining <= this.#debounceMs) {
      this.#debounceTimer = this.#clock.setTimer(remaining, this.#onDebounce);
    } else if (holdLeft > 0 && holdLeft <= this.#maxBatchWaitMs) {
      // A debounce of 0 would re-arm on every tick: wait at least 1 ms for the lookup.
      const wait = Math.min(Math.max(1, this.#debounceMs), holdLeft);
      this.#debounceTimer = this.#clock.setTimer(wait, this.#onDebounce);
    } else {
      this.#closeBatch();
    }
  };

  readonly #onMaxWait = (): void => {
    this.#maxWaitTimer = undefined;
    this.#closeBatch();
  };

  readonly #onFailsafe = (): void => {
    // Re-arm first: the Resync's onReadable may close the engine, which must clear the new timer.
    this.#armFailsafe();
    this.resync('failsafe');
  };

  #armFailsafe(): void {
    this.#failsafeTimer = this.#clock.setTimer(this.#failsafeMs!, this.#onFailsafe);
  }

  #closeBatch(): void {
    this.#clearBatchTimers();
    this.#ready = true;
    this.#onReadable();
  }

  #dropBatch(alsoDropped: number): void {
    this.#dropped += this.#batch.changes + alsoDropped;
    this.#settled += this.#batch.changes + alsoDropped;
    this.#batch.clear();
    this.#ready = false;
    this.#clearBatchTimers();
  }

  #queueResync(reason: ResyncReason): void {
    const queued = this.#resync;
    if (queued === undefined) {
      this.#resync = reason;
      this.#onReadable();
    } else if (RESYNC_RANK[reason] >= RESYNC_RANK[queued]) {
      this.#resync = reason;
    }
  }

  #clearBatchTimers(): void {
    if (this.#debounceTimer !== undefined) this.#clock.clearTimer(this.#debounceTimer);
    if (this.#maxWaitTimer !== undefined) this.#clock.clearTimer(this.#maxWaitTimer);
    this.#debounceTimer = undefined;
    this.#maxWaitTimer = undefined;
  }
}

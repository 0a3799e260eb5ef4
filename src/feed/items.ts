// The consumer contract (contract §3): a feed yields only Resync and Batch; a Batch holds NudgeEvents.
// Classes with a literal `type`, so both `switch (item.type)` and `instanceof` narrow.
import { formatKey } from './row-key.js';

/** Why the consumer must reload everything. `bridge` comes only from fan-out listeners (contract §6). */
export type ResyncReason = 'connected' | 'reconnected' | 'overflow' | 'failsafe' | 'bridge';

/** Reload everything: the feed cannot say what changed (a (re)connect, an overflow, the failsafe). */
export class Resync {
  /** The discriminant: `switch (item.type)` narrows to Resync. */
  readonly type = 'resync';
  /** Why: `connected`, `reconnected`, `overflow`, `failsafe`, or (fan-out consumers) `bridge`. */
  readonly reason: ResyncReason;

  constructor(reason: ResyncReason) {
    this.reason = reason;
    Object.freeze(this);
  }

  /** `{"type":"resync","reason":...}`, the `--json` line format. */
  toJSON(): { type: 'resync'; reason: ResyncReason } {
    return { type: this.type, reason: this.reason };
  }
}

/**
 * One wakeup in a batch: `count` changes to a table (`key` null) or to one row of it (contract R22),
 * the first at `firstSeen`. `new NudgeEvent('public.orders', 3, at)` is table-level;
 * `new NudgeEvent('public.orders', 3, at, ['42'])` names row 42, payload `public.orders:42`.
 */
export class NudgeEvent {
  /**
   * `table` when `key` is null, else `` `${table}:${formatKey(key)}` `` (contract R13, R22). Compare
   * `table` and `key` rather than payloads when table names may contain `:`.
   */
  readonly payload: string;
  /** `schema.table`, both unquoted, as in the catalog (contract R13). */
  readonly table: string;
  /** The row's key values as text, in key-column order; null when the event names the whole table. */
  readonly key: readonly string[] | null;
  /** Changes coalesced into this event; a TRUNCATE counts 1 (contract R4, R24). */
  readonly count: number;
  /** When the first of those changes reached the client. */
  readonly firstSeen: Date;
  /** firstSeen as it was given, checked: what toJSON prints, whatever is done to the Date later. */
  readonly #firstSeenMs: number;

  /** Throws RangeError for a Date that holds no time, or a key without values. */
  constructor(table: string, count: number, firstSeen: Date, key: readonly string[] | null = null) {
    const ms = firstSeen.getTime();
    if (Number.isNaN(ms)) throw new RangeError('firstSeen must be a valid Date');
    // A frozen array cannot change under the event: kept as is (the engine hands over frozen copies).
    this.key = key === null ? null : Object.isFrozen(key) ? key : Object.freeze(key.slice());
    this.payload = this.key === null ? table : `${table}:${formatKey(this.key)}`;
    this.table = table;
    this.count = count;
    this.firstSeen = new Date(ms);
    this.#firstSeenMs = ms;
    Object.freeze(this);
  }

  /** `{"payload":…,"table":…,"key":[…]|null,"count":…,"firstSeen":"<ISO-8601 UTC>"}`; never throws. */
  toJSON(): {
    payload: string;
    table: string;
    key: readonly string[] | null;
    count: number;
    firstSeen: string;
  } {
    return {
      payload: this.payload,
      table: this.table,
      key: this.key,
      count: this.count,
      firstSeen: new Date(this.#firstSeenMs).toISOString(),
    };
  }
}

/** One debounce window's wakeups, one event per table or row, in order of first arrival. */
export class Batch {
  /** The discriminant: `switch (item.type)` narrows to Batch. */
  readonly type = 'batch';
  /** One event per table or row, in order of first arrival; never empty. */
  readonly events: readonly NudgeEvent[];

  constructor(events: readonly NudgeEvent[]) {
    this.events = Object.freeze(events.slice());
    Object.freeze(this);
  }

  /** `{"type":"batch","events":[...]}`, the `--json` line format. */
  toJSON(): { type: 'batch'; events: ReturnType<NudgeEvent['toJSON']>[] } {
    return { type: this.type, events: this.events.map((event) => event.toJSON()) };
  }
}

/** Everything a feed yields. */
export type FeedItem = Resync | Batch;

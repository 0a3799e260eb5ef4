// The consumer contract (contract §3): a feed yields only Resync and Batch; a Batch holds NudgeEvents.
// Classes with a literal `type`, so both `switch (item.type)` and `instanceof` narrow.

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

/** One table's wakeup in a batch: `count` row changes to `payload`, the first at `firstSeen`. */
export class NudgeEvent {
  /** `schema.table`, both unquoted (contract R13). */
  readonly payload: string;
  /** Row changes coalesced into this event; a TRUNCATE counts 1 (contract R4). */
  readonly count: number;
  /** When the first of those changes reached the client. */
  readonly firstSeen: Date;

  constructor(payload: string, count: number, firstSeen: Date) {
    this.payload = payload;
    this.count = count;
    this.firstSeen = firstSeen;
    Object.freeze(this);
  }

  /** `{"payload":...,"count":...,"firstSeen":"<ISO-8601 UTC>"}`. */
  toJSON(): { payload: string; count: number; firstSeen: string } {
    return { payload: this.payload, count: this.count, firstSeen: this.firstSeen.toISOString() };
  }
}

/** One debounce window's wakeups, one event per payload, in order of first arrival. */
export class Batch {
  /** The discriminant: `switch (item.type)` narrows to Batch. */
  readonly type = 'batch';
  /** One event per table, in order of first arrival; never empty. */
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

// What a feed says about itself (contract R32): the shape of `stats()`, plain data that JSON.stringify
// takes as it is (LSNs as PostgreSQL's text, times as Dates), and the counting behind it. Pure: the feed's
// shell (monitor.ts) tells it what happened and when, and supplies what it reads only when asked (bytes
// received, WAL positions, changes), so nothing is counted per row or per message.
import type { PgnudgeErrorCode } from '../errors.js';
import { formatLsn, type Lsn } from '../protocol/lsn.js';
import type { ResyncReason } from './items.js';

/**
 * Where a feed is in its life:
 * - `idle`: constructed, not iterated yet (nothing connects before the first `next()`, contract R10);
 * - `connecting`: opening a connection, or setting up its stream on it (the slot, LISTEN);
 * - `streaming`: the session is live: every commit from now on reaches the feed (contract R1);
 * - `backoff`: a connection failed or ended; waiting to connect again (contract R7);
 * - `closed`: ended by `close()`, the signal, or a fatal error (contract R10, R11).
 */
export type FeedState = 'idle' | 'connecting' | 'streaming' | 'backoff' | 'closed';

/** Every state, in the order of a feed's life. */
export const FEED_STATES: readonly FeedState[] = ['idle', 'connecting', 'streaming', 'backoff', 'closed'];

/** Every Resync reason, in the order they are documented. */
export const RESYNC_REASONS: readonly ResyncReason[] = [
  'connected',
  'reconnected',
  'overflow',
  'failsafe',
  'bridge',
];

/** The error that last ended a connection or the feed: its stable code and its message. */
export interface FeedErrorSummary {
  readonly code: PgnudgeErrorCode;
  readonly message: string;
}

/**
 * A snapshot of a feed (`feed.stats()`): every call builds a new one. Counters start at zero when the
 * feed is constructed and only grow. Plain data: `JSON.stringify(feed.stats())` works as it is.
 */
export interface FeedStats {
  /** Where the feed is in its life (see {@link FeedState}). `GET /healthz` is 200 only in `streaming`. */
  readonly state: FeedState;
  /** When the feed entered `state`: with `streaming`, since when the current session is live. */
  readonly since: Date;
  /** Sessions that went live after an earlier one had (each one's first item is `Resync('reconnected')`). */
  readonly reconnects: number;
  /** Connection attempts and sessions that failed and were retried after a backoff. */
  readonly failures: number;
  /** The error that last ended a connection or the feed, or null while none has. */
  readonly lastError: FeedErrorSummary | null;
  /** Resyncs yielded to the consumer, by reason (every reason present, zeros included). */
  readonly resyncs: Readonly<Record<ResyncReason, number>>;
  /** Batches yielded to the consumer. */
  readonly batches: number;
  /**
   * Row changes the feed received (a TRUNCATE counts 1 per table, contract R4): the pending batch's, those
   * yielded in batches, and those a Resync superseded. It grows while a large transaction drains.
   */
  readonly changes: number;
  /** Bytes read from the server, on every connection the feed opened, the protocol's framing included. */
  readonly bytesReceived: number;
  /**
   * The highest WAL position the server reported in the stream (`XLogData` and keepalives), as PostgreSQL
   * prints an LSN (`16/B374D848`); null for a feed without a WAL stream (NotifyFeed) or before the first
   * report. Kept across a reconnect until the new stream reports.
   */
  readonly walEnd: string | null;
  /**
   * The position the last standby status update confirmed to the server (written, flushed and applied:
   * pgnudge keeps nothing, contract R8); null until the first update of a stream.
   */
  readonly confirmed: string | null;
  /**
   * `walEnd` − `confirmed` in bytes: WAL the server reported and pgnudge has not confirmed yet. pgnudge
   * confirms everything reported at each status update, so a healthy session stays within one
   * `statusInterval` of WAL; null while either is.
   */
  readonly lagBytes: number | null;
}

/** A stream's WAL positions, read when a snapshot is taken (replication-stream.ts registers them). */
export interface StreamPositions {
  /** The highest WAL end the server reported, or null before its first message. */
  readonly walEnd: Lsn | null;
  /** The position the last status update confirmed, or null before the first one. */
  readonly confirmed: Lsn | null;
}

/** What the shell reads for a snapshot: the numbers it keeps elsewhere at no cost per row. */
export interface StatsReadings {
  readonly changes: number;
  readonly bytesReceived: number;
  readonly positions: StreamPositions | null;
}

/**
 * The counters of one feed. The shell calls one method per lifecycle event and per item yielded, with the
 * time from the feed's clock; `snapshot()` adds what it reads on demand.
 */
export class StatsRecorder {
  #state: FeedState = 'idle';
  #sinceMs: number;
  #reconnects = 0;
  #failures = 0;
  #lastError: FeedErrorSummary | null = null;
  readonly #resyncs: Record<ResyncReason, number> = {
    connected: 0,
    reconnected: 0,
    overflow: 0,
    failsafe: 0,
    bridge: 0,
  };
  #batches = 0;

  constructor(nowMs: number) {
    this.#sinceMs = nowMs;
  }

  get state(): FeedState {
    return this.#state;
  }

  /** Enters `state` at `nowMs`; the current state again keeps its `since`. Nothing leaves `closed`. */
  enter(state: FeedState, nowMs: number): void {
    if (this.#state === state || this.#state === 'closed') return;
    this.#state = state;
    this.#sinceMs = nowMs;
  }

  /** A session is live; `reconnect`: an earlier one was. */
  live(reconnect: boolean, nowMs: number): void {
    if (reconnect) this.#reconnects += 1;
    this.enter('streaming', nowMs);
  }

  /** A connection or the feed ended with `error`. */
  failed(error: { readonly code: PgnudgeErrorCode; readonly message: string }): void {
    this.#lastError = { code: error.code, message: error.message };
  }

  /** A failure is retried after `backoff`. */
  backoff(nowMs: number): void {
    this.#failures += 1;
    this.enter('backoff', nowMs);
  }

  resync(reason: ResyncReason): void {
    this.#resyncs[reason] += 1;
  }

  batch(): void {
    this.#batches += 1;
  }

  snapshot(readings: StatsReadings): FeedStats {
    const walEnd = readings.positions?.walEnd ?? null;
    const confirmed = readings.positions?.confirmed ?? null;
    return {
      state: this.#state,
      since: new Date(this.#sinceMs),
      reconnects: this.#reconnects,
      failures: this.#failures,
      lastError: this.#lastError === null ? null : { ...this.#lastError },
      resyncs: { ...this.#resyncs },
      batches: this.#batches,
      changes: readings.changes,
      bytesReceived: readings.bytesReceived,
      walEnd: walEnd === null ? null : formatLsn(walEnd),
      confirmed: confirmed === null ? null : formatLsn(confirmed),
      lagBytes: walEnd === null || confirmed === null ? null : Number(walEnd - confirmed),
    };
  }
}

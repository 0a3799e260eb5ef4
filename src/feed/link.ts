// The timers of one open link (contract R8), independent of the consumer: the liveness watchdog, armed
// before the session's first query so that no wait of any feed kind can outlast a dead link, and the
// tasks a session repeats on it (status updates, pings, heartbeats). The session that owns the link
// stops them all when it ends.
import { ConnectionError, type PgnudgeError } from '../errors.js';
import type { Clock, TimerHandle } from './clock.js';

/** What a link needs of its connection: PgConnection has it, and so can a broker's client. */
export interface LinkEnd {
  /** Bytes received so far: the watchdog compares snapshots rather than timing every chunk. */
  readonly bytesReceived: number;
  /** Where the connection leads, without a password, for messages. */
  readonly target: string;
  /** Ends the connection with `error`, telling the `onClose` listeners. */
  fail(error: PgnudgeError): void;
  /** Destroys the connection at once; harmless when it already ended. */
  abort(): void;
  /**
   * Ends the connection with a goodbye the server understands, without waiting for it (contract R10);
   * harmless when it already ended. Without one, ending it cleanly means abort().
   */
  terminate?(): void;
  /** Calls `listener` once when the connection ends, for any reason (soon, when it has ended already). */
  onClose(listener: (error: PgnudgeError) => void): void;
}

/** A link's timing, from the feed's options; durations in milliseconds. */
export interface LinkTiming {
  /** The longest a check for silence waits: the watchdog looks at least this often. */
  readonly statusIntervalMs: number;
  /** Inbound silence that means a dead link, or null for no watchdog. */
  readonly livenessTimeoutMs: number | null;
}

/** An answer the session waits for, which the watchdog names when it never comes. */
interface Expected {
  readonly what: string;
  /** Set for an answer the server may legitimately take long to give: silence is reported, not fatal. */
  readonly onOverdue: ((waitedMs: number) => void) | undefined;
  overdue: boolean;
}

/** One link's timers. Created when the connection opens; stop() ends them all. */
export class Link {
  readonly #clock: Clock;
  readonly #end: LinkEnd;
  readonly #limitMs: number | null;
  readonly #stops = new Set<() => void>();
  #stopped = false;
  #seenBytes = 0;
  #seenAt = 0;
  #expected: Expected | null = null;

  /** Arms the watchdog at once: silence counts from the moment the connection opened. */
  constructor(clock: Clock, end: LinkEnd, timing: LinkTiming) {
    this.#clock = clock;
    this.#end = end;
    this.#limitMs = timing.livenessTimeoutMs;
    if (this.#limitMs === null) return;
    this.#heard();
    this.every(Math.max(1, Math.min(timing.statusIntervalMs, Math.floor(this.#limitMs / 4))), () =>
      this.#check(),
    );
  }

  /**
   * Calls `task` every `intervalMs` until stop(). A task that returns a promise is not called again
   * before it settles: a ping or heartbeat the server has not answered is never queued behind another,
   * however long the link stalls, with or without a watchdog. Its rejection is the connection's
   * business (the session ends through `onClose`), so it is ignored here.
   */
  every(intervalMs: number, task: () => unknown): void {
    if (this.#stopped) return;
    let inFlight = false;
    const settle = () => {
      inFlight = false;
    };
    let timer: TimerHandle;
    const tick = () => {
      // Re-armed first, so a task that stops the link also clears the timer it would have left.
      timer = this.#clock.setTimer(intervalMs, tick);
      if (inFlight) return;
      const pending = task();
      if (!(pending instanceof Promise)) return;
      inFlight = true;
      pending.then(settle, settle);
    };
    timer = this.#clock.setTimer(intervalMs, tick);
    this.#stops.add(() => this.#clock.clearTimer(timer));
  }

  /**
   * Marks a wait for the answer to `what` (a command), sent just now: silence counts from here, and a
   * dead link is reported as "no answer to `what`". With `onOverdue`, for a command the server may
   * legitimately answer late (it waits for other sessions), silence past livenessTimeout is reported
   * once through it instead of failing the link. Returns the function that ends the wait.
   */
  expect(what: string, onOverdue?: (waitedMs: number) => void): () => void {
    const expected: Expected = { what, onOverdue, overdue: false };
    this.#expected = expected;
    if (this.#limitMs !== null) this.#heard();
    return () => {
      if (this.#expected === expected) this.#expected = null;
    };
  }

  /** Clears every timer; later calls to every() do nothing. Idempotent. */
  stop(): void {
    this.#stopped = true;
    for (const stop of this.#stops) stop();
    this.#stops.clear();
  }

  #heard(): void {
    this.#seenBytes = this.#end.bytesReceived;
    this.#seenAt = this.#clock.now();
  }

  #check(): void {
    const limitMs = this.#limitMs!;
    if (this.#end.bytesReceived !== this.#seenBytes) {
      this.#heard();
      return;
    }
    const silentMs = this.#clock.now() - this.#seenAt;
    if (silentMs <= limitMs) return;
    const expected = this.#expected;
    if (expected?.onOverdue !== undefined) {
      if (!expected.overdue) {
        expected.overdue = true;
        expected.onOverdue(limitMs);
      }
      return;
    }
    this.stop();
    const target = this.#end.target;
    this.#end.fail(
      new ConnectionError(
        'PGNUDGE_ERR_LIVENESS_TIMEOUT',
        expected === null
          ? `no data from ${target} for ${silentMs} ms (livenessTimeout ${limitMs} ms); the link is dead`
          : `no answer to ${expected.what} from ${target} in ${limitMs} ms (livenessTimeout ${limitMs} ms); the link is dead`,
      ),
    );
  }
}

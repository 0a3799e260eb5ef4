// The session lifecycle, in one place for every long-lived connection (WalFeed, NotifyFeed, NotifyBridge
// and each feed kind to come): connect with the supervisor's abort signal, watch the link, run the
// session body, release; then back off with jitter and retry (contract R7, R11), and tear everything down
// on close or an aborted signal (contract R10). A session body only says what happens on an open link.
import { asPgnudgeError } from '../as-pgnudge-error.js';
import { FeedClosedError, type PgnudgeError } from '../errors.js';
import { type BoundLogger, printable } from '../logger.js';
import { Backoff } from './backoff.js';
import type { Clock, TimerHandle } from './clock.js';
import { Link, type LinkEnd, type LinkTiming } from './link.js';
import { Session } from './session.js';
import type { StreamPositions } from './stats.js';

/** Consecutive failures after which one ERROR is logged (each failure is a WARNING). */
const LOUD_AFTER_FAILURES = 5;

/** Reconnect pacing and link timing, in milliseconds, as a feed's resolved options hold them. */
export interface SessionTiming extends LinkTiming {
  readonly backoffInitialMs: number;
  readonly backoffMaximumMs: number;
  /** How long failures are retried before the first live session; null (or absent) for ever. */
  readonly firstConnectTimeoutMs?: number | null;
}

/** What a Supervisor takes from its owner's resolved options and test seams. */
export interface SupervisorSetup {
  readonly options: SessionTiming;
  readonly log: BoundLogger;
  /** The owner's AbortSignal: aborting it closes the supervisor, like close(). */
  readonly signal: AbortSignal | undefined;
  readonly clock: Clock;
  /** Returns a number in [0, 1), like Math.random: the backoff's jitter. */
  readonly random: () => number;
}

/**
 * Who watches a Supervisor's sessions (a feed's monitor: stats and diagnostics channels). Every call is
 * synchronous, once per event, never per message.
 */
export interface SessionObserver<C extends LinkEnd> {
  /** A connection attempt starts. */
  connecting(): void;
  /** The attempt opened `connection` (authenticated); the session body runs next. */
  connected(connection: C): void;
  /** `connection`'s session ended: with `error`, or null when the supervisor closed. */
  ended(connection: C, error: PgnudgeError | null): void;
  /** `error` (a failed attempt or an ended session) is retried in `delayMs`; the `attempt`-th in a row. */
  backoff(error: PgnudgeError, delayMs: number, attempt: number): void;
  /** The current session's stream reports its WAL positions through `read`, called when stats are taken. */
  positions(read: () => StreamPositions): void;
}

/** What a Supervisor runs, and whom it tells. */
export interface SupervisorOptions<C extends LinkEnd> {
  readonly setup: SupervisorSetup;
  /** Opens one session's connection; gives up when `signal` aborts. */
  connect(signal: AbortSignal): Promise<C>;
  /** One session's life on an open connection. Always throws: a session ends when its link does. */
  run(session: Session<C>): Promise<never>;
  /** A session reported itself live (`reconnect`: an earlier one was live too). */
  onLive?(reconnect: boolean): void;
  /** A session that had reported itself live ended (its link is gone, or the supervisor closed). */
  onDown?(): void;
  /** Called once when the supervisor ends: by close() or the signal (`fatal` null), or for good (contract R11). */
  onClose(fatal: PgnudgeError | null): void;
  /** Told of every connection attempt, session end and backoff. */
  readonly observer?: SessionObserver<C>;
}

/**
 * Runs sessions one after another until closed. Before the first session went live, an error that
 * retrying cannot heal is fatal; afterwards every failure is retried, since the server may come back.
 */
export class Supervisor<C extends LinkEnd> {
  readonly #options: SupervisorOptions<C>;
  readonly #setup: SupervisorSetup;
  readonly #backoff: Backoff;
  readonly #abort = new AbortController();
  #started = false;
  #closed = false;
  #everLive = false;
  #failures = 0;
  /** Whether the current session reported itself live. */
  #sessionLive = false;
  /** When start() ran, on the setup's clock: the first connection's deadline counts from here. */
  #startedAt = 0;
  /** The current session's connection and link, which close() ends whatever its body is doing. */
  #current: { connection: C; link: Link } | null = null;
  #sleepTimer: TimerHandle | null = null;
  #sleepDone: (() => void) | null = null;
  readonly #onAbort = () => this.close();

  constructor(options: SupervisorOptions<C>) {
    const { setup } = options;
    this.#options = options;
    this.#setup = setup;
    this.#backoff = new Backoff({
      initialMs: setup.options.backoffInitialMs,
      maximumMs: setup.options.backoffMaximumMs,
      random: setup.random,
    });
    if (setup.signal?.aborted) this.close();
    else setup.signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Whether close(), the signal or a fatal error ended the loop. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Starts the loop in the background; later calls do nothing. */
  start(): void {
    if (this.#started || this.#closed) return;
    this.#started = true;
    this.#startedAt = this.#setup.clock.now();
    void this.#loop();
  }

  /** Stops the loop: aborts the connection (or the connect) and cancels the backoff sleep. Idempotent. */
  close(): void {
    this.#end(null);
  }

  /** Ends the loop for good with `error`, as if it were fatal on the first connection. */
  fail(error: PgnudgeError): void {
    this.#end(error);
  }

  /** A session is live: the backoff and the failure count start over, and the owner hears of it. */
  live(): void {
    const reconnect = this.#everLive;
    this.#everLive = true;
    this.#sessionLive = true;
    this.#failures = 0;
    this.#backoff.reset();
    this.#options.onLive?.(reconnect);
  }

  /** The current session's stream reports its WAL positions (see {@link SessionObserver.positions}). */
  positions(read: () => StreamPositions): void {
    this.#options.observer?.positions(read);
  }

  /** Waits `ms`, or less when close() comes first. */
  sleep(ms: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#cancelSleep();
    return new Promise((resolve) => {
      this.#sleepDone = resolve;
      this.#sleepTimer = this.#setup.clock.setTimer(ms, () => this.#cancelSleep());
    });
  }

  #end(fatal: PgnudgeError | null): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#setup.signal?.removeEventListener('abort', this.#onAbort);
    this.#abort.abort();
    this.#current?.link.stop();
    if (this.#current) endCleanly(this.#current.connection);
    this.#current = null;
    this.#cancelSleep();
    this.#options.onClose(fatal);
  }

  async #loop(): Promise<void> {
    const { log } = this.#setup;
    while (!this.#closed) {
      try {
        await this.#session();
      } catch (error) {
        if (this.#closed) return;
        const failure = asPgnudgeError(error);
        if (!this.#everLive && !failure.retryable) {
          this.fail(failure);
          return;
        }
        this.#failures += 1;
        const delay = this.#backoff.next();
        if (!this.#everLive && this.#firstConnectOver(delay)) {
          this.fail(this.#gaveUp(failure));
          return;
        }
        // A server's error text is the server's: printable, like every value from the wire.
        const message = `${printable(failure.message)} (${failure.code}); reconnecting in ${Math.round(delay)} ms (attempt ${this.#failures})`;
        if (this.#failures === LOUD_AFTER_FAILURES)
          log.error(`${LOUD_AFTER_FAILURES} consecutive failures: ${message}`);
        else log.warn(message);
        this.#options.observer?.backoff(failure, delay, this.#failures);
        await this.sleep(delay);
      }
    }
  }

  /**
   * Whether a feed that was never live should stop retrying: the next attempt would start after
   * firstConnectTimeout. A wrong host or port then fails the feed with its cause in seconds, where it
   * would otherwise retry, silent without a logger, for as long as the process runs.
   */
  #firstConnectOver(delayMs: number): boolean {
    const limitMs = this.#setup.options.firstConnectTimeoutMs;
    if (limitMs === null || limitMs === undefined) return false;
    return this.#setup.clock.now() - this.#startedAt + delayMs >= limitMs;
  }

  /** The last failure, as the reason the feed gave up before it was ever live. */
  #gaveUp(failure: PgnudgeError): PgnudgeError {
    const elapsedMs = Math.round(this.#setup.clock.now() - this.#startedAt);
    const attempts = this.#failures === 1 ? '1 attempt' : `${this.#failures} attempts`;
    failure.message = `${failure.message}; gave up after ${attempts} in ${elapsedMs} ms without connecting once (firstConnectTimeout ${this.#setup.options.firstConnectTimeoutMs} ms)`;
    return failure;
  }

  /** One connection's life: connect, watch the link, run the body, release. Always throws. */
  async #session(): Promise<never> {
    const { observer } = this.#options;
    observer?.connecting();
    const connection = await this.#options.connect(this.#abort.signal);
    if (this.#closed) {
      endCleanly(connection);
      throw new FeedClosedError();
    }
    const current = { connection, link: new Link(this.#setup.clock, connection, this.#setup.options) };
    this.#current = current;
    observer?.connected(connection);
    try {
      return await this.#options.run(new Session(this, connection, current.link));
    } catch (error) {
      observer?.ended(connection, this.#closed ? null : asPgnudgeError(error));
      throw error;
    } finally {
      current.link.stop();
      endCleanly(connection);
      if (this.#current === current) this.#current = null;
      if (this.#sessionLive) {
        this.#sessionLive = false;
        this.#options.onDown?.();
      }
    }
  }

  #cancelSleep(): void {
    if (this.#sleepTimer !== null) this.#setup.clock.clearTimer(this.#sleepTimer);
    this.#sleepTimer = null;
    const done = this.#sleepDone;
    this.#sleepDone = null;
    done?.();
  }
}

/**
 * Ends a session's connection: with its goodbye when it has one, so the server logs no unexpected EOF
 * for a clean close (contract R10); a connection the link already lost is closed, and this does nothing.
 */
function endCleanly(connection: LinkEnd): void {
  if (connection.terminate) connection.terminate();
  else connection.abort();
}

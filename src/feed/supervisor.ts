// The reconnect loop shared by every long-lived session (WalFeed, NotifyFeed, NotifyBridge): run a
// session until it fails, back off with jitter, retry (contract R7, R11), and tear everything down on close (contract R10).
import { ConnectionError, FeedClosedError, PgnudgeError } from '../errors.js';
import type { BoundLogger } from '../logger.js';
import type { PgConnection } from '../transport/connection.js';
import type { Backoff } from './backoff.js';
import type { Clock } from './clock.js';

/** Consecutive failures after which one ERROR is logged (each failure is a WARNING). */
const LOUD_AFTER_FAILURES = 5;

/** What a Supervisor needs; `session` runs one connection's life and always throws when it ends. */
export interface SupervisorOptions {
  clock: Clock;
  backoff: Backoff;
  log: BoundLogger;
  session: () => Promise<never>;
  /** Called once with the error that ends the loop for good (contract R11); the loop then stops. */
  onFatal: (error: PgnudgeError) => void;
}

/**
 * Runs sessions one after another until closed. Before the first session went live, an error that
 * retrying cannot heal is fatal; afterwards every failure is retried, since the server may come back.
 */
export class Supervisor {
  readonly #options: SupervisorOptions;
  #closed = false;
  #everLive = false;
  #failures = 0;
  #connection: PgConnection | null = null;
  readonly #abort = new AbortController();
  #sleepTimer: unknown = null;
  #sleepDone: (() => void) | null = null;

  constructor(options: SupervisorOptions) {
    this.#options = options;
  }

  /** Whether close() (or a fatal error) ended the loop. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether some session has gone live: the next live session is a reconnect. */
  get everLive(): boolean {
    return this.#everLive;
  }

  /** Aborted by close(): pass it to `PgConnection.connect`, so a hanging connect ends with the loop (contract R10). */
  get signal(): AbortSignal {
    return this.#abort.signal;
  }

  /** Starts the loop in the background. */
  start(): void {
    if (!this.#closed) void this.#run();
  }

  /** A session reports that it is live: the backoff and the failure count start over. */
  live(): void {
    this.#everLive = true;
    this.#failures = 0;
    this.#options.backoff.reset();
  }

  /**
   * Makes `connection` the one close() aborts, and returns a promise that rejects when it ends.
   * Aborts it and throws FeedClosedError if the supervisor was closed while it was connecting.
   */
  attach(connection: PgConnection): Promise<never> {
    if (this.#closed) {
      connection.abort();
      throw new FeedClosedError();
    }
    this.#connection = connection;
    const ended = new Promise<never>((_, reject) => connection.onClose(reject));
    // Without a reader the rejection of `ended` would be unhandled when the session fails earlier.
    ended.catch(() => {});
    return ended;
  }

  /** Aborts `connection` at the end of its session and forgets it. */
  release(connection: PgConnection): void {
    connection.abort();
    if (this.#connection === connection) this.#connection = null;
  }

  /** Ends the loop for good with `error`, as if it were fatal on the first connection. */
  fail(error: PgnudgeError): void {
    if (this.#closed) return;
    this.close();
    this.#options.onFatal(error);
  }

  /** Stops the loop: aborts the current connection and cancels the backoff sleep. Idempotent. */
  close(): void {
    this.#closed = true;
    this.#abort.abort();
    this.#connection?.abort();
    this.#connection = null;
    this.#cancelSleep();
  }

  /** Waits `ms`, or less when close() comes first. */
  sleep(ms: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#cancelSleep();
    return new Promise((resolve) => {
      this.#sleepDone = resolve;
      this.#sleepTimer = this.#options.clock.setTimer(ms, () => this.#cancelSleep());
    });
  }

  async #run(): Promise<void> {
    const { backoff, log } = this.#options;
    while (!this.#closed) {
      try {
        await this.#options.session();
      } catch (error) {
        if (this.#closed) return;
        const failure =
          error instanceof PgnudgeError
            ? error
            : new PgnudgeError(
                'PGNUDGE_ERR_PROTOCOL',
                `internal error: ${(error as Error)?.stack ?? error}`,
                false,
                { cause: error },
              );
        if (!this.#everLive && !failure.retryable) {
          this.fail(failure);
          return;
        }
        this.#failures += 1;
        const delay = backoff.next();
        const message = `${failure.message} (${failure.code}); reconnecting in ${Math.round(delay)} ms (attempt ${this.#failures})`;
        if (this.#failures === LOUD_AFTER_FAILURES)
          log.error(`${LOUD_AFTER_FAILURES} consecutive failures: ${message}`);
        else log.warn(message);
        await this.sleep(delay);
      }
    }
  }

  #cancelSleep(): void {
    if (this.#sleepTimer !== null) this.#options.clock.clearTimer(this.#sleepTimer);
    this.#sleepTimer = null;
    const done = this.#sleepDone;
    this.#sleepDone = null;
    done?.();
  }
}

/**
 * The timers of an open link, independent of the consumer: `ping` every `pingIntervalMs` (a status
 * update, or a cheap query on an idle LISTEN session), and the liveness check (contract R8): inbound silence
 * longer than `livenessTimeoutMs` fails the connection so the supervisor replaces it. Returns the stop.
 */
export function startLinkTimers(
  clock: Clock,
  connection: PgConnection,
  options: { pingIntervalMs: number; livenessTimeoutMs: number | null; ping: () => void },
): () => void {
  let pingTimer: unknown = null;
  let livenessTimer: unknown = null;
  const { pingIntervalMs, livenessTimeoutMs } = options;
  const ping = () => {
    options.ping();
    pingTimer = clock.setTimer(pingIntervalMs, ping);
  };
  pingTimer = clock.setTimer(pingIntervalMs, ping);
  if (livenessTimeoutMs !== null) {
    // Compare byte counters rather than timestamping every chunk on the hot path.
    let seenBytes = connection.bytesReceived;
    let seenAt = clock.now();
    const period = Math.max(1, Math.min(pingIntervalMs, Math.floor(livenessTimeoutMs / 4)));
    const check = () => {
      const now = clock.now();
      if (connection.bytesReceived !== seenBytes) {
        seenBytes = connection.bytesReceived;
        seenAt = now;
      } else if (now - seenAt > livenessTimeoutMs) {
        livenessTimer = null;
        connection.fail(
          new ConnectionError(
            'PGNUDGE_ERR_LIVENESS_TIMEOUT',
            `no data from ${connection.target} for ${now - seenAt} ms (livenessTimeout ${livenessTimeoutMs} ms); the link is dead`,
          ),
        );
        return;
      }
      livenessTimer = clock.setTimer(period, check);
    };
    livenessTimer = clock.setTimer(period, check);
  }
  return () => {
    if (pingTimer !== null) clock.clearTimer(pingTimer);
    if (livenessTimer !== null) clock.clearTimer(livenessTimer);
    pingTimer = livenessTimer = null;
  };
}

// The inside shared by WalFeed and NotifyFeed: a BatchEngine pulled through `for await`, a
// Supervisor that keeps sessions running into it, and close semantics (contract §3, R7, R10, R11).
import { FeedClosedError, type PgnudgeError } from '../errors.js';
import type { BoundLogger } from '../logger.js';
import { Backoff } from './backoff.js';
import { type Clock, systemClock } from './clock.js';
import { BatchEngine } from './engine.js';
import type { FeedInternals } from './internals.js';
import type { FeedItem } from './items.js';
import type { ResolvedFeedOptions } from './options.js';
import { Supervisor } from './supervisor.js';

/**
 * The inside of a feed: the BatchEngine the consumer pulls from, and the Supervisor that runs
 * `session` into it (connect, `supervisor.attach`, feed the engine, always throw). WalFeed and
 * NotifyFeed each hold one privately, so none of this shows in the public types.
 */
export class FeedCore {
  readonly clock: Clock;
  readonly log: BoundLogger;
  readonly engine: BatchEngine;
  readonly supervisor: Supervisor;
  readonly #signal: AbortSignal | undefined;
  readonly #name: string;
  #started = false;
  #error: PgnudgeError | null = null;
  /** The one waiting `#next()`'s resolver; only one waits at a time, since `#tail` runs them in turn. */
  #wake: (() => void) | null = null;
  /**
   * The queue of `next()` calls: each runs after the previous one settled, so every item goes to exactly
   * one caller in call order, and close() or a fatal error settles them all (the first with the error,
   * the rest done). One resolver for several waiters left all but the last pending forever.
   */
  #tail: Promise<unknown> = Promise.resolve();
  #onAbort = () => void this.close();

  constructor(
    name: string,
    options: ResolvedFeedOptions,
    log: BoundLogger,
    signal: AbortSignal | undefined,
    internals: FeedInternals,
    session: () => Promise<never>,
  ) {
    this.#name = name;
    this.log = log;
    this.clock = internals.clock ?? systemClock;
    this.engine = new BatchEngine({
      clock: this.clock,
      debounceMs: options.debounceMs,
      maxBatchWaitMs: options.maxBatchWaitMs,
      maxPending: options.maxPending,
      failsafeMs: options.failsafeMs,
      onReadable: () => this.#notify(),
    });
    this.supervisor = new Supervisor({
      clock: this.clock,
      backoff: new Backoff({
        initialMs: options.backoffInitialMs,
        maximumMs: options.backoffMaximumMs,
        random: internals.random ?? Math.random,
      }),
      log,
      session,
      onFatal: (error) => {
        this.#error = error;
        this.#notify();
      },
    });
    this.#signal = signal;
    if (signal?.aborted) this.supervisor.close();
    signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Whether the feed has ended. */
  get closed(): boolean {
    return this.supervisor.closed;
  }

  /** The feed's one iterator; starts the supervisor. */
  iterator(): AsyncIterator<FeedItem> {
    if (this.#started) {
      throw new FeedClosedError(
        `a ${this.#name} can be iterated once; create another feed for a second consumer`,
      );
    }
    this.#started = true;
    this.supervisor.start();
    return {
      next: () => {
        const result = this.#tail.then(() => this.#next());
        this.#tail = result.catch(() => {});
        return result;
      },
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }

  /** Ends the feed: destroys the socket and every timer. Idempotent; pending `next()` calls end. */
  async close(): Promise<void> {
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.engine.close();
    this.supervisor.close();
    this.#notify();
  }

  async #next(): Promise<IteratorResult<FeedItem>> {
    for (;;) {
      if (this.#error) {
        const error = this.#error;
        this.#error = null;
        await this.close();
        throw error;
      }
      if (this.supervisor.closed) return { done: true, value: undefined };
      const item = this.engine.take();
      if (item !== undefined) return { done: false, value: item };
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}

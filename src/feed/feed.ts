// The base of every feed kind (WalFeed, NotifyFeed, and the kinds to come): the BatchEngine the consumer
// pulls from through `for await`, the Supervisor that runs the kind's sessions into it, and close
// semantics (contract §3, R1, R7, R10, R11). A feed kind brings only a FeedBody: how a session connects and
// what it does on the open link. Everything here is #private, so the public types show none of it.
import { FeedClosedError, type PgnudgeError } from '../errors.js';
import { bindLogger } from '../logger.js';
import { type ConnectionSettings, resolveConnectionSettings } from '../transport/settings.js';
import { nodeSettingsIo } from '../transport/settings-io.js';
import { BatchEngine } from './batch-engine.js';
import { type Clock, systemClock } from './clock.js';
import type { FeedItem } from './items.js';
import type { LinkEnd } from './link.js';
import { FeedMonitor } from './monitor.js';
import { type ResolvedFeedOptions, resolveFeedOptions, type WalFeedOptions } from './options.js';
import type { Session } from './session.js';
import type { FeedStats } from './stats.js';
import { Supervisor, type SupervisorSetup } from './supervisor.js';

/**
 * Test seams of the feeds and the bridge: a controllable clock and randomness, and the environment;
 * and what the bridge learns of its inner feed.
 */
export interface FeedInternals {
  clock?: Clock;
  random?: () => number;
  env?: Record<string, string | undefined>;
  /**
   * Told `true` when a session goes live (a WalFeed: the server confirmed the stream) and `false` when
   * that session ends: a bridge sends heartbeats only in between, so a feed that cannot stream (its slot
   * waiting on an open transaction, its server gone) shows as silence to the listeners (contract R29).
   */
  onStreaming?: (streaming: boolean) => void;
}

/** Everything a feed kind (or the bridge) resolves from its options before it builds its sessions. */
export interface FeedSetup extends SupervisorSetup {
  /** The owner's class name, for messages. */
  readonly name: string;
  readonly options: ResolvedFeedOptions;
  /** The connection settings, with the feed's applicationName unless they name one. */
  readonly settings: ConnectionSettings;
  /** FeedInternals.onStreaming. */
  readonly onStreaming: ((streaming: boolean) => void) | undefined;
}

/**
 * Validates `options` (ConfigError naming the option; `accepted` lists the option names the kind takes)
 * and resolves what every feed kind needs: the options with their defaults, the logger, the connection
 * settings over the PG* variables of `internals.env` (default the process's) and the files they name,
 * the clock and the randomness.
 */
export function feedSetup(
  name: string,
  options: WalFeedOptions,
  internals: FeedInternals,
  accepted?: readonly string[],
): FeedSetup {
  const resolved = resolveFeedOptions(options, name, accepted);
  const log = bindLogger(options.logger, resolved.logLevel);
  const env = internals.env ?? process.env;
  const settings = resolveConnectionSettings(options, env, nodeSettingsIo(env, log));
  return {
    name,
    options: resolved,
    settings: { ...settings, applicationName: settings.applicationName ?? resolved.applicationName },
    log,
    signal: options.signal,
    clock: internals.clock ?? systemClock,
    random: internals.random ?? Math.random,
    onStreaming: internals.onStreaming,
  };
}

/**
 * What a session body feeds into the feed's BatchEngine: table-level changes (`schema.table`), row
 * changes (a table and a key, contract R22) and Resyncs. `rowsFolded` says when a row's key need not be
 * read; a sink without it (a test's) has every key read. `holding` is told while changes wait for a
 * catalog lookup, so the batch waits for them (BatchEngine invariant 3).
 */
export type FeedSink = Pick<BatchEngine, 'change' | 'changeRow' | 'resync'> &
  Partial<Pick<BatchEngine, 'rowsFolded' | 'holding'>>;

/**
 * A feed kind's sessions: `connect` opens one connection, `run` lives on it, feeding `sink`, and calls
 * `session.live()` once nothing committed from then on can be missed (the feed then queues its connect
 * Resync, contract R1). `run` always throws: a session ends when its link does, and the supervisor reconnects.
 */
export interface FeedBody<C extends LinkEnd> {
  /** Where the sessions connect, without the password. */
  readonly target: string;
  connect(signal: AbortSignal): Promise<C>;
  run(session: Session<C>, sink: FeedSink): Promise<never>;
}

/**
 * What every feed kind (WalFeed, NotifyFeed, ...) is to its consumer, and the type of the `feed` in each
 * diagnostics channel message. Iterate it once; ending the iteration (`break`, `close()`, the `signal`,
 * `await using`) destroys the socket and every timer (contract R10). Nothing starts before the first `next()`.
 */
export abstract class Feed implements AsyncIterable<FeedItem>, AsyncDisposable {
  readonly #name: string;
  readonly #body: FeedBody<LinkEnd>;
  readonly #engine: BatchEngine;
  readonly #supervisor: Supervisor<LinkEnd>;
  readonly #monitor: FeedMonitor;
  #iterated = false;
  #running = false;
  #error: PgnudgeError | null = null;
  /** The one waiting `#next()`'s resolver; only one waits at a time, since `#tail` runs them in turn. */
  #wake: (() => void) | null = null;
  /**
   * The queue of `next()` calls: each runs after the previous one settled, so every item goes to exactly
   * one caller in call order, and close() or a fatal error settles them all (the first with the error,
   * the rest done). One resolver for several waiters left all but the last pending forever.
   */
  #tail: Promise<unknown> = Promise.resolve();

  protected constructor(setup: FeedSetup, body: FeedBody<LinkEnd>) {
    const { options } = setup;
    this.#name = setup.name;
    this.#body = body;
    this.#engine = new BatchEngine({
      clock: setup.clock,
      debounceMs: options.debounceMs,
      maxBatchWaitMs: options.maxBatchWaitMs,
      maxPending: options.maxPending,
      maxKeys: options.maxKeys,
      failsafeMs: options.failsafeMs,
      onReadable: () => this.#notify(),
    });
    const engine = this.#engine;
    const monitor = new FeedMonitor({
      feed: this,
      clock: setup.clock,
      log: setup.log,
      changes: () => engine.changesReceived,
    });
    this.#monitor = monitor;
    this.#supervisor = new Supervisor({
      setup,
      connect: (signal) => body.connect(signal),
      run: async (session) => {
        try {
          return await body.run(session, engine);
        } finally {
          // What a session held for its lookups ended with it; the next session's Resync covers it.
          engine.holding(false);
        }
      },
      // contract R1: the first item of every connection is its Resync, queued once the session is live.
      onLive: (reconnect) => {
        monitor.live(reconnect);
        this.#engine.resync(reconnect ? 'reconnected' : 'connected');
        setup.onStreaming?.(true);
      },
      onDown: () => setup.onStreaming?.(false),
      onClose: (fatal) => {
        this.#error = fatal;
        this.#engine.close();
        monitor.closed(fatal);
        this.#notify();
      },
      observer: monitor,
    });
  }

  /** Where the feed connects, without the password. */
  get target(): string {
    return this.#body.target;
  }

  /** Whether the feed has ended. */
  get closed(): boolean {
    return this.#supervisor.closed;
  }

  /**
   * What the feed is doing and has done (contract R32): its state, reconnects, resyncs by reason,
   * batches, changes, bytes received and, for a WAL stream, the server's WAL end and the confirmed
   * position. A new plain-data snapshot per call; cheap enough to call per request (`/metrics`).
   */
  stats(): FeedStats {
    return this.#monitor.stats();
  }

  /** The feed's one iterator: a second `for await` over the same feed throws FeedClosedError. */
  [Symbol.asyncIterator](): AsyncIterator<FeedItem> {
    if (this.#iterated) {
      throw new FeedClosedError(
        `a ${this.#name} can be iterated once; create another feed for a second consumer`,
      );
    }
    this.#iterated = true;
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
    this.#supervisor.close();
  }

  /** The same as `close()`, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #next(): Promise<IteratorResult<FeedItem>> {
    if (!this.#running) {
      this.#running = true;
      this.#engine.start();
      this.#supervisor.start();
    }
    for (;;) {
      if (this.#error) {
        const error = this.#error;
        this.#error = null;
        throw error;
      }
      if (this.#supervisor.closed) return { done: true, value: undefined };
      const item = this.#engine.take();
      if (item !== undefined) {
        this.#monitor.yielded(item);
        return { done: false, value: item };
      }
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

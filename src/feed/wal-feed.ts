// WalFeed: the supervisor that keeps one walsender session streaming into the BatchEngine, and the
// AsyncIterable the consumer pulls from. The only feed file that awaits I/O (SPEC §3, R1–R16).
import type { ChangeOp, Decoder } from '../decode/change.js';
import { createTestDecodingDecoder } from '../decode/test-decoding.js';
import { createWal2jsonDecoder } from '../decode/wal2json.js';
import { ConnectionError, FeedClosedError, PgnudgeError } from '../errors.js';
import { type BoundLogger, bindLogger } from '../logger.js';
import { formatLsn } from '../protocol/lsn.js';
import type { PrimaryKeepalive, XLogData } from '../protocol/replication.js';
import { PgConnection } from '../transport/connection.js';
import { type ConnectionSettings, describeTarget, resolveConnectionSettings } from '../transport/settings.js';
import { nodeSettingsIo } from '../transport/settings-io.js';
import { Backoff } from './backoff.js';
import { type Clock, systemClock } from './clock.js';
import { formatCreateSlot, formatStartReplication, generateSlotName } from './commands.js';
import { BatchEngine } from './engine.js';
import type { FeedItem } from './items.js';
import { type ResolvedFeedOptions, resolveFeedOptions, type WalFeedOptions } from './options.js';
import { TableFilter } from './tables.js';

/** Consecutive failures after which one ERROR is logged (each failure is a WARNING). */
const LOUD_AFTER_FAILURES = 5;

/** Test seams: a controllable clock and randomness. Not part of the public contract. */
export interface FeedInternals {
  clock?: Clock;
  random?: () => number;
  env?: Record<string, string | undefined>;
}

type Plugin = 'wal2json' | 'test_decoding';

/**
 * A change feed over a TEMPORARY logical replication slot. Iterate it with `for await`: the first item
 * of every connection is a `Resync`; after it, `Batch`es name the tables that changed. Ending the
 * iteration (`break`, `close()`, the `signal`, `await using`) destroys the socket and every timer.
 */
export class WalFeed implements AsyncIterable<FeedItem>, AsyncDisposable {
  readonly #options: ResolvedFeedOptions;
  readonly #settings: ConnectionSettings;
  readonly #log: BoundLogger;
  readonly #clock: Clock;
  readonly #engine: BatchEngine;
  readonly #backoff: Backoff;
  readonly #filter: TableFilter | null;
  readonly #signal: AbortSignal | undefined;
  #started = false;
  #closed = false;
  #error: PgnudgeError | null = null;
  #wake: (() => void) | null = null;
  #connection: PgConnection | null = null;
  #resolvedPlugin: Plugin | null = null;
  #slotName: string | null = null;
  #everLive = false;
  #sleepTimer: unknown = null;
  #sleepDone: (() => void) | null = null;
  #onAbort = () => void this.close();

  constructor(options: WalFeedOptions = {}, internals: FeedInternals = {}) {
    this.#options = resolveFeedOptions(options);
    const env = internals.env ?? process.env;
    this.#log = bindLogger(options.logger);
    const settings = resolveConnectionSettings(options, env, nodeSettingsIo(env, this.#log));
    this.#settings = {
      ...settings,
      applicationName: settings.applicationName ?? this.#options.applicationName,
    };
    this.#clock = internals.clock ?? systemClock;
    const random = internals.random ?? Math.random;
    this.#backoff = new Backoff({
      initialMs: this.#options.backoffInitialMs,
      maximumMs: this.#options.backoffMaximumMs,
      random,
    });
    this.#filter = this.#options.tables ? new TableFilter(this.#options.tables) : null;
    this.#engine = new BatchEngine({
      clock: this.#clock,
      debounceMs: this.#options.debounceMs,
      maxBatchWaitMs: this.#options.maxBatchWaitMs,
      maxPending: this.#options.maxPending,
      failsafeMs: this.#options.failsafeMs,
      onReadable: () => this.#notify(),
    });
    this.#signal = options.signal;
    if (this.#signal?.aborted) this.#closed = true;
    this.#signal?.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** The plugin in use once a slot was created (after `auto` resolved), else null. */
  get plugin(): Plugin | null {
    return this.#resolvedPlugin;
  }

  /** The current temporary slot's name, or null while not connected. */
  get slotName(): string | null {
    return this.#slotName;
  }

  /** Where the feed connects, without the password. */
  get target(): string {
    return describeTarget(this.#settings);
  }

  /** Whether the feed has ended. */
  get closed(): boolean {
    return this.#closed;
  }

  [Symbol.asyncIterator](): AsyncIterator<FeedItem> {
    if (this.#started) {
      throw new FeedClosedError('a WalFeed can be iterated once; create another feed for a second consumer');
    }
    this.#started = true;
    if (!this.#closed) void this.#supervise();
    return {
      next: () => this.#next(),
      return: async () => {
        await this.close();
        return { done: true, value: undefined };
      },
    };
  }

  /** Ends the feed: destroys the socket and every timer. Idempotent; pending `next()` calls end. */
  async close(): Promise<void> {
    if (this.#closed && this.#connection === null) return;
    this.#closed = true;
    this.#signal?.removeEventListener('abort', this.#onAbort);
    this.#engine.close();
    this.#connection?.abort();
    this.#connection = null;
    this.#cancelSleep();
    this.#notify();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #next(): Promise<IteratorResult<FeedItem>> {
    for (;;) {
      if (this.#error) {
        const error = this.#error;
        this.#error = null;
        await this.close();
        throw error;
      }
      if (this.#closed) return { done: true, value: undefined };
      const item = this.#engine.take();
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

  async #supervise(): Promise<void> {
    let failures = 0;
    while (!this.#closed) {
      try {
        await this.#session(() => {
          failures = 0;
        });
      } catch (error) {
        if (this.#closed) return;
        const failure =
          error instanceof PgnudgeError
            ? error
            : new PgnudgeError(
                'PGNUDGE_ERR_PROTOCOL',
                `internal error: ${(error as Error)?.stack ?? error}`,
                false,
                {
                  cause: error,
                },
              );
        if (!this.#everLive && !failure.retryable) {
          this.#error = failure;
          this.#notify();
          return;
        }
        failures += 1;
        const delay = this.#backoff.next();
        const message = `${failure.message} (${failure.code}); reconnecting in ${Math.round(delay)} ms (attempt ${failures})`;
        if (failures === LOUD_AFTER_FAILURES)
          this.#log.error(`${LOUD_AFTER_FAILURES} consecutive failures: ${message}`);
        else this.#log.warn(message);
        await this.#sleep(delay);
      }
    }
  }

  /** One connection's life: connect, create the slot, stream until the link fails. Always throws. */
  async #session(onLive: () => void): Promise<never> {
    const connection = await PgConnection.connect(this.#settings, {
      replication: 'database',
      logger: this.#log,
      ...(this.#signal ? { signal: this.#signal } : {}),
    });
    if (this.#closed) {
      connection.abort();
      throw new FeedClosedError();
    }
    this.#connection = connection;
    const ended = new Promise<never>((_, reject) => connection.onClose(reject));
    // Without a reader the rejection of `ended` would be unhandled when the session fails earlier.
    ended.catch(() => {});
    let stopTimers = () => {};
    try {
      this.#log.info(
        `connected to ${connection.target} (${connection.tls ? 'TLS' : 'no TLS'}, ${connection.authMethod}, PostgreSQL ${connection.parameters.get('server_version') ?? '?'})`,
      );
      const plugin = await this.#createSlot(connection);
      const decoder = plugin === 'wal2json' ? createWal2jsonDecoder() : createTestDecodingDecoder();
      const stream = this.#streamState(connection, decoder);
      await Promise.race([
        connection.startReplication(
          formatStartReplication(this.#slotName!, plugin, this.#options.tables),
          stream,
        ),
        ended,
      ]);
      // R1: the Resync goes out only now that the server answered with CopyBothResponse.
      this.#engine.resync(this.#everLive ? 'reconnected' : 'connected');
      this.#everLive = true;
      this.#backoff.reset();
      onLive();
      this.#log.info(`streaming from slot ${this.#slotName} (${plugin})`);
      stopTimers = this.#startTimers(connection, stream);
      return await ended;
    } finally {
      stopTimers();
      connection.abort();
      if (this.#connection === connection) this.#connection = null;
      this.#slotName = null;
    }
  }

  async #createSlot(connection: PgConnection): Promise<Plugin> {
    const choice = this.#options.plugin;
    const candidates: Plugin[] =
      choice === 'auto'
        ? this.#resolvedPlugin
          ? [this.#resolvedPlugin]
          : ['wal2json', 'test_decoding']
        : [choice];
    for (const plugin of candidates) {
      const slot = generateSlotName(() => crypto.getRandomValues(new Uint8Array(8)));
      try {
        await connection.query(formatCreateSlot(slot, plugin));
        this.#slotName = slot;
        if (choice === 'auto' && this.#resolvedPlugin === null && plugin !== candidates[0]) {
          this.#log.warn(`wal2json is not installed on the server; using test_decoding (R15)`);
        }
        this.#resolvedPlugin = plugin;
        return plugin;
      } catch (error) {
        const missing = error instanceof PgnudgeError && error.code === 'PGNUDGE_ERR_PLUGIN_MISSING';
        if (!missing || plugin === candidates[candidates.length - 1]) throw error;
      }
    }
    throw new Error('unreachable: no plugin candidates');
  }

  #streamState(connection: PgConnection, decoder: Decoder) {
    const engine = this.#engine;
    const filter = this.#filter;
    const log = this.#log;
    const debug = log.enabled('debug');
    let lastSchema = '';
    let lastTable = '';
    let lastPayload = '';
    const sink = (schema: string, table: string, op: ChangeOp) => {
      if (filter !== null && !filter.matches(schema, table)) return;
      // Decoders hand back the same string objects for a repeated relation, so this is usually one compare.
      if (schema !== lastSchema || table !== lastTable) {
        lastSchema = schema;
        lastTable = table;
        lastPayload = `${schema}.${table}`;
      }
      if (debug) log.debug(`${op} ${lastPayload}`);
      engine.change(lastPayload);
    };
    const state = {
      confirmed: 0n,
      xlogData(message: XLogData) {
        if (message.walEnd > state.confirmed) state.confirmed = message.walEnd;
        decoder.decode(message.data, sink);
      },
      keepalive(message: PrimaryKeepalive) {
        if (message.walEnd > state.confirmed) state.confirmed = message.walEnd;
        // Answer at once when asked, or the server's wal_sender_timeout ends the session.
        if (message.replyRequested) state.sendStatus(false);
      },
      sendStatus(replyRequested: boolean) {
        const lsn = state.confirmed;
        connection.sendStatusUpdate({ write: lsn, flush: lsn, apply: lsn, replyRequested });
        if (log.enabled('trace')) log.trace(`> StandbyStatusUpdate ${formatLsn(lsn)}`);
      },
    };
    return state;
  }

  /** The status timer (R8) and the liveness check, both independent of the consumer. */
  #startTimers(connection: PgConnection, stream: { sendStatus(replyRequested: boolean): void }): () => void {
    const clock = this.#clock;
    let statusTimer: unknown = null;
    let livenessTimer: unknown = null;
    const { statusIntervalMs, livenessTimeoutMs } = this.#options;
    const status = () => {
      stream.sendStatus(true);
      statusTimer = clock.setTimer(statusIntervalMs, status);
    };
    statusTimer = clock.setTimer(statusIntervalMs, status);
    if (livenessTimeoutMs !== null) {
      // Compare byte counters rather than timestamping every chunk on the hot path.
      let seenBytes = connection.bytesReceived;
      let seenAt = clock.now();
      const period = Math.max(1, Math.min(statusIntervalMs, Math.floor(livenessTimeoutMs / 4)));
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
      if (statusTimer !== null) clock.clearTimer(statusTimer);
      if (livenessTimer !== null) clock.clearTimer(livenessTimer);
      statusTimer = livenessTimer = null;
    };
  }

  #sleep(ms: number): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#sleepDone = resolve;
      this.#sleepTimer = this.#clock.setTimer(ms, () => this.#cancelSleep());
    });
  }

  #cancelSleep(): void {
    if (this.#sleepTimer !== null) this.#clock.clearTimer(this.#sleepTimer);
    this.#sleepTimer = null;
    const done = this.#sleepDone;
    this.#sleepDone = null;
    done?.();
  }
}

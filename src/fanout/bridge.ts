// NotifyBridge: republishes one WalFeed on a NOTIFY channel (contract §6). Any number may run; the one
// holding the channel's session advisory lock is active and alone opens a feed (and so a slot).
import { asPgnudgeError } from '../as-pgnudge-error.js';
import { ConfigError, ConnectionError, FeedClosedError, type PgnudgeError } from '../errors.js';
import { type FeedInternals, feedSetup } from '../feed/feed.js';
import type { FeedItem } from '../feed/items.js';
import {
  FEED_OPTION_NAMES,
  type ResolvedFeedOptions,
  refuseUnknownOptions,
  type WalFeedOptions,
} from '../feed/options.js';
import type { Session } from '../feed/session.js';
import { Supervisor } from '../feed/supervisor.js';
import { WalFeed } from '../feed/wal-feed.js';
import type { BoundLogger } from '../logger.js';
import { duration } from '../option-rules.js';
import { PgConnection } from '../transport/connection.js';
import { bridgeLockKey, formatNotify, validateChannel } from './channel.js';
import { DEFAULT_HEARTBEAT_INTERVAL, WireEncoder } from './wire.js';

/** Options of a {@link NotifyBridge}: the feed's, plus the channel. Durations are milliseconds. */
export interface NotifyBridgeOptions extends WalFeedOptions {
  /** The NOTIFY channel (1–63 bytes; used exactly, case included). */
  channel: string;
  /** How often the active bridge sends a heartbeat. Default 1000. */
  heartbeatInterval?: number;
  /** How often a standby tries to take the lock. Default 500. */
  lockPollInterval?: number;
}

const BRIDGE_OPTION_NAMES: readonly string[] = [
  ...FEED_OPTION_NAMES,
  ...Object.keys({
    channel: true,
    heartbeatInterval: true,
    lockPollInterval: true,
  } satisfies Record<Exclude<keyof NotifyBridgeOptions, keyof WalFeedOptions>, true>),
];

/**
 * Runs one WalFeed while it holds the channel's advisory lock and NOTIFYs every item, as versioned
 * JSON (docs/fanout.md), through a second, ordinary connection. A standby polls for the lock and takes
 * over when the active bridge's session ends; each activation has a fresh bridge id.
 */
export class NotifyBridge implements AsyncDisposable {
  readonly #feedOptions: WalFeedOptions;
  readonly #options: ResolvedFeedOptions;
  readonly #channel: string;
  readonly #lockKey: bigint;
  readonly #heartbeatMs: number;
  readonly #pollMs: number;
  readonly #log: BoundLogger;
  readonly #internals: FeedInternals;
  readonly #supervisor: Supervisor<PgConnection>;
  #feed: WalFeed | null = null;
  #bridgeId: string | null = null;
  #run: Promise<void> | null = null;
  #settle: { resolve(): void; reject(error: PgnudgeError): void } | null = null;

  constructor(options: NotifyBridgeOptions, internals: FeedInternals = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new ConfigError('NotifyBridge options must be an object with a channel');
    }
    refuseUnknownOptions(options, BRIDGE_OPTION_NAMES, 'NotifyBridge');
    const { channel, heartbeatInterval, lockPollInterval, signal, ...feedOptions } = options;
    this.#channel = validateChannel(channel);
    this.#lockKey = bridgeLockKey(this.#channel);
    this.#heartbeatMs = duration('heartbeatInterval', heartbeatInterval, 1, DEFAULT_HEARTBEAT_INTERVAL);
    this.#pollMs = duration('lockPollInterval', lockPollInterval, 1, 500);
    // Validated now, so a bad feed option fails here rather than once this bridge becomes active
    // (the signal too: it is used below, and is not the inner feed's).
    const setup = feedSetup(
      'NotifyBridge',
      signal === undefined ? feedOptions : { ...feedOptions, signal },
      internals,
    );
    this.#options = setup.options;
    this.#feedOptions = feedOptions;
    this.#log = setup.log;
    this.#internals = internals;
    this.#supervisor = new Supervisor({
      setup,
      connect: (abort) =>
        PgConnection.connect(setup.settings, { replication: 'off', logger: setup.log, signal: abort }),
      run: (session) => this.#session(session),
      onClose: (fatal) => {
        void this.#feed?.close();
        if (fatal === null) this.#settle?.resolve();
        else this.#settle?.reject(fatal);
      },
    });
  }

  /** The channel this bridge publishes on. */
  get channel(): string {
    return this.#channel;
  }

  /** Whether this bridge holds the lock and runs the feed. */
  get active(): boolean {
    return this.#bridgeId !== null;
  }

  /** The id consumers see while this bridge is active (fresh per activation), else null. */
  get bridgeId(): string | null {
    return this.#bridgeId;
  }

  /**
   * Runs until `close()` or the signal (resolves), or until an error that retrying cannot heal
   * (rejects, contract R11). Calling it again returns the same promise.
   */
  run(): Promise<void> {
    this.#run ??= new Promise<void>((resolve, reject) => {
      this.#settle = { resolve, reject };
      if (this.#supervisor.closed) resolve();
      else this.#supervisor.start();
    });
    return this.#run;
  }

  /** Stops: closes the feed and the connection (which releases the lock). Idempotent. */
  async close(): Promise<void> {
    this.#supervisor.close();
    await this.#feed?.close();
  }

  /** The same as `close()`, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** One connection's life: elect, then run the feed and publish it until either ends. Always throws. */
  async #session(session: Session<PgConnection>): Promise<never> {
    const { connection } = session;
    // An idle standby or bridge may receive nothing: a cheap query makes a dead link show as silence.
    session.every(this.#options.statusIntervalMs, () => connection.query('SELECT 1'));
    try {
      this.#log.info(`connected to ${connection.target}; electing the active bridge of "${this.#channel}"`);
      await this.#elect(session);
      const bridgeId = randomId();
      const wire = new WireEncoder(bridgeId);
      const publish = (payloads: string[]) => connection.query(formatNotify(this.#channel, payloads));
      this.#bridgeId = bridgeId;
      this.#log.info(`active on channel "${this.#channel}" as bridge ${bridgeId}`);
      const feed = new WalFeed(this.#feedOptions, this.#internals);
      this.#feed = feed;
      if (session.closed) await feed.close();
      // A failed heartbeat (a full notification queue) means consumers may miss messages: start over.
      const beat = () =>
        publish(wire.heartbeat()).catch((error) => connection.fail(asConnectionError(error)));
      let beating = false;
      const pump = async (): Promise<never> => {
        const items = feed[Symbol.asyncIterator]();
        for (;;) {
          let next: IteratorResult<FeedItem>;
          try {
            next = await items.next();
          } catch (error) {
            // The feed retries all it can by itself; what it throws, retrying cannot heal (contract R11).
            session.fail(asPgnudgeError(error));
            throw error;
          }
          if (next.done) throw new FeedClosedError();
          const item = next.value;
          await publish(
            item.type === 'resync'
              ? wire.resync(item.reason)
              : wire.batch(item.events.map((e) => [e.payload, e.count, e.firstSeen.getTime()] as const)),
          );
          // Heartbeats start once the feed's connect Resync went out: from then on the bridge is useful.
          if (!beating) {
            beating = true;
            session.every(this.#heartbeatMs, beat);
          }
        }
      };
      const pumping = pump();
      // When the connection ends first, the pump ends later (the feed closes): that rejection is expected.
      pumping.catch(() => {});
      return await session.until(pumping);
    } finally {
      await this.#feed?.close();
      this.#feed = null;
      if (this.#bridgeId !== null) this.#log.info(`bridge ${this.#bridgeId} is no longer active`);
      this.#bridgeId = null;
    }
  }

  /** Returns once this session holds the channel's lock, polling as a standby until then. */
  async #elect(session: Session<PgConnection>): Promise<void> {
    const command = `SELECT pg_try_advisory_lock(${this.#lockKey})`;
    let announced = false;
    for (;;) {
      const [result] = await session.wait(command, session.connection.query(command));
      session.live();
      if (result?.rows[0]?.[0] === 't') return;
      if (!announced) {
        this.#log.info(
          `standby: another bridge is active on "${this.#channel}"; polling every ${this.#pollMs} ms`,
        );
        announced = true;
      }
      await session.sleep(this.#pollMs);
      if (session.closed) throw new FeedClosedError();
    }
  }
}

function randomId(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, '0')).join(
    '',
  );
}

function asConnectionError(error: unknown): ConnectionError {
  if (error instanceof ConnectionError) return error;
  return new ConnectionError(
    'PGNUDGE_ERR_CONNECTION',
    `publishing on the channel failed: ${(error as Error)?.message ?? error}`,
    { cause: error },
  );
}

// NotifyFeed: a fan-out consumer (contract §6). LISTENs on an ordinary connection (LOGIN suffices) to a
// bridge's channel and yields the same Resync | Batch contract as WalFeed, with its own debounce.
import { ConfigError } from '../errors.js';
import type { Clock } from '../feed/clock.js';
import {
  Feed,
  type FeedBody,
  type FeedInternals,
  type FeedSetup,
  type FeedSink,
  feedSetup,
} from '../feed/feed.js';
import { FEED_OPTION_NAMES, refuseUnknownOptions, type WalFeedOptions } from '../feed/options.js';
import type { Session } from '../feed/session.js';
import type { BoundLogger } from '../logger.js';
import { duration } from '../option-rules.js';
import { PgConnection } from '../transport/connection.js';
import { type ConnectionSettings, describeTarget } from '../transport/settings.js';
import { formatListen, validateChannel } from './channel.js';
import { BridgeTracker, type TrackerAction } from './tracker.js';
import { DEFAULT_HEARTBEAT_INTERVAL } from './wire.js';

/**
 * Options of a {@link NotifyFeed}. Durations are milliseconds. `statusInterval` is how often an idle
 * session sends `SELECT 1`, so that `livenessTimeout` notices a dead link.
 */
export interface NotifyFeedOptions
  extends Omit<WalFeedOptions, 'tables' | 'plugin' | 'publication' | 'readPacing'> {
  /** The bridge's NOTIFY channel (1–63 bytes; used exactly, case included). */
  channel: string;
  /** Silence after which "no bridge heard" is logged, and the next message resyncs. Default 3000. */
  heartbeatTimeout?: number;
}

/**
 * WalFeed's options less `tables`, `plugin` and `publication` (the bridge decides them) and `readPacing`
 * (a NotifyFeed reads no replication stream), plus the channel's own.
 */
const NOTIFY_FEED_OPTION_NAMES: readonly string[] = [
  ...FEED_OPTION_NAMES.filter(
    (name) => name !== 'tables' && name !== 'plugin' && name !== 'publication' && name !== 'readPacing',
  ),
  ...Object.keys({
    channel: true,
    heartbeatTimeout: true,
  } satisfies Record<Exclude<keyof NotifyFeedOptions, keyof WalFeedOptions>, true>),
];

/**
 * A change feed fed by a {@link NotifyBridge} over LISTEN/NOTIFY. Yields `Resync('connected')` once
 * LISTEN is active (`reconnected` after a reconnect), `Resync('bridge')` when the bridge resyncs, is
 * replaced, comes back, or a message is lost or malformed, and `Batch`es as the bridge reports changes.
 */
export class NotifyFeed extends Feed {
  readonly #body: ListenSessions;

  constructor(options: NotifyFeedOptions, internals: FeedInternals = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new ConfigError('NotifyFeed options must be an object with a channel');
    }
    refuseUnknownOptions(options, NOTIFY_FEED_OPTION_NAMES, 'NotifyFeed');
    const { channel, heartbeatTimeout, ...rest } = options;
    const setup = feedSetup('NotifyFeed', rest, internals);
    const body = new ListenSessions(
      setup,
      validateChannel(channel),
      duration('heartbeatTimeout', heartbeatTimeout, 1, 3 * DEFAULT_HEARTBEAT_INTERVAL),
    );
    super(setup, body);
    this.#body = body;
  }

  /** The channel listened to. */
  get channel(): string {
    return this.#body.channel;
  }

  /** The id of the bridge last heard on this connection, or null. */
  get bridgeId(): string | null {
    return this.#body.bridgeId;
  }
}

/** NotifyFeed's sessions: an ordinary connection LISTENing on the channel, read through a BridgeTracker. */
class ListenSessions implements FeedBody<PgConnection> {
  readonly target: string;
  readonly channel: string;
  readonly #settings: ConnectionSettings;
  readonly #log: BoundLogger;
  readonly #clock: Clock;
  readonly #statusIntervalMs: number;
  readonly #silenceCheckMs: number;
  readonly #tracker: BridgeTracker;

  constructor(setup: FeedSetup, channel: string, heartbeatTimeoutMs: number) {
    this.target = describeTarget(setup.settings);
    this.channel = channel;
    this.#settings = setup.settings;
    this.#log = setup.log;
    this.#clock = setup.clock;
    this.#statusIntervalMs = setup.options.statusIntervalMs;
    this.#silenceCheckMs = Math.max(1, Math.floor(heartbeatTimeoutMs / 3));
    this.#tracker = new BridgeTracker({
      silenceMs: heartbeatTimeoutMs,
      maxEvents: setup.options.maxPending,
      nowMs: setup.clock.now(),
    });
  }

  /** The id of the bridge last heard on this connection, or null. */
  get bridgeId(): string | null {
    return this.#tracker.bridge;
  }

  connect(signal: AbortSignal): Promise<PgConnection> {
    return PgConnection.connect(this.#settings, { replication: 'off', logger: this.#log, signal });
  }

  async run(session: Session<PgConnection>, sink: FeedSink): Promise<never> {
    const clock = this.#clock;
    const { connection } = session;
    this.#log.info(`connected to ${connection.target} (${connection.tls ? 'TLS' : 'no TLS'})`);
    this.#tracker.reset(clock.now());
    connection.onNotification((notification) => {
      if (notification.channel !== this.channel) return;
      this.#apply(this.#tracker.receive(notification.payload, clock.now()), sink);
    });
    await session.wait('LISTEN', connection.query(formatListen(this.channel)));
    // Only now is LISTEN active: a refetch after this Resync misses nothing the bridge sends later.
    session.live();
    this.#log.info(`listening on channel "${this.channel}"`);
    // An idle LISTEN session receives nothing: a cheap query makes a dead link show as silence.
    session.every(this.#statusIntervalMs, () => connection.query('SELECT 1'));
    session.every(this.#silenceCheckMs, () => this.#apply(this.#tracker.checkSilence(clock.now()), sink));
    return await session.ended;
  }

  #apply(actions: readonly TrackerAction[], sink: FeedSink): void {
    for (const action of actions) {
      if (action.type === 'resync') sink.resync('bridge');
      else if (action.type === 'events') {
        for (const [payload, count, firstSeenMs] of action.events) sink.change(payload, count, firstSeenMs);
      } else this.#log[action.level](`channel "${this.channel}": ${action.message}`);
    }
  }
}

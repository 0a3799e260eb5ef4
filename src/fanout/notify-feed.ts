// NotifyFeed: a fan-out consumer (contract §6, R29). LISTENs on an ordinary connection (LOGIN suffices) to a
// bridge's channel, believes only messages signed with the shared secret, and yields the same
// Resync | Batch contract as WalFeed, with its own debounce.
import { ConfigError } from '../errors.js';
import { Feed, type FeedInternals, type FeedSetup, feedSetup } from '../feed/feed.js';
import { FEED_OPTION_NAMES, refuseUnknownOptions, type WalFeedOptions } from '../feed/options.js';
import type { BoundLogger } from '../logger.js';
import { duration } from '../option-rules.js';
import { PgConnection } from '../transport/connection.js';
import { type ConnectionSettings, describeTarget } from '../transport/settings.js';
import { resolveChannelKey } from './auth.js';
import { formatListen, validateChannel } from './channel.js';
import { type BridgeSource, SourceSessions } from './source.js';
import type { DropReason } from './tracker.js';
import { DEFAULT_HEARTBEAT_INTERVAL } from './wire.js';

/**
 * Options of a {@link NotifyFeed}. Durations are milliseconds. `statusInterval` is how often an idle
 * session sends `SELECT 1`, so that `livenessTimeout` notices a dead link.
 */
export interface NotifyFeedOptions
  extends Omit<WalFeedOptions, 'tables' | 'plugin' | 'publication' | 'partitions' | 'keys' | 'readPacing'> {
  /** The bridge's NOTIFY channel (1–63 bytes; used exactly, case included). */
  channel: string;
  /**
   * The secret the channel's bridges sign with (16 to 4096 bytes): only messages signed with it are
   * believed (docs/fanout.md). Required unless `insecure`.
   */
  secret?: string | Uint8Array;
  /**
   * Believe unsigned messages, without a secret. Any role that can connect to the database can then
   * impersonate the bridge so that this feed misses every change with no error (docs/fanout.md): only
   * where every such role is trusted.
   */
  insecure?: boolean;
  /**
   * Silence (no authenticated message) after which an error is logged, and the next message believed
   * resyncs. Default 3000: three of the bridge's default heartbeats.
   */
  heartbeatTimeout?: number;
}

/**
 * WalFeed's options less those the bridge's feed decides (`tables`, `plugin`, `publication`, `partitions`,
 * `keys`) and `readPacing` (a NotifyFeed reads no replication stream), plus the channel's own.
 */
const NOT_NOTIFY_FEED = ['tables', 'plugin', 'publication', 'partitions', 'keys', 'readPacing'];
const NOTIFY_FEED_OPTION_NAMES: readonly string[] = [
  ...FEED_OPTION_NAMES.filter((name) => !NOT_NOTIFY_FEED.includes(name)),
  ...Object.keys({
    channel: true,
    secret: true,
    insecure: true,
    heartbeatTimeout: true,
  } satisfies Record<Exclude<keyof NotifyFeedOptions, keyof WalFeedOptions>, true>),
];

/**
 * A change feed fed by a {@link NotifyBridge} over LISTEN/NOTIFY. Yields `Resync('connected')` once
 * LISTEN is active (`reconnected` after a reconnect), `Resync('bridge')` when the bridge resyncs, is
 * replaced, is heard again after a silence, or one of its messages went missing, and `Batch`es as the
 * bridge reports changes. Believes only messages signed with the secret; others are dropped without
 * effect, counted in `dropped` and reported at most once a minute.
 */
export class NotifyFeed extends Feed {
  readonly #body: SourceSessions<PgConnection>;

  constructor(options: NotifyFeedOptions, internals: FeedInternals = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new ConfigError('NotifyFeed options must be an object with a channel');
    }
    refuseUnknownOptions(options, NOTIFY_FEED_OPTION_NAMES, 'NotifyFeed');
    const { channel, secret, insecure, heartbeatTimeout, ...rest } = options;
    const name = validateChannel(channel);
    const key = resolveChannelKey({ secret, insecure }, name, 'NotifyFeed');
    const setup = feedSetup('NotifyFeed', rest, internals);
    const body = new SourceSessions(
      setup,
      notifySource(setup, name),
      key,
      duration('heartbeatTimeout', heartbeatTimeout, 1, 3 * DEFAULT_HEARTBEAT_INTERVAL),
    );
    super(setup, body);
    this.#body = body;
  }

  /** The channel listened to. */
  get channel(): string {
    return this.#body.channel;
  }

  /** The id of the bridge believed active, or null before the first message believed. */
  get bridgeId(): string | null {
    return this.#body.bridgeId;
  }

  /**
   * Messages dropped without effect since construction, by reason (contract R29, docs/fanout.md): a
   * wrong MAC, unsigned, malformed, replayed, from a replaced bridge, or outside the clock window.
   */
  get dropped(): Readonly<Record<DropReason, number>> {
    return this.#body.dropped;
  }
}

/** NOTIFY as a bridge source: an ordinary connection LISTENing on the channel. */
function notifySource(setup: FeedSetup, channel: string): BridgeSource<PgConnection> {
  const settings: ConnectionSettings = setup.settings;
  const log: BoundLogger = setup.log;
  return {
    target: describeTarget(settings),
    channel,
    subscribeCommand: 'LISTEN',
    connect: (signal) => PgConnection.connect(settings, { replication: 'off', logger: log, signal }),
    subscribe: async (connection, deliver) => {
      connection.onNotification((notification) => {
        if (notification.channel === channel) deliver(notification.payload);
      });
      await connection.query(formatListen(channel));
    },
    ping: (connection) => connection.query('SELECT 1'),
    describe: (connection) => `${connection.target} (${connection.tls ? 'TLS' : 'no TLS'})`,
  };
}

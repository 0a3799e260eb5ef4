// NotifyFeed: a fan-out consumer (contract §6). LISTENs on an ordinary connection (LOGIN suffices) to a
// bridge's channel and yields the same Resync | Batch contract as WalFeed, with its own debounce.
import { ConfigError } from '../errors.js';
import { FeedCore } from '../feed/feed-core.js';
import { FeedShell } from '../feed/feed-shell.js';
import type { FeedInternals } from '../feed/internals.js';
import {
  FEED_OPTION_NAMES,
  refuseUnknownOptions,
  resolveFeedOptions,
  type WalFeedOptions,
} from '../feed/options.js';
import { startLinkTimers } from '../feed/supervisor.js';
import { bindLogger } from '../logger.js';
import { PgConnection } from '../transport/connection.js';
import { type ConnectionSettings, describeTarget, resolveConnectionSettings } from '../transport/settings.js';
import { nodeSettingsIo } from '../transport/settings-io.js';
import { formatListen, validateChannel } from './channel.js';
import { BridgeTracker, type TrackerAction } from './tracker.js';
import { DEFAULT_HEARTBEAT_INTERVAL } from './wire.js';

/**
 * Options of a {@link NotifyFeed}. Durations are milliseconds. `statusInterval` is how often an idle
 * session sends `SELECT 1`, so that `livenessTimeout` notices a dead link.
 */
export interface NotifyFeedOptions extends Omit<WalFeedOptions, 'tables' | 'plugin'> {
  /** The bridge's NOTIFY channel (1–63 bytes; used exactly, case included). */
  channel: string;
  /** Silence after which "no bridge heard" is logged, and the next message resyncs. Default 3000. */
  heartbeatTimeout?: number;
}

/** WalFeed's options less `tables` and `plugin` (the bridge decides both), plus the channel's own. */
const NOTIFY_FEED_OPTION_NAMES: readonly string[] = [
  ...FEED_OPTION_NAMES.filter((name) => name !== 'tables' && name !== 'plugin'),
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
export class NotifyFeed extends FeedShell {
  readonly #core: FeedCore;
  readonly #settings: ConnectionSettings;
  readonly #channel: string;
  readonly #statusIntervalMs: number;
  readonly #livenessTimeoutMs: number | null;
  readonly #heartbeatTimeoutMs: number;
  readonly #tracker: BridgeTracker;

  constructor(options: NotifyFeedOptions, internals: FeedInternals = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new ConfigError('NotifyFeed options must be an object with a channel');
    }
    refuseUnknownOptions(options, NOTIFY_FEED_OPTION_NAMES, 'NotifyFeed');
    const { channel, heartbeatTimeout, ...rest } = options;
    const resolved = resolveFeedOptions(rest, 'NotifyFeed');
    const checkedChannel = validateChannel(channel);
    const heartbeatTimeoutMs = heartbeatTimeout ?? 3 * DEFAULT_HEARTBEAT_INTERVAL;
    // Capped like every duration: beyond setTimeout's limit the silence check would fire every 1 ms.
    if (
      typeof heartbeatTimeoutMs !== 'number' ||
      !Number.isFinite(heartbeatTimeoutMs) ||
      heartbeatTimeoutMs < 1 ||
      heartbeatTimeoutMs > 2 ** 31 - 1
    ) {
      throw new ConfigError(
        `heartbeatTimeout must be a number of milliseconds from 1 to 2147483647; got ${typeof heartbeatTimeout === 'object' ? 'an object' : String(heartbeatTimeout)}`,
        'heartbeatTimeout',
      );
    }
    const log = bindLogger(options.logger);
    // The core calls the session only once iterated, long after `self` is set.
    let self: NotifyFeed | null = null;
    const core = new FeedCore('NotifyFeed', resolved, log, options.signal, internals, () => self!.#session());
    super(core);
    self = this;
    this.#core = core;
    this.#channel = checkedChannel;
    this.#heartbeatTimeoutMs = heartbeatTimeoutMs;
    this.#statusIntervalMs = resolved.statusIntervalMs;
    this.#livenessTimeoutMs = resolved.livenessTimeoutMs;
    const env = internals.env ?? process.env;
    const settings = resolveConnectionSettings(rest, env, nodeSettingsIo(env, log));
    this.#settings = {
      ...settings,
      applicationName: settings.applicationName ?? resolved.applicationName,
    };
    this.#tracker = new BridgeTracker({
      silenceMs: this.#heartbeatTimeoutMs,
      maxEvents: resolved.maxPending,
      nowMs: this.#core.clock.now(),
    });
  }

  /** The channel listened to. */
  get channel(): string {
    return this.#channel;
  }

  /** The id of the bridge last heard on this connection, or null. */
  get bridgeId(): string | null {
    return this.#tracker.bridge;
  }

  /** Where the feed connects, without the password. */
  get target(): string {
    return describeTarget(this.#settings);
  }

  async #session(): Promise<never> {
    const { clock, engine, log, supervisor } = this.#core;
    const connection = await PgConnection.connect(this.#settings, {
      replication: 'off',
      logger: log,
      signal: supervisor.signal,
    });
    const ended = supervisor.attach(connection);
    let stopTimers = () => {};
    let silenceTimer: unknown = null;
    try {
      log.info(`connected to ${connection.target} (${connection.tls ? 'TLS' : 'no TLS'})`);
      this.#tracker.reset(clock.now());
      connection.onNotification((notification) => {
        if (notification.channel !== this.#channel) return;
        this.#apply(this.#tracker.receive(notification.payload, clock.now()));
      });
      await Promise.race([connection.query(formatListen(this.#channel)), ended]);
      // Only now is LISTEN active: a refetch after this Resync misses nothing the bridge sends later.
      engine.resync(supervisor.everLive ? 'reconnected' : 'connected');
      supervisor.live();
      log.info(`listening on channel "${this.#channel}"`);
      stopTimers = startLinkTimers(clock, connection, {
        pingIntervalMs: this.#statusIntervalMs,
        livenessTimeoutMs: this.#livenessTimeoutMs,
        // An idle LISTEN session receives nothing: a cheap query makes a dead link show as silence.
        ping: () => void connection.query('SELECT 1').catch(() => {}),
      });
      const period = Math.max(1, Math.floor(this.#heartbeatTimeoutMs / 3));
      const watch = () => {
        this.#apply(this.#tracker.checkSilence(clock.now()));
        silenceTimer = clock.setTimer(period, watch);
      };
      silenceTimer = clock.setTimer(period, watch);
      return await ended;
    } finally {
      stopTimers();
      if (silenceTimer !== null) clock.clearTimer(silenceTimer);
      supervisor.release(connection);
    }
  }

  #apply(actions: readonly TrackerAction[]): void {
    const { engine, log } = this.#core;
    for (const action of actions) {
      if (action.type === 'resync') engine.resync('bridge');
      else if (action.type === 'events') {
        for (const [payload, count, firstSeenMs] of action.events) engine.change(payload, count, firstSeenMs);
      } else log[action.level](`channel "${this.#channel}": ${action.message}`);
    }
  }
}

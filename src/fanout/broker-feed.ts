// BrokerFeed: a fan-out consumer that reads a bridge's messages from Redis pub/sub or NATS (contract R30)
// instead of LISTEN: no PostgreSQL connection at all. The same contract as NotifyFeed (source.ts).
import { ConfigError } from '../errors.js';
import { Feed, type FeedInternals, feedSetup } from '../feed/feed.js';
import { refuseUnknownOptions, type WalFeedOptions } from '../feed/options.js';
import { duration } from '../option-rules.js';
import { resolveChannelKey } from './auth.js';
import type { BrokerConnection } from './broker-link.js';
import { type BrokerAddress, parseBrokerUrl } from './broker-url.js';
import { transportFor } from './brokers.js';
import { type BridgeSource, SourceSessions } from './source.js';
import type { DropReason } from './tracker.js';
import { DEFAULT_HEARTBEAT_INTERVAL } from './wire.js';

/** The feed options that mean something without a database: batching, liveness, retry, logging. */
type BatchOptions = Pick<
  WalFeedOptions,
  | 'debounce'
  | 'maxBatchWait'
  | 'maxPending'
  | 'maxKeys'
  | 'statusInterval'
  | 'livenessTimeout'
  | 'failsafe'
  | 'backoff'
  | 'signal'
  | 'logger'
>;

/**
 * Options of a {@link BrokerFeed}. Durations are milliseconds. `statusInterval` is how often an idle
 * subscription pings the broker, so that `livenessTimeout` notices a dead link.
 */
export interface BrokerFeedOptions extends BatchOptions {
  /**
   * Where the bridge publishes: `redis://[USER:PASSWORD@]HOST[:PORT]/CHANNEL`, `rediss://…` (TLS,
   * verified against the system's CAs, or the PEM file `?sslrootcert=PATH` names) or
   * `nats://[USER:PASSWORD@]HOST[:PORT]/SUBJECT`. Without credentials in the URL, `REDISCLI_AUTH`
   * (Redis) or `NATS_USER` and `NATS_PASSWORD` (NATS) are read.
   */
  from: string;
  /** The secret the bridge signs with (16 to 4096 bytes). Required unless `insecure`. */
  secret?: string | Uint8Array;
  /** Believe unsigned messages, without a secret: only where everyone who can publish is trusted. */
  insecure?: boolean;
  /** Silence (no authenticated message) after which an error is logged, and the next message resyncs. Default 3000. */
  heartbeatTimeout?: number;
}

const BROKER_FEED_OPTION_NAMES: readonly string[] = Object.keys({
  debounce: true,
  maxBatchWait: true,
  maxPending: true,
  maxKeys: true,
  statusInterval: true,
  livenessTimeout: true,
  failsafe: true,
  backoff: true,
  signal: true,
  logger: true,
  from: true,
  secret: true,
  insecure: true,
  heartbeatTimeout: true,
} satisfies Record<keyof BrokerFeedOptions, true>);

/**
 * A change feed fed by a bridge through a broker. Yields `Resync('connected')` once subscribed
 * (`reconnected` after every reconnect: the broker keeps nothing for a subscriber that was away; usually
 * followed by `bridge`, as the bridge's sequence is checked across the reconnect),
 * `Resync('bridge')` when the bridge resyncs, is replaced, comes back, or a message is lost, and
 * `Batch`es as the bridge reports changes.
 */
export class BrokerFeed extends Feed {
  readonly #body: SourceSessions<BrokerConnection>;

  constructor(options: BrokerFeedOptions, internals: FeedInternals = {}) {
    if (typeof options !== 'object' || options === null) {
      throw new ConfigError('BrokerFeed options must be an object with from (a broker URL)');
    }
    refuseUnknownOptions(options, BROKER_FEED_OPTION_NAMES, 'BrokerFeed');
    const { from, secret, insecure, heartbeatTimeout, ...rest } = options;
    const address = parseBrokerUrl(from, 'from', internals.env ?? process.env);
    const key = resolveChannelKey({ secret, insecure }, address.keyName, 'BrokerFeed');
    const setup = feedSetup('BrokerFeed', rest, internals);
    const body = new SourceSessions(
      setup,
      brokerSource(address, setup.log),
      key,
      duration('heartbeatTimeout', heartbeatTimeout, 1, 3 * DEFAULT_HEARTBEAT_INTERVAL),
    );
    super(setup, body);
    this.#body = body;
  }

  /** The channel or subject read. */
  get channel(): string {
    return this.#body.channel;
  }

  /** The id of the bridge believed active, or null before the first message believed. */
  get bridgeId(): string | null {
    return this.#body.bridgeId;
  }

  /** Messages dropped without effect since construction, by reason (as NotifyFeed's). */
  get dropped(): Readonly<Record<DropReason, number>> {
    return this.#body.dropped;
  }
}

type Subscription = Awaited<ReturnType<ReturnType<typeof transportFor>['connect']>>;

function brokerSource(
  address: BrokerAddress,
  log: Parameters<ReturnType<typeof transportFor>['connect']>[1],
): BridgeSource<BrokerConnection> {
  const transport = transportFor(address.kind);
  const open = new WeakMap<BrokerConnection, Subscription>();
  const of = (connection: BrokerConnection): Subscription => open.get(connection) as Subscription;
  return {
    target: address.target,
    channel: address.channel,
    maxPayloadBytes: transport.maxPayloadBytes,
    subscribeCommand: 'SUBSCRIBE',
    lossyAfterSubscribe: true,
    connect: async (signal) => {
      const subscription = await transport.connect(address, log, signal);
      open.set(subscription.connection, subscription);
      return subscription.connection;
    },
    subscribe: (connection, deliver) => of(connection).subscribe(deliver),
    ping: (connection) => of(connection).ping(),
    describe: () => address.target,
  };
}

// NotifyBridge: republishes one WalFeed on a NOTIFY channel (contract §6, R29). Any number may run; the one
// holding the channel's election slot is active and alone opens a feed (and so a feed slot).
import { asPgnudgeError } from '../as-pgnudge-error.js';
import { ConfigError, ConnectionError, FeedClosedError, type PgnudgeError } from '../errors.js';
import type { Clock } from '../feed/clock.js';
import { type FeedInternals, feedSetup } from '../feed/feed.js';
import type { FeedItem, NudgeEvent } from '../feed/items.js';
import {
  FEED_OPTION_NAMES,
  type ResolvedFeedOptions,
  refuseUnknownOptions,
  type WalFeedOptions,
} from '../feed/options.js';
import type { Session } from '../feed/session.js';
import { Supervisor } from '../feed/supervisor.js';
import { WalFeed } from '../feed/wal-feed.js';
import { type BoundLogger, printable } from '../logger.js';
import { duration } from '../option-rules.js';
import { quoteLiteral } from '../protocol/quote.js';
import { PgConnection } from '../transport/connection.js';
import { ChannelKey, resolveChannelKey } from './auth.js';
import type { BrokerPublisher } from './broker-link.js';
import { type BrokerAddress, parseBrokerUrl } from './broker-url.js';
import { transportFor } from './brokers.js';
import { formatNotify, validateChannel } from './channel.js';
import { classifyElectionError, electionSlotName, formatCreateElectionSlot } from './election.js';
import { DEFAULT_HEARTBEAT_INTERVAL, newBridgeId, WireEncoder, type WireEvent } from './wire.js';

/** Options of a {@link NotifyBridge}: the feed's, plus the channel's. Durations are milliseconds. */
export interface NotifyBridgeOptions extends WalFeedOptions {
  /** The NOTIFY channel (1–63 bytes; used exactly, case included). */
  channel: string;
  /**
   * The secret shared with every listener of the channel (16 to 4096 bytes; 32 random bytes is right):
   * it signs every message and names the election (docs/fanout.md). Required unless `insecure`.
   */
  secret?: string | Uint8Array;
  /**
   * Publish unsigned messages, without a secret. Any role that can connect to the database can then
   * impersonate the bridge so that listeners miss every change with no error (docs/fanout.md): only
   * where every such role is trusted.
   */
  insecure?: boolean;
  /** How often the active bridge sends a heartbeat while its feed streams. Default 1000. */
  heartbeatInterval?: number;
  /** How often a standby looks whether the election slot is free. Default 500. */
  electionPollInterval?: number;
  /**
   * Where the active bridge publishes (contract R30): `'notify'` (the channel, on the session that holds
   * the election), and broker URLs: `redis://[USER:PASSWORD@]HOST[:PORT]/CHANNEL`, `rediss://…` (TLS,
   * verified against the system's CAs, or the PEM file `?sslrootcert=PATH` names), `nats://[USER:PASSWORD@]HOST[:PORT]/SUBJECT`. Default `['notify']`. The channel still names the
   * election. Brokers need their client package installed (`redis`, `@nats-io/transport-node`).
   */
  to?: readonly string[];
}

const BRIDGE_OPTION_NAMES: readonly string[] = [
  ...FEED_OPTION_NAMES,
  ...Object.keys({
    channel: true,
    secret: true,
    insecure: true,
    heartbeatInterval: true,
    electionPollInterval: true,
    to: true,
  } satisfies Record<Exclude<keyof NotifyBridgeOptions, keyof WalFeedOptions>, true>),
];

/**
 * Runs one WalFeed while it holds the channel's election slot, and NOTIFYs every item, signed (wire
 * format v2, docs/fanout.md), on the session that holds the slot. A standby waits for the slot and takes
 * over when the active bridge's session ends; each activation has a fresh bridge id.
 */
export class NotifyBridge implements AsyncDisposable {
  readonly #feedOptions: WalFeedOptions;
  readonly #options: ResolvedFeedOptions;
  readonly #channel: string;
  readonly #key: ChannelKey | null;
  readonly #notify: boolean;
  readonly #brokers: readonly { address: BrokerAddress; key: ChannelKey | null }[];
  readonly #slot: string;
  readonly #heartbeatMs: number;
  readonly #pollMs: number;
  readonly #log: BoundLogger;
  readonly #clock: Clock;
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
    const { channel, secret, insecure, heartbeatInterval, electionPollInterval, to, signal, ...feedOptions } =
      options;
    this.#channel = validateChannel(channel);
    this.#key = resolveChannelKey({ secret, insecure }, this.#channel, 'NotifyBridge');
    const destinations = resolveDestinations(to, internals.env ?? process.env);
    this.#notify = destinations.notify;
    this.#brokers = destinations.brokers.map((address) => ({
      address,
      key: this.#key === null ? null : ChannelKey.derive(secret as string | Uint8Array, address.keyName),
    }));
    this.#heartbeatMs = duration('heartbeatInterval', heartbeatInterval, 1, DEFAULT_HEARTBEAT_INTERVAL);
    this.#pollMs = duration('electionPollInterval', electionPollInterval, 1, 500);
    // Validated now, so a bad feed option fails here rather than once this bridge becomes active
    // (the signal too: it is used below, and is not the inner feed's).
    const setup = feedSetup(
      'NotifyBridge',
      signal === undefined ? feedOptions : { ...feedOptions, signal },
      internals,
    );
    this.#slot = electionSlotName({
      channel: this.#channel,
      database: setup.settings.database,
      key: this.#key,
    });
    this.#options = setup.options;
    this.#feedOptions = feedOptions;
    this.#log = setup.log;
    this.#clock = setup.clock;
    this.#internals = internals;
    this.#supervisor = new Supervisor({
      setup,
      // A walsender session: only a REPLICATION role can create the election slot on it.
      connect: (abort) =>
        PgConnection.connect(setup.settings, { replication: 'database', logger: setup.log, signal: abort }),
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

  /** Whether this bridge holds the election slot and runs the feed. */
  get active(): boolean {
    return this.#bridgeId !== null;
  }

  /** The id listeners see while this bridge is active (16 hex digits, fresh per activation), else null. */
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

  /** Stops: closes the feed and the connection (which drops the election slot). Idempotent. */
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
    const channel = printable(this.#channel);
    let publishers: BrokerPublisher[] = [];
    // An idle standby or bridge may receive nothing: a cheap query makes a dead link show as silence.
    session.every(this.#options.statusIntervalMs, () => connection.query('SELECT 1'));
    try {
      this.#log.info(`connected to ${connection.target}; electing the active bridge of channel "${channel}"`);
      await this.#elect(session);
      const bridgeId = newBridgeId();
      const outlets: Outlet[] = [];
      if (this.#notify) {
        // The session that holds the election publishes: both end together, so no bridge that lost its
        // slot can go on publishing.
        outlets.push({
          wire: new WireEncoder({ bridgeId, key: this.#key }),
          send: (payloads) => connection.query(formatNotify(this.#channel, payloads)),
        });
      }
      const opening = this.#brokers.map(({ address }) =>
        transportFor(address.kind).publisher(address, this.#log),
      );
      try {
        publishers = await session.wait('the brokers', Promise.all(opening));
      } catch (error) {
        // The session ended, or another broker failed, while these connected: a publisher nobody keeps
        // would hold its connection, and reconnect, for as long as the process lives.
        for (const publisher of opening)
          publisher.then(
            (open) => open.close(),
            () => {},
          );
        throw error;
      }
      outlets.push(...brokerOutlets(bridgeId, this.#brokers, publishers));
      // A broker that cannot take a message now loses it: consumers see the gap and resync.
      const publish = (write: (wire: WireEncoder) => string[]) =>
        Promise.all(outlets.map((outlet) => outlet.send(write(outlet.wire)))).then(() => {});
      this.#bridgeId = bridgeId;
      this.#log.info(
        `active on channel "${channel}" as bridge ${bridgeId} (election slot ${this.#slot}${this.#key === null ? ', insecure: messages are unsigned' : ''})`,
      );
      let streaming = false;
      const feed = new WalFeed(this.#feedOptions, {
        ...this.#internals,
        onStreaming: (now) => {
          streaming = now;
        },
      });
      this.#feed = feed;
      if (session.closed) await feed.close();
      // A failed heartbeat (a full notification queue) means listeners may miss messages: start over.
      const beat = () =>
        publish((wire) => wire.heartbeat(this.#clock.now())).catch((error) =>
          connection.fail(asConnectionError(error)),
        );
      let published = false;
      // Heartbeats say "the feed streams": none before the feed's connect Resync went out, and none while
      // the feed reconnects (its slot may wait on a transaction held open by any role), so listeners see
      // that silence and say so.
      session.every(this.#heartbeatMs, () => (published && streaming ? beat() : undefined));
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
          const now = this.#clock.now();
          if (item.type === 'resync') await publish((wire) => wire.resync(item.reason, now));
          else {
            const events = item.events.map(toWire);
            await publish((wire) => wire.batch(events, now));
          }
          published = true;
        }
      };
      const pumping = pump();
      // When the connection ends first, the pump ends later (the feed closes): that rejection is expected.
      pumping.catch(() => {});
      return await session.until(pumping);
    } finally {
      await this.#feed?.close();
      this.#feed = null;
      await Promise.all(publishers.map((publisher) => publisher.close()));
      if (this.#bridgeId !== null) this.#log.info(`bridge ${this.#bridgeId} is no longer active`);
      this.#bridgeId = null;
    }
  }

  /**
   * Returns once this session holds the channel's election slot, waiting as a standby until then. A
   * standby looks the slot up first and tries to create it only when it is absent, so that a waiting
   * standby puts no "already exists" error in the server's log every poll.
   */
  async #elect(session: Session<PgConnection>): Promise<void> {
    const { connection } = session;
    const lookup = `SELECT 1 FROM pg_replication_slots WHERE slot_name = ${quoteLiteral(this.#slot)}`;
    const create = formatCreateElectionSlot(this.#slot);
    let announced = false;
    for (;;) {
      const [held] = await session.wait('the election slot look-up', connection.query(lookup));
      if (held === undefined || held.rows.length === 0) {
        try {
          await session.wait('CREATE_REPLICATION_SLOT', connection.query(create));
          session.live();
          return;
        } catch (error) {
          // Another bridge created it first: a standby like any other.
          if (classifyElectionError(error) !== 'taken') throw error;
        }
      }
      session.live();
      if (!announced) {
        this.#log.info(
          `standby: another bridge is active on channel "${printable(this.#channel)}"; looking every ${this.#pollMs} ms`,
        );
        announced = true;
      }
      await session.sleep(this.#pollMs);
      if (session.closed) throw new FeedClosedError();
    }
  }
}

/** A feed's event as the wire carries it: its table, and its row's key when the feed reports rows. */
function toWire(event: NudgeEvent): WireEvent {
  return { table: event.table, key: event.key, count: event.count, firstSeenMs: event.firstSeen.getTime() };
}

function asConnectionError(error: unknown): ConnectionError {
  if (error instanceof ConnectionError) return error;
  return new ConnectionError(
    'PGNUDGE_ERR_CONNECTION',
    `publishing on the channel failed: ${(error as Error)?.message ?? error}`,
    { cause: error },
  );
}

/** One destination's encoder (its own split limit and key) and how its payloads are sent. */
interface Outlet {
  readonly wire: WireEncoder;
  send(payloads: string[]): Promise<unknown>;
}

/** `to` as the NOTIFY flag and the broker addresses; duplicates refused. */
function resolveDestinations(
  to: unknown,
  env: Record<string, string | undefined>,
): { notify: boolean; brokers: BrokerAddress[] } {
  if (to === undefined) return { notify: true, brokers: [] };
  if (!Array.isArray(to) || to.length === 0) {
    throw new ConfigError("to must be a non-empty array of 'notify' and broker URLs", 'to');
  }
  let notify = false;
  const brokers: BrokerAddress[] = [];
  for (const item of to as unknown[]) {
    if (item === 'notify') notify = true;
    else {
      const address = parseBrokerUrl(item, 'to', env);
      if (brokers.some((other) => other.target === address.target)) {
        throw new ConfigError(`to names ${address.target} twice`, 'to');
      }
      brokers.push(address);
    }
  }
  return { notify, brokers };
}

/**
 * The brokers' outlets: one encoder per key name (transport and channel), so that brokers carrying the
 * same channel carry the same messages (a copy replayed from one to the other is a duplicate, dropped),
 * split at the smallest limit among them.
 */
function brokerOutlets(
  bridgeId: string,
  brokers: readonly { address: BrokerAddress; key: ChannelKey | null }[],
  publishers: readonly BrokerPublisher[],
): Outlet[] {
  const groups = new Map<string, { key: ChannelKey | null; publishers: BrokerPublisher[] }>();
  brokers.forEach(({ address, key }, index) => {
    const group = groups.get(address.keyName) ?? { key, publishers: [] };
    group.publishers.push(publishers[index] as BrokerPublisher);
    groups.set(address.keyName, group);
  });
  return [...groups.values()].map((group) => ({
    wire: new WireEncoder({
      bridgeId,
      key: group.key,
      limit: Math.min(...group.publishers.map((publisher) => publisher.limit)),
    }),
    send: (payloads) =>
      Promise.all(group.publishers.map((publisher) => publisher.publish(payloads).catch(() => {}))),
  }));
}

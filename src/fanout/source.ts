// The consumer side of the fan-out, whatever carries the bridge's messages (contract R29, R30): NOTIFY,
// Redis pub/sub or NATS. One subscription per session, every payload read through a BridgeTracker, so
// every transport keeps the same contract: Resync connected/reconnected (the Feed's), Resync bridge on
// any doubt, heartbeat silence logged, forged and replayed messages dropped and counted.
import type { Clock } from '../feed/clock.js';
import type { FeedBody, FeedSetup, FeedSink } from '../feed/feed.js';
import type { LinkEnd } from '../feed/link.js';
import type { Session } from '../feed/session.js';
import { type BoundLogger, printable } from '../logger.js';
import type { ChannelKey } from './auth.js';
import { BridgeTracker, type DropReason, type TrackerAction } from './tracker.js';

/** What carries a bridge's messages to a consumer: one connection per session, one subscription on it. */
export interface BridgeSource<C extends LinkEnd> {
  /** Where the messages come from, without a credential. */
  readonly target: string;
  /** The channel or subject, as log lines name it. */
  readonly channel: string;
  /** The command that subscribes, as a dead link's error names it (`LISTEN`, `SUBSCRIBE`). */
  readonly subscribeCommand: string;
  /**
   * Whether the transport may lose a message published after this consumer subscribed (a broker, when
   * the bridge's own link to it is down): then sequence numbers are checked across reconnects too, at the
   * cost of a second Resync after most reconnects. NOTIFY loses nothing while a listener is connected.
   */
  readonly lossyAfterSubscribe?: boolean;
  /** The largest payload the transport carries (bytes); NOTIFY's when absent. */
  readonly maxPayloadBytes?: number;
  /** Opens a connection; a failure that retrying may heal is a retryable PgnudgeError. */
  connect(signal: AbortSignal): Promise<C>;
  /**
   * Subscribes `connection`, handing each payload to `deliver`; resolves once the subscription is
   * active, so that nothing published afterwards can be missed.
   */
  subscribe(connection: C, deliver: (payload: string) => void): Promise<void>;
  /** A cheap round trip: an idle subscription receives nothing, so this makes a dead link show as silence. */
  ping(connection: C): Promise<unknown>;
  /** How the session's first log line describes the open connection. */
  describe(connection: C): string;
}

/** A consumer feed's sessions over a {@link BridgeSource}: subscribe, then read through a BridgeTracker. */
export class SourceSessions<C extends LinkEnd> implements FeedBody<C> {
  readonly target: string;
  readonly #source: BridgeSource<C>;
  readonly #log: BoundLogger;
  readonly #clock: Clock;
  readonly #statusIntervalMs: number;
  readonly #silenceCheckMs: number;
  readonly #tracker: BridgeTracker;

  constructor(setup: FeedSetup, source: BridgeSource<C>, key: ChannelKey | null, heartbeatTimeoutMs: number) {
    this.target = source.target;
    this.#source = source;
    this.#log = setup.log;
    this.#clock = setup.clock;
    this.#statusIntervalMs = setup.options.statusIntervalMs;
    this.#silenceCheckMs = Math.max(1, Math.floor(heartbeatTimeoutMs / 3));
    this.#tracker = new BridgeTracker({
      key,
      silenceMs: heartbeatTimeoutMs,
      maxEvents: setup.options.maxPending,
      nowMs: setup.clock.now(),
      ...(source.maxPayloadBytes === undefined ? {} : { maxPayloadBytes: source.maxPayloadBytes }),
    });
  }

  /** The channel or subject read. */
  get channel(): string {
    return this.#source.channel;
  }

  /** The id of the bridge believed active, or null. */
  get bridgeId(): string | null {
    return this.#tracker.bridge;
  }

  get dropped(): Readonly<Record<DropReason, number>> {
    return this.#tracker.dropped;
  }

  connect(signal: AbortSignal): Promise<C> {
    return this.#source.connect(signal);
  }

  async run(session: Session<C>, sink: FeedSink): Promise<never> {
    const clock = this.#clock;
    const { connection } = session;
    this.#log.info(`connected to ${this.#source.describe(connection)}`);
    this.#tracker.reset(clock.now(), this.#source.lossyAfterSubscribe === true);
    const subscribed = this.#source.subscribe(connection, (payload) =>
      this.#apply(this.#tracker.receive(payload, clock.now()), sink),
    );
    await session.wait(this.#source.subscribeCommand, subscribed);
    // Only now is the subscription active: a refetch after this Resync misses nothing the bridge sends later.
    session.live();
    this.#log.info(`listening on channel "${printable(this.channel)}"`);
    session.every(this.#statusIntervalMs, () => this.#source.ping(connection));
    // Notices silence, and reports drops that a quiet channel would otherwise leave unreported.
    session.every(this.#silenceCheckMs, () => this.#apply(this.#tracker.tick(clock.now()), sink));
    return await session.ended;
  }

  #apply(actions: readonly TrackerAction[], sink: FeedSink): void {
    for (const action of actions) {
      if (action.type === 'resync') sink.resync('bridge');
      else if (action.type === 'events') {
        for (const event of action.events) {
          sink.changeRow(event.table, event.key, event.count, event.firstSeenMs);
        }
      } else this.#log[action.level](`channel "${printable(this.channel)}": ${action.message}`);
    }
  }
}

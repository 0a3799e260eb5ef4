// A feed's observer (contract R32): it hears the supervisor's lifecycle events and the items the feed
// yields, keeps the stats (stats.ts), publishes each event on its diagnostics channel (diagnostics.ts) when
// someone subscribed, and logs the events a session body does not already log. One per feed.
import type { PgnudgeError } from '../errors.js';
import type { BoundLogger } from '../logger.js';
import type { Clock } from './clock.js';
import { feedChannels } from './diagnostics.js';
import type { Feed } from './feed.js';
import type { FeedItem } from './items.js';
import type { LinkEnd } from './link.js';
import { type FeedStats, StatsRecorder, type StreamPositions } from './stats.js';
import type { SessionObserver } from './supervisor.js';

/** What the monitor reads on demand. */
export interface MonitorSources {
  readonly feed: Feed;
  readonly clock: Clock;
  readonly log: BoundLogger;
  /** Every change fed to the engine so far. */
  changes(): number;
}

export class FeedMonitor implements SessionObserver<LinkEnd> {
  readonly #feed: Feed;
  readonly #clock: Clock;
  readonly #log: BoundLogger;
  readonly #changes: () => number;
  readonly #recorder: StatsRecorder;
  /** Bytes of the connections that ended; the open one's are read when a snapshot is taken. */
  #bytesBefore = 0;
  #connection: LinkEnd | null = null;
  #positions: (() => StreamPositions) | null = null;

  constructor(sources: MonitorSources) {
    this.#feed = sources.feed;
    this.#clock = sources.clock;
    this.#log = sources.log;
    this.#changes = sources.changes;
    this.#recorder = new StatsRecorder(sources.clock.now());
  }

  stats(): FeedStats {
    return this.#recorder.snapshot({
      changes: this.#changes(),
      bytesReceived: this.#bytesBefore + (this.#connection?.bytesReceived ?? 0),
      positions: this.#positions?.() ?? null,
    });
  }

  connecting(): void {
    this.#recorder.enter('connecting', this.#clock.now());
  }

  connected(connection: LinkEnd): void {
    this.#connection = connection;
    if (feedChannels.connect.hasSubscribers) {
      feedChannels.connect.publish({ feed: this.#feed, target: connection.target });
    }
  }

  ended(connection: LinkEnd, error: PgnudgeError | null): void {
    if (this.#connection === connection) {
      this.#bytesBefore += connection.bytesReceived;
      this.#connection = null;
    }
    if (error === null) return;
    this.#recorder.failed(error);
    if (feedChannels.disconnect.hasSubscribers) {
      feedChannels.disconnect.publish({ feed: this.#feed, error });
    }
  }

  backoff(error: PgnudgeError, delayMs: number, attempt: number): void {
    this.#recorder.failed(error);
    this.#recorder.backoff(this.#clock.now());
    // The supervisor has logged the failure and the delay at warn.
    if (feedChannels.backoff.hasSubscribers) {
      feedChannels.backoff.publish({ feed: this.#feed, error, delayMs, attempt });
    }
  }

  positions(read: () => StreamPositions): void {
    this.#positions = read;
  }

  /** A session is live (the body has logged where it streams from). */
  live(reconnect: boolean): void {
    this.#recorder.live(reconnect, this.#clock.now());
    if (feedChannels.live.hasSubscribers) feedChannels.live.publish({ feed: this.#feed, reconnect });
  }

  /** The feed yields `item`: called once per item, so per batch, never per row. */
  yielded(item: FeedItem): void {
    if (item.type === 'resync') {
      this.#recorder.resync(item.reason);
      this.#log.info(`yielded Resync('${item.reason}')`);
      if (feedChannels.resync.hasSubscribers) {
        feedChannels.resync.publish({ feed: this.#feed, reason: item.reason });
      }
      return;
    }
    this.#recorder.batch();
    if (this.#log.enabled('debug')) {
      let changes = 0;
      for (const event of item.events) changes += event.count;
      this.#log.debug(`yielded a Batch: ${item.events.length} events, ${changes} changes`);
    }
    if (feedChannels.batch.hasSubscribers) feedChannels.batch.publish({ feed: this.#feed, batch: item });
  }

  /** The feed ended: by close() or the signal (`fatal` null), or for good. */
  closed(fatal: PgnudgeError | null): void {
    if (this.#recorder.state === 'closed') return;
    if (fatal !== null) this.#recorder.failed(fatal);
    this.#recorder.enter('closed', this.#clock.now());
    this.#log.info(fatal === null ? 'closed' : `closed by a fatal error (${fatal.code})`);
    if (feedChannels.close.hasSubscribers) feedChannels.close.publish({ feed: this.#feed, error: fatal });
  }
}

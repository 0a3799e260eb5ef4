// The pure inside of an EventHub: one feed's items, encoded once, fanned out to many streams, each with a
// bounded queue of bytes. A stream that would exceed its bound is dropped, never waited for. No timers.
import type { FeedItem, ResyncReason } from '../feed/items.js';
import { Resync } from '../feed/items.js';
import { encodeItemEvent, encodeSseText, formatSseRetry, jitteredRetryMs, KEEP_ALIVE_TEXT } from './sse.js';

const KEEP_ALIVE = encodeSseText(KEEP_ALIVE_TEXT);
/** A stream's own first item when it joins a live feed: the client must reload everything (as contract R1). */
const JOINED = encodeItemEvent(new Resync('connected'));

/** Whether a subscriber's stream is still fed, and if not, why. */
export type SubscriberState = 'open' | 'ended' | 'dropped';

/** One stream's queue. `take()` hands out its frames in order; `onReadable` fires when one arrives. */
export class Subscriber {
  #frames: Uint8Array[] = [];
  #bytes = 0;
  /** Whether nothing was queued since the last keep-alive tick. */
  idle = true;
  state: SubscriberState = 'open';
  /** Called after frames were queued or the state changed; set by the shell. */
  onReadable: (() => void) | null = null;

  /** Bytes queued and not yet taken. */
  get bufferedBytes(): number {
    return this.#bytes;
  }

  /** The next frame, or undefined when the queue is empty. Frames are shared between streams: read-only. */
  take(): Uint8Array | undefined {
    const frame = this.#frames.shift();
    if (frame !== undefined) this.#bytes -= frame.byteLength;
    return frame;
  }

  /** Queues `frame` unless that would exceed `maxBytes`; a frame larger than the bound fits an empty queue. */
  push(frame: Uint8Array, maxBytes: number): boolean {
    if (this.#bytes > 0 && this.#bytes + frame.byteLength > maxBytes) return false;
    this.#frames.push(frame);
    this.#bytes += frame.byteLength;
    this.idle = false;
    return true;
  }

  /** Drops every queued frame (a dropped stream's memory goes at once). */
  clear(): void {
    this.#frames = [];
    this.#bytes = 0;
  }
}

/** What the hub has seen and done, as counters: the numbers /metrics reports. */
export interface HubCounters {
  /** Batches the feed yielded. */
  batches: number;
  /** Row changes in those batches (the sum of their events' counts). */
  changes: number;
  /** Resyncs the feed yielded, by reason (a stream's own opening Resync is not counted). */
  resyncs: Record<ResyncReason, number>;
  /** Streams open now. */
  clients: number;
  /** Streams ever opened. */
  clientsOpened: number;
  /** Streams cut off because their client read too slowly. */
  clientsDropped: number;
}

/** Options of a {@link HubCore}. */
export interface HubCoreOptions {
  /** A stream's queue bound in bytes. */
  maxBufferedBytes: number;
  /** The base of each stream's `retry:` field, or null for none. */
  retryMs: number | null;
  /** [0, 1), for the retry jitter. */
  random: () => number;
}

/**
 * Subscribers and the feed's items. `live` is true once the feed yielded a Resync, until it is known to
 * have lost its stream (`lost()`) or ended: only then may a joining stream be told to reload at once,
 * since only then will every later commit reach it (contract R1). A stream that joins while the feed is not live
 * gets the feed's own next Resync instead.
 */
export class HubCore {
  readonly #options: HubCoreOptions;
  readonly #subscribers = new Set<Subscriber>();
  #live = false;
  #ended = false;
  readonly counters: HubCounters = {
    batches: 0,
    changes: 0,
    resyncs: { connected: 0, reconnected: 0, overflow: 0, failsafe: 0, bridge: 0 },
    clients: 0,
    clientsOpened: 0,
    clientsDropped: 0,
  };

  constructor(options: HubCoreOptions) {
    this.#options = options;
  }

  /** Whether a Resync has gone out and the feed is not known to have lost its stream since. */
  get live(): boolean {
    return this.#live;
  }

  /** Whether the feed ended (closed or failed): no stream is fed any more. */
  get ended(): boolean {
    return this.#ended;
  }

  /** A new stream: its `retry:` field, then a Resync if the feed is live. After `end()`, an ended one. */
  join(): Subscriber {
    const subscriber = new Subscriber();
    if (this.#ended) {
      subscriber.state = 'ended';
      return subscriber;
    }
    const { retryMs, random, maxBufferedBytes } = this.#options;
    if (retryMs !== null) {
      subscriber.push(encodeSseText(formatSseRetry(jitteredRetryMs(retryMs, random))), maxBufferedBytes);
    }
    if (this.#live) subscriber.push(JOINED, maxBufferedBytes);
    this.#subscribers.add(subscriber);
    this.counters.clients += 1;
    this.counters.clientsOpened += 1;
    return subscriber;
  }

  /** The stream ended on the client's side; its queue goes. */
  leave(subscriber: Subscriber): void {
    if (!this.#subscribers.delete(subscriber)) return;
    this.counters.clients -= 1;
    subscriber.clear();
    if (subscriber.state === 'open') subscriber.state = 'ended';
  }

  /**
   * One item of the feed, encoded once and queued for every stream. Returns the streams dropped because
   * it did not fit their queue; they are out of the hub already, and the shell ends them with an error.
   */
  publish(item: FeedItem): Subscriber[] {
    if (this.#ended) return [];
    if (item.type === 'resync') {
      this.#live = true;
      this.counters.resyncs[item.reason] += 1;
    } else {
      this.counters.batches += 1;
      for (const event of item.events) this.counters.changes += event.count;
    }
    return this.#broadcast(encodeItemEvent(item));
  }

  /**
   * A keep-alive tick: a comment for every stream that was sent nothing since the previous tick. Returns
   * the streams dropped (only a client that has read nothing for a very long time fills up on comments).
   */
  keepAlive(): Subscriber[] {
    const dropped: Subscriber[] = [];
    for (const subscriber of this.#subscribers) {
      if (subscriber.idle) {
        if (!subscriber.push(KEEP_ALIVE, this.#options.maxBufferedBytes)) dropped.push(subscriber);
        else subscriber.onReadable?.();
      }
      subscriber.idle = true;
    }
    for (const subscriber of dropped) this.#drop(subscriber);
    return dropped;
  }

  /** The feed is known to have lost its stream: joining streams wait for its next Resync. */
  lost(): void {
    this.#live = false;
  }

  /** The feed ended: every stream ends once it has read what is queued. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#live = false;
    for (const subscriber of this.#subscribers) {
      subscriber.state = 'ended';
      subscriber.onReadable?.();
    }
    this.#subscribers.clear();
    this.counters.clients = 0;
  }

  #broadcast(frame: Uint8Array): Subscriber[] {
    const dropped: Subscriber[] = [];
    for (const subscriber of this.#subscribers) {
      if (subscriber.push(frame, this.#options.maxBufferedBytes)) subscriber.onReadable?.();
      else dropped.push(subscriber);
    }
    for (const subscriber of dropped) this.#drop(subscriber);
    return dropped;
  }

  #drop(subscriber: Subscriber): void {
    this.#subscribers.delete(subscriber);
    subscriber.clear();
    subscriber.state = 'dropped';
    this.counters.clients -= 1;
    this.counters.clientsDropped += 1;
  }
}

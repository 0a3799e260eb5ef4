// EventHub: one feed shared by many Server-Sent Events streams (many browsers, one walsender). The thin
// shell around HubCore: it pumps the feed, ticks the keep-alive and turns subscribers into web streams.
import { ConfigError, SlowConsumerError } from '../errors.js';
import { bindLogger, type Logger } from '../logger.js';
import { sseChannels } from './diagnostics.js';
import { HubCore, type HubCounters, type Subscriber } from './hub-core.js';
import {
  type ClosableFeed,
  type EventStreamTimingOptions,
  refuseUnknownOptions,
  resolveTiming,
} from './options.js';

/** Options of an {@link EventHub}. */
export interface EventHubOptions extends EventStreamTimingOptions {
  /**
   * How many bytes may wait for one stream's client before the stream is cut off with a
   * SlowConsumerError (the browser reconnects and resyncs). Default 262144 (256 KiB).
   */
  maxBufferedBytes?: number;
  /** Streams cut off for slowness are logged at warn, the feed's end (or failure) at info; silent by default. */
  logger?: Logger;
}

/** Options of {@link EventHub.subscribe}. */
export interface SubscribeOptions {
  /** Ends the stream, e.g. the request's signal, so that a client that went away frees its queue at once. */
  signal?: AbortSignal;
}

const OPTION_NAMES = ['keepAlive', 'retry', 'maxBufferedBytes', 'logger'];

/**
 * One feed fanned out to any number of event streams. The hub starts reading the feed when it is
 * constructed (a WalFeed connects then) and reads it as fast as it yields,
 * encodes each item once, and queues the bytes for every stream; each stream's queue is bounded by
 * `maxBufferedBytes`, and a stream whose client reads too slowly is ended with a SlowConsumerError
 * instead of slowing the others or growing memory. Every stream opens with a `retry:` field and, once the
 * feed is live, a `Resync('connected')` of its own (a stream that joins before that gets the feed's first
 * Resync), so a browser reloads on every (re)connect and misses no commit after it.
 */
export class EventHub implements AsyncDisposable {
  readonly #feed: ClosableFeed;
  readonly #core: HubCore;
  readonly #log: ReturnType<typeof bindLogger>;
  readonly #maxBufferedBytes: number;
  readonly #controllers = new Map<Subscriber, ReadableStreamDefaultController<Uint8Array>>();
  /** Each stream's subscription signal listener, removed however the stream ends (a signal may outlive it). */
  readonly #detach = new Map<Subscriber, () => void>();
  #timer: ReturnType<typeof setInterval> | null = null;
  #error: unknown = undefined;
  #closing: Promise<void> | null = null;
  /** Settles when the feed ends: fulfilled after `close()`, rejected with the feed's fatal error. */
  readonly done: Promise<void>;

  constructor(feed: ClosableFeed, options: EventHubOptions = {}) {
    refuseUnknownOptions(options, OPTION_NAMES, 'EventHub');
    const { keepAliveMs, retryMs } = resolveTiming(options);
    this.#maxBufferedBytes = byteBound(options.maxBufferedBytes);
    this.#feed = feed;
    this.#log = bindLogger(options.logger);
    this.#core = new HubCore({ maxBufferedBytes: this.#maxBufferedBytes, retryMs, random: Math.random });
    if (keepAliveMs !== null) {
      this.#timer = setInterval(() => this.#endDropped(this.#core.keepAlive()), keepAliveMs);
      // The feed keeps the process alive while it runs; the keep-alive alone must not.
      this.#timer.unref();
    }
    this.done = this.#pump();
    // `done` is for whoever awaits it; an unawaited failure is reported through the streams and the log.
    this.done.catch(() => {});
  }

  /**
   * Whether the feed is live: it yielded a Resync, has not ended, and, for a feed with `stats()` (every
   * pgnudge feed), its state is `streaming`. `GET /healthz` of `pgnudge serve` answers 200 exactly when
   * this is true.
   */
  get live(): boolean {
    this.#pollState();
    return this.#core.live;
  }

  /** The hub's counters: items, changes, resyncs by reason, streams open, opened and cut off. */
  counters(): HubCounters {
    const { counters } = this.#core;
    return { ...counters, resyncs: { ...counters.resyncs } };
  }

  /**
   * A new event stream of the feed, to send with {@link EVENT_STREAM_HEADERS}. It ends when the client
   * cancels it (the response closed) or the `signal` aborts, when the hub closes, with SlowConsumerError
   * when its client falls `maxBufferedBytes` behind, and with the feed's error if the feed fails.
   */
  subscribe(options: SubscribeOptions = {}): ReadableStream<Uint8Array> {
    refuseUnknownOptions(options, ['signal'], 'EventHub.subscribe');
    // So that a stream joining during an outage is not told to reload from a feed that is not live.
    this.#pollState();
    const subscriber = this.#core.join();
    if (sseChannels.open.hasSubscribers) {
      sseChannels.open.publish({ hub: this, clients: this.#core.counters.clients });
    }
    const { signal } = options;
    const onAbort = () => {
      const controller = this.#controllers.get(subscriber);
      this.#release(subscriber);
      controller?.error(signal?.reason);
    };
    return new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controllers.set(subscriber, controller);
          if (signal?.aborted) onAbort();
          else if (signal) {
            signal.addEventListener('abort', onAbort, { once: true });
            this.#detach.set(subscriber, () => signal.removeEventListener('abort', onAbort));
          }
        },
        pull: (controller) =>
          new Promise<void>((resolve) => {
            const serve = () => {
              const frame = subscriber.take();
              if (frame !== undefined) {
                subscriber.onReadable = null;
                controller.enqueue(frame);
                resolve();
              } else if (subscriber.state !== 'open') {
                subscriber.onReadable = null;
                // A dropped stream was errored when it was dropped; an ended one closes after its queue.
                if (subscriber.state === 'ended') this.#finish(subscriber, controller);
                resolve();
              } else {
                subscriber.onReadable = serve;
              }
            };
            serve();
          }),
        cancel: () => this.#release(subscriber),
      },
      // Frames wait in the subscriber's bounded queue, not in the stream's: nothing is read ahead.
      { highWaterMark: 0 },
    );
  }

  /** Ends the feed and every stream (each after what is queued for it). Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#timer !== null) clearInterval(this.#timer);
      await this.#feed.close();
      await this.done.catch(() => {});
    })();
    return this.#closing;
  }

  /** The same as `close()`, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #pump(): Promise<void> {
    try {
      for await (const item of this.#feed) this.#endDropped(this.#core.publish(item));
      this.#log.info('the feed ended; ending every event stream');
    } catch (error) {
      this.#error = error;
      // At info: the error itself reaches whoever awaits `done` and every stream; logging it louder here
      // would print it twice (pgnudge serve reports it as its exit reason).
      this.#log.info('the feed failed; ending every event stream with its error');
      throw error;
    } finally {
      if (this.#timer !== null) clearInterval(this.#timer);
      this.#core.end();
      if (this.#error !== undefined) {
        for (const [subscriber, controller] of this.#controllers) this.#finish(subscriber, controller);
      }
    }
  }

  /** Ends streams the core dropped for slowness, at once: their client is not reading, so it cannot wait. */
  #endDropped(dropped: readonly Subscriber[]): void {
    for (const subscriber of dropped) {
      const controller = this.#controllers.get(subscriber);
      this.#forget(subscriber, 'drop');
      this.#log.warn(
        `an event stream's client fell more than ${this.#maxBufferedBytes} bytes behind; cut it off (it resyncs when it reconnects)`,
      );
      controller?.error(new SlowConsumerError(this.#maxBufferedBytes));
      subscriber.onReadable?.();
    }
  }

  /** Closes an ended stream, or errors it with the feed's fatal error. */
  #finish(subscriber: Subscriber, controller: ReadableStreamDefaultController<Uint8Array>): void {
    if (!this.#forget(subscriber)) return;
    subscriber.onReadable = null;
    if (this.#error !== undefined) controller.error(this.#error);
    else controller.close();
  }

  /** A feed whose state says it lost its stream is not live until its next Resync. */
  #pollState(): void {
    if (this.#core.live && this.#feed.stats !== undefined && this.#feed.stats().state !== 'streaming') {
      this.#core.lost();
    }
  }

  #release(subscriber: Subscriber): void {
    // Left first, so that the close message counts the streams still open.
    this.#core.leave(subscriber);
    this.#forget(subscriber);
  }

  /**
   * Drops the shell's hold on a stream, which ended in order (`close`) or was cut off (`drop`), and says so
   * on its channel; false if it had no hold (the stream had already ended).
   */
  #forget(subscriber: Subscriber, end: 'close' | 'drop' = 'close'): boolean {
    this.#detach.get(subscriber)?.();
    this.#detach.delete(subscriber);
    if (!this.#controllers.delete(subscriber)) return false;
    const channel = sseChannels[end];
    if (channel.hasSubscribers) {
      const clients = this.#core.counters.clients;
      channel.publish(
        end === 'drop'
          ? { hub: this, clients, maxBufferedBytes: this.#maxBufferedBytes }
          : { hub: this, clients },
      );
    }
    return true;
  }
}

/** maxBufferedBytes: a whole number of bytes, at least 1 KiB (a smaller bound would drop healthy clients). */
function byteBound(value: unknown): number {
  if (value === undefined) return 262_144;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1024) {
    throw new ConfigError(
      `maxBufferedBytes must be a whole number of bytes, at least 1024; got ${typeof value === 'number' ? value : typeof value}`,
      'maxBufferedBytes',
    );
  }
  return value;
}

// One feed as a web ReadableStream of Server-Sent Events, for any HTTP framework that takes a web
// Response body (Hono, Next.js route handlers, Fastify and Express through Readable.fromWeb).
import type { FeedItem } from '../feed/items.js';
import {
  type ClosableFeed,
  type EventStreamTimingOptions,
  refuseUnknownOptions,
  resolveTiming,
} from './options.js';
import { encodeItemEvent, encodeSseText, formatSseRetry, jitteredRetryMs, KEEP_ALIVE_TEXT } from './sse.js';

/** Options of {@link toEventStream}. */
export interface EventStreamOptions extends EventStreamTimingOptions {
  /**
   * Whether ending the stream (the client went away, `cancel()`, the `signal`) closes the feed. Default
   * true: the stream owns the feed, so nothing outlives the response. With false, only this stream's
   * iteration ends (`return()` on its iterator).
   */
  closeFeed?: boolean;
  /** Ends the stream (with the signal's reason as its error) and, if it owns it, the feed. */
  signal?: AbortSignal;
}

const OPTION_NAMES = ['keepAlive', 'retry', 'closeFeed', 'signal'];
const KEEP_ALIVE = encodeSseText(KEEP_ALIVE_TEXT);

/**
 * The feed as `text/event-stream` bytes: a `retry:` field, then one `event: resync` or `event: batch` per
 * item whose `data:` is the item's `--json` line, and a `: keep-alive` comment while idle. Pull-based: the
 * feed is asked for its next item only when the reader wants more bytes, so a slow client slows only its
 * own feed, whose pending batch merges new changes (bounded, contract R6). Send it with
 * {@link EVENT_STREAM_HEADERS}. For many clients of one feed, use an {@link EventHub}.
 */
export function toEventStream(
  feed: ClosableFeed,
  options: EventStreamOptions = {},
): ReadableStream<Uint8Array> {
  refuseUnknownOptions(options, OPTION_NAMES, 'toEventStream');
  const { keepAliveMs, retryMs } = resolveTiming(options);
  const ownsFeed = options.closeFeed ?? true;
  const signal = options.signal;
  let iterator: AsyncIterator<FeedItem> | null = null;
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let timer: ReturnType<typeof setInterval> | null = null;
  let sentSinceTick = false;
  let ending: Promise<void> | null = null;

  // Idempotent: the client leaving, the signal and the feed's own end all come here, in any order.
  const end = (): Promise<void> => {
    if (ending) return ending;
    if (timer !== null) clearInterval(timer);
    signal?.removeEventListener('abort', onAbort);
    ending = (async () => {
      if (ownsFeed) await feed.close();
      else await iterator?.return?.();
    })();
    return ending;
  };
  const onAbort = () => {
    if (ending) return;
    controller.error(signal?.reason);
    void end();
  };

  return new ReadableStream<Uint8Array>(
    {
      start(c) {
        controller = c;
        if (retryMs !== null) c.enqueue(encodeSseText(formatSseRetry(jitteredRetryMs(retryMs, Math.random))));
        if (keepAliveMs !== null) {
          timer = setInterval(() => {
            // Only into an empty queue: a client that stopped reading never piles up comments.
            if (!sentSinceTick && (c.desiredSize ?? 0) >= 0) c.enqueue(KEEP_ALIVE);
            sentSinceTick = false;
          }, keepAliveMs);
          // An open response keeps the process alive by itself; an abandoned stream must not.
          timer.unref();
        }
        if (signal?.aborted) onAbort();
        else signal?.addEventListener('abort', onAbort, { once: true });
      },
      async pull(c) {
        let result: IteratorResult<FeedItem>;
        try {
          iterator ??= feed[Symbol.asyncIterator]();
          result = await iterator.next();
        } catch (error) {
          if (ending) return;
          await end();
          c.error(error);
          return;
        }
        if (ending) return;
        if (result.done) {
          await end();
          c.close();
          return;
        }
        sentSinceTick = true;
        c.enqueue(encodeItemEvent(result.value));
      },
      cancel() {
        return end();
      },
    },
    // Nothing is read ahead: the next item is pulled only when the reader asks.
    { highWaterMark: 0 },
  );
}

// The node:diagnostics_channel channels of every feed (contract R32), and the shape of each message. A
// channel costs nothing without subscribers: the feed checks `hasSubscribers` before it builds a message.
// docs/observability.md lists them; the event hub's `pgnudge:sse:*` channels live in src/http/.
import { channel } from 'node:diagnostics_channel';
import type { PgnudgeError } from '../errors.js';
import type { Feed } from './feed.js';
import type { Batch, ResyncReason } from './items.js';

/** The channel names, by event. Subscribe with `diagnostics_channel.subscribe('pgnudge:batch', fn)`. */
export const FEED_CHANNEL_NAMES = {
  connect: 'pgnudge:connect',
  live: 'pgnudge:live',
  disconnect: 'pgnudge:disconnect',
  backoff: 'pgnudge:backoff',
  resync: 'pgnudge:resync',
  batch: 'pgnudge:batch',
  close: 'pgnudge:close',
} as const;

/** `pgnudge:connect`: a connection opened (authenticated); the feed sets up its stream on it next. */
export interface FeedConnectMessage {
  readonly feed: Feed;
  /** Where it connected, without the password. */
  readonly target: string;
}

/** `pgnudge:live`: the session is live; its Resync is queued (contract R1). */
export interface FeedLiveMessage {
  readonly feed: Feed;
  /** Whether an earlier session had been live (the Resync is `reconnected`). */
  readonly reconnect: boolean;
}

/** `pgnudge:disconnect`: an open connection ended with `error` (not published for close()). */
export interface FeedDisconnectMessage {
  readonly feed: Feed;
  readonly error: PgnudgeError;
}

/** `pgnudge:backoff`: `error` ended an attempt or a session; the next attempt starts in `delayMs`. */
export interface FeedBackoffMessage {
  readonly feed: Feed;
  readonly error: PgnudgeError;
  /** The jittered delay before the next attempt, in milliseconds. */
  readonly delayMs: number;
  /** Failures in a row, this one included (1 after a live session ended). */
  readonly attempt: number;
}

/** `pgnudge:resync`: a Resync was yielded to the consumer. */
export interface FeedResyncMessage {
  readonly feed: Feed;
  readonly reason: ResyncReason;
}

/** `pgnudge:batch`: a Batch was yielded to the consumer. */
export interface FeedBatchMessage {
  readonly feed: Feed;
  readonly batch: Batch;
}

/** `pgnudge:close`: the feed ended, by close() or the signal (`error` null) or for good (contract R11). */
export interface FeedCloseMessage {
  readonly feed: Feed;
  readonly error: PgnudgeError | null;
}

/** The channels themselves, created once: `channel()` returns the same object for a name. */
export const feedChannels = {
  connect: channel(FEED_CHANNEL_NAMES.connect),
  live: channel(FEED_CHANNEL_NAMES.live),
  disconnect: channel(FEED_CHANNEL_NAMES.disconnect),
  backoff: channel(FEED_CHANNEL_NAMES.backoff),
  resync: channel(FEED_CHANNEL_NAMES.resync),
  batch: channel(FEED_CHANNEL_NAMES.batch),
  close: channel(FEED_CHANNEL_NAMES.close),
};

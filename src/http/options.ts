// Options shared by the event streams (toEventStream, EventHub): validated once, with the names users type.
import { ConfigError } from '../errors.js';
import type { FeedItem } from '../feed/items.js';
import type { FeedStats } from '../feed/stats.js';

/** A feed an event stream can read and end: WalFeed, NotifyFeed, or anything with the same two members. */
export interface ClosableFeed extends AsyncIterable<FeedItem> {
  /** Ends the feed and releases what it holds (socket, timers). */
  close(): unknown;
  /**
   * The feed's stats, as every pgnudge feed has them (contract R32). Optional: an EventHub uses the state to
   * tell whether the feed holds its stream right now, and `pgnudge serve` builds /metrics from them.
   */
  stats?(): FeedStats;
}

/** Options every event stream takes. Durations are milliseconds. */
export interface EventStreamTimingOptions {
  /**
   * A `: keep-alive` comment goes out on a stream that sent nothing for this long, so proxies and load
   * balancers do not close it as idle (many do after 60 s). Default 15000; `null` disables.
   */
  keepAlive?: number | null;
  /**
   * The reconnect delay the stream asks the browser for (`retry:`), jittered per stream by ×[0.5, 1.5) so
   * that browsers cut off together come back spread out. Default 2000; `null` sends no `retry:` field.
   */
  retry?: number | null;
}

/** The resolved timing: every value checked. */
export interface ResolvedTiming {
  keepAliveMs: number | null;
  retryMs: number | null;
}

const MAX_MS = 2 ** 31 - 1;

/** Checks a duration option: a whole number of milliseconds in setTimeout's range, `null` for off. */
export function durationOption(
  name: string,
  value: unknown,
  fallback: number | null,
  min: number,
): number | null {
  if (value === undefined) return fallback;
  if (value === null) return null;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > MAX_MS) {
    throw new ConfigError(
      `${name} must be a whole number of milliseconds from ${min} to ${MAX_MS}, or null for off; got ${typeof value === 'number' ? value : typeof value}`,
      name,
    );
  }
  return value;
}

/** Throws a ConfigError for an option name `owner` does not take (a typo would otherwise be ignored). */
export function refuseUnknownOptions(options: object, accepted: readonly string[], owner: string): void {
  for (const [key, value] of Object.entries(options)) {
    if (value !== undefined && !accepted.includes(key)) {
      throw new ConfigError(
        `${owner} has no option ${JSON.stringify(key)}; it takes ${accepted.join(', ')}`,
        key,
      );
    }
  }
}

/** Resolves keepAlive and retry, with their defaults. */
export function resolveTiming(options: EventStreamTimingOptions): ResolvedTiming {
  return {
    keepAliveMs: durationOption('keepAlive', options.keepAlive, 15_000, 1),
    retryMs: durationOption('retry', options.retry, 2_000, 0),
  };
}

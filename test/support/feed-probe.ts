// Drives a feed in the background and lets a test wait, with a deadline, for the items it expects; opens
// the WalFeed or RawFeed a live test uses.
import type { FeedItem } from '../../src/feed/items.js';
import { RawFeed, type RawFeedOptions, WalFeed, type WalFeedOptions } from '../../src/index.js';
import { type ClusterInfo, type Role, runSql } from './cluster.js';
import { LogCapture } from './log-capture.js';
import { waitFor } from './wait.js';

/** Connection options for a feed on `info` as `role`, over verified TLS unless the server is external. */
export function feedConnection(
  info: ClusterInfo,
  database: string,
  role: Role = info.roles.replication,
): WalFeedOptions {
  const options: WalFeedOptions = {
    host: info.host,
    port: info.port,
    user: role.user,
    password: role.password,
    database,
    sslmode: info.caFile ? 'verify-full' : 'prefer',
  };
  if (info.caFile) options.sslrootcert = info.caFile;
  return options;
}

/**
 * A WalFeed for one test with a short debounce and quick retries (both overridable in `options`), driven
 * by a FeedProbe, its log captured; closed when the test ends.
 */
export function openFeed(t: { after(fn: () => unknown): void }, options: WalFeedOptions) {
  const log = new LogCapture();
  const feed = new WalFeed({
    debounce: 5,
    backoff: { initial: 50, maximum: 500 },
    logger: log.logger,
    ...options,
  });
  const probe = new FeedProbe(feed);
  t.after(() => feed.close());
  return { feed, probe, log };
}

/** The same for a RawFeed (physical WAL, no slot). */
export function openRawFeed(t: { after(fn: () => unknown): void }, options: RawFeedOptions) {
  const log = new LogCapture();
  const feed = new RawFeed({
    debounce: 5,
    backoff: { initial: 50, maximum: 500 },
    logger: log.logger,
    ...options,
  });
  const probe = new FeedProbe(feed);
  t.after(() => feed.close());
  return { feed, probe, log };
}

/** Collects every item a feed yields; `error` holds what ended the iteration, if anything. */
export class FeedProbe {
  readonly items: FeedItem[] = [];
  error: unknown = undefined;
  done = false;
  readonly finished: Promise<void>;

  constructor(feed: AsyncIterable<FeedItem>) {
    this.finished = (async () => {
      try {
        for await (const item of feed) this.items.push(item);
      } catch (error) {
        this.error = error;
      } finally {
        this.done = true;
      }
    })();
  }

  /** Index to pass to later waits, so they only look at items that arrive after this point. */
  mark(): number {
    return this.items.length;
  }

  /** Index just after `item`, for waits that look only at what came later. */
  after(item: FeedItem): number {
    const index = this.items.indexOf(item);
    if (index < 0) throw new Error(`the item ${JSON.stringify(item)} is not in the probe`);
    return index + 1;
  }

  /** Waits for an item matching `predicate` at or after index `from`; returns it. */
  async next<T extends FeedItem>(
    predicate: (item: FeedItem) => item is T,
    options: { from?: number; timeoutMs?: number; what: string },
  ): Promise<T> {
    return waitFor(
      () => {
        if (this.error) throw this.error;
        return this.items.slice(options.from ?? 0).find(predicate);
      },
      {
        timeoutMs: options.timeoutMs ?? 15_000,
        what: () => `${options.what} (${this.summary(options.from)})`,
      },
    );
  }

  /** Waits for a Resync with `reason` at or after `from`. */
  resync(reason: string, from = 0, timeoutMs = 15_000) {
    return this.next(
      (item): item is Extract<FeedItem, { type: 'resync' }> =>
        item.type === 'resync' && item.reason === reason,
      {
        from,
        timeoutMs,
        what: `Resync('${reason}')`,
      },
    );
  }

  /** Sum of event counts for `payload` in batches at or after `from`. */
  count(payload: string, from = 0): number {
    let total = 0;
    for (const item of this.items.slice(from)) {
      if (item.type !== 'batch') continue;
      for (const event of item.events) if (event.payload === payload) total += event.count;
    }
    return total;
  }

  /** Waits until the counts for `payload` since `from` reach `expected`. */
  async counted(payload: string, expected: number, from = 0, timeoutMs = 15_000): Promise<void> {
    await waitFor(
      () => {
        if (this.error) throw this.error;
        return this.count(payload, from) >= expected;
      },
      {
        timeoutMs,
        what: () =>
          `${expected} changes to ${payload} (have ${this.count(payload, from)}; ${this.summary(from)})`,
      },
    );
  }

  /** What arrived at or after `from`, for a failed wait's message: resyncs by reason, then counts by payload. */
  summary(from = 0): string {
    const resyncs = this.items.slice(from).flatMap((item) => (item.type === 'resync' ? [item.reason] : []));
    const counts = this.payloads(from).map((payload) => `${payload} ×${this.count(payload, from)}`);
    const state = this.done ? `; the feed ended${this.error ? `: ${String(this.error)}` : ''}` : '';
    return `resyncs [${resyncs.join(', ')}], batches [${counts.join(', ')}]${state}`;
  }

  /** Payloads named by batches at or after `from`, in order of arrival, deduplicated. */
  payloads(from = 0): string[] {
    const seen = new Set<string>();
    for (const item of this.items.slice(from)) {
      if (item.type === 'batch') for (const event of item.events) seen.add(event.payload);
    }
    return [...seen];
  }
}

/** Replication slots on the server for `database` (each test has its own scratch database). */
export async function slotsIn(info: ClusterInfo, database: string): Promise<string[]> {
  const rows = await runSql<{ slot_name: string }>(
    info,
    `SELECT slot_name FROM pg_replication_slots WHERE database = '${database.replaceAll("'", "''")}'`,
  );
  return rows.map((row) => row.slot_name);
}

// `watch -v` and `listen -v` (contract R32): while changes arrive and nothing is printed (a large transaction
// draining into a batch that has not closed yet, a stdout that does not keep up), one status line every
// PROGRESS_INTERVAL_MS on stderr at info, so a terminal shows progress instead of silence. Idle: nothing.
import type { FeedStats } from '../feed/stats.js';
import type { BoundLogger } from '../logger.js';

/** How often the status is considered. */
export const PROGRESS_INTERVAL_MS = 2000;

const INTEGER = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** What the status reads of a feed's stats. */
export type ProgressStats = Pick<FeedStats, 'changes' | 'bytesReceived'>;

/** Decides, tick by tick, whether a status line is due, and writes it. Pure: stats and times come in. */
export class DrainProgress {
  #tickChanges: number;
  #tickMs: number;
  #itemChanges: number;
  #printedSinceTick = false;

  constructor(stats: ProgressStats, nowMs: number) {
    this.#tickChanges = stats.changes;
    this.#tickMs = nowMs;
    this.#itemChanges = stats.changes;
  }

  /** An item was printed: the next tick stays silent, and "since the last item" counts from here. */
  printed(stats: ProgressStats): void {
    this.#itemChanges = stats.changes;
    this.#printedSinceTick = true;
  }

  /** The status line for this tick, or null when changes did not grow or an item was printed since the last. */
  tick(stats: ProgressStats, nowMs: number): string | null {
    const grown = stats.changes - this.#tickChanges;
    const elapsedMs = nowMs - this.#tickMs;
    const printed = this.#printedSinceTick;
    this.#tickChanges = stats.changes;
    this.#tickMs = nowMs;
    this.#printedSinceTick = false;
    if (grown <= 0 || printed || elapsedMs <= 0) return null;
    const pending = stats.changes - this.#itemChanges;
    return `receiving: ${INTEGER.format(pending)} changes since the last item printed, ${INTEGER.format((grown * 1000) / elapsedMs)} per second; ${(stats.bytesReceived / 1e6).toFixed(1)} MB received in all`;
  }
}

/**
 * Starts the status for `feed` on `log` (info); returns what `printed` to call per item and `stop`. The
 * timer is unref'd: it never keeps the process alive on its own.
 */
export function startProgress(
  feed: { stats(): FeedStats },
  log: BoundLogger,
  now: () => number = Date.now,
): { printed(): void; stop(): void } {
  const progress = new DrainProgress(feed.stats(), now());
  const timer = setInterval(() => {
    const line = progress.tick(feed.stats(), now());
    if (line !== null) log.info(line);
  }, PROGRESS_INTERVAL_MS);
  timer.unref();
  return {
    printed: () => progress.printed(feed.stats()),
    stop: () => clearInterval(timer),
  };
}

// `watch -v` and `listen -v` (contract R32): a status line on stderr at info, at most every
// PROGRESS_INTERVAL_MS, when nothing was printed meanwhile but something moved, so a terminal shows progress
// instead of silence through a large transaction. Two silences need it: the server decoding the
// transaction before it sends a row (only its WAL position moves, in the keepalives), and the rows arriving
// into a batch that does not close yet (a long debounce, a stdout that lags). Idle: nothing.
import type { FeedStats } from '../feed/stats.js';
import type { BoundLogger } from '../logger.js';
import { parseLsn } from '../protocol/lsn.js';

/** How often the status is considered. */
export const PROGRESS_INTERVAL_MS = 2000;
/**
 * WAL the server must have moved past, with no change for the feed, before a line says so: one default WAL
 * segment, so that a server busy with other tables or databases adds a line at most per 16 MiB.
 */
export const PROGRESS_WAL_BYTES = 16 * 1024 * 1024;

const INTEGER = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** What the status reads of a feed's stats. */
export type ProgressStats = Pick<FeedStats, 'changes' | 'bytesReceived' | 'walEnd'>;

/**
 * Decides, tick by tick, whether a status line is due, and writes it. Never in a tick in which an item
 * was printed; else when changes arrived since the last item or line, or, with none, when the server's WAL
 * end moved PROGRESS_WAL_BYTES past where it was then. Pure: stats and times come in.
 */
export class DrainProgress {
  /** Changes and time at the last item or line printed: what the next line reports beyond. */
  #reportedChanges: number;
  #reportedMs: number;
  #itemChanges: number;
  /** The WAL end at the last item or line (or when first known), and when. */
  #reportedWal: bigint | null;
  #reportedWalMs: number;
  #printedSinceTick = false;

  constructor(stats: ProgressStats, nowMs: number) {
    this.#reportedChanges = stats.changes;
    this.#reportedMs = nowMs;
    this.#itemChanges = stats.changes;
    this.#reportedWal = walOf(stats);
    this.#reportedWalMs = nowMs;
  }

  /** An item was printed: the tick in progress stays silent, and counts start over from here. */
  printed(stats: ProgressStats, nowMs: number): void {
    this.#itemChanges = stats.changes;
    this.#printedSinceTick = true;
    this.#reported(stats, nowMs);
  }

  /** The status line for this tick, or null. */
  tick(stats: ProgressStats, nowMs: number): string | null {
    const printed = this.#printedSinceTick;
    this.#printedSinceTick = false;
    const wal = walOf(stats);
    if (this.#reportedWal === null && wal !== null) {
      this.#reportedWal = wal;
      this.#reportedWalMs = nowMs;
    }
    if (printed) return null;
    const fresh = stats.changes - this.#reportedChanges;
    const elapsedMs = nowMs - this.#reportedMs;
    if (fresh > 0 && elapsedMs > 0) {
      this.#reported(stats, nowMs);
      return `receiving: ${INTEGER.format(stats.changes - this.#itemChanges)} changes since the last item printed, ${INTEGER.format((fresh * 1000) / elapsedMs)} per second; ${megabytes(stats.bytesReceived)} received in all`;
    }
    const walMs = nowMs - this.#reportedWalMs;
    if (wal === null || this.#reportedWal === null || walMs <= 0) return null;
    const moved = Number(wal - this.#reportedWal);
    if (moved < PROGRESS_WAL_BYTES) return null;
    this.#reported(stats, nowMs);
    return `waiting: the server's stream is at WAL ${stats.walEnd}, ${megabytes(moved)} further (${megabytes((moved * 1000) / walMs)} per second), no change since the last item printed`;
  }

  #reported(stats: ProgressStats, nowMs: number): void {
    this.#reportedChanges = stats.changes;
    this.#reportedMs = nowMs;
    this.#reportedWal = walOf(stats);
    this.#reportedWalMs = nowMs;
  }
}

function walOf(stats: ProgressStats): bigint | null {
  return stats.walEnd === null ? null : parseLsn(stats.walEnd);
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
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
    printed: () => progress.printed(feed.stats(), now()),
    stop: () => clearInterval(timer),
  };
}

// When to stop reading a busy replication stream for a moment (contract R8 bounds how long). A walsender
// that the client keeps up with sends each change as it is decoded, so a busy stream reaches the client
// as a read per change: a wake-up, a TLS record, a stream chunk and a frame each, on both sides. Pausing
// reads for a couple of milliseconds while the stream is busy lets the changes pile up in the kernel, so
// the next read carries many of them (and the walsender, measured, spends less too). A stream that is
// not busy is never paused: a lone commit is read at once.
// Pure: paced-reads.ts reports each wake-up's times and bytes and does the pausing.

/** How a {@link ReadPacer} tells a busy stream; durations in milliseconds. */
export interface ReadPacing {
  /** How long reading stops once the stream is busy: the most any change waits for it. 0: never. */
  readonly pauseMs: number;
  /** A wake-up that starts within this of the previous one's end continues a busy run. */
  readonly busyGapMs?: number;
  /** Consecutive wake-ups in a busy run before reading pauses. */
  readonly busyWakes?: number;
  /** The least rate, in bytes per millisecond, at which a busy run's bytes must come to pause. */
  readonly busyBytesPerMs?: number;
}

/** How a busy stream is told, without the pause: what a test that needs a pause of a fake stream widens. */
export type BusyRule = Omit<ReadPacing, 'pauseMs'>;

/** Defaults measured on the 1M-row drain (docs/benchmarks.md, "Paced reads"). */
export const BUSY_GAP_MS = 0.25;
export const BUSY_WAKES = 8;

/**
 * What a pause must gather for another to follow it: a dozen changes or so. A pause that gathers one
 * commit saves a wake-up or two and delays that commit by the whole pause. That is what an application
 * that writes after each wakeup (commit, wait to hear of it, commit again) sends: its next commit
 * arrives during the pause, and pausing again on it held every commit of the loop for a whole pause
 * (measured: 2.4 ms each instead of 0.25).
 */
export const PAUSE_WORTH_BYTES = 2048;

/**
 * How fast a run's bytes must come for it to pause: 2 KiB per millisecond, a pause's worth in half a
 * pause. Such a loop's wake-ups come within the busy gap, but slowly: a warm one of wal2json commits
 * brings 1–1.5 KiB per millisecond here, a drain 7–12 (docs/benchmarks.md, "A loop that commits after
 * each wakeup"). Half a pause rather than a whole one keeps the loops of a faster machine below it.
 */
export const BUSY_BYTES_PER_MS = 2048;

/**
 * The most bytes one wake-up reads before the event loop gets a turn (the connection stops reading
 * until the next one), so a backlog never holds the application's timers and I/O for long: about 128
 * KiB of changes take a few milliseconds to decode. A wake-up that reaches it found a backlog, where
 * pausing would only idle a client that is behind, so it also ends a busy run.
 */
export const WAKE_BUDGET_BYTES = 128 * 1024;

/**
 * Decides, at the end of each wake-up (the reads one turn of the event loop delivered), whether to stop
 * reading, and for how long. Reading pauses after `busyWakes` wake-ups each of which began within
 * `busyGapMs` of the previous one's end, if their bytes came at BUSY_BYTES_PER_MS or faster; and
 * again right after a pause whose first wake-up found PAUSE_WORTH_BYTES waiting at once, since the
 * stream went on meanwhile.
 */
export class ReadPacer {
  readonly #pauseMs: number;
  readonly #busyGapMs: number;
  readonly #busyWakes: number;
  readonly #busyBytesPerMs: number;
  /** The busy run: its wake-ups, their bytes, and when it began (the end of the wake-up before it). */
  #run = 0;
  #runBytes = 0;
  #runFrom = 0;
  #lastEnd = Number.NEGATIVE_INFINITY;
  /** When the last pause ended, until the wake-up after it has been judged. */
  #resumedAt: number | null = null;

  constructor(pacing: ReadPacing) {
    this.#pauseMs = pacing.pauseMs;
    this.#busyGapMs = pacing.busyGapMs ?? BUSY_GAP_MS;
    this.#busyWakes = pacing.busyWakes ?? BUSY_WAKES;
    this.#busyBytesPerMs = pacing.busyBytesPerMs ?? BUSY_BYTES_PER_MS;
  }

  /**
   * A wake-up that began at `startMs`, ended at `endMs` and brought `bytes`: returns how long to stop
   * reading now, or 0 to read on.
   */
  wake(startMs: number, endMs: number, bytes: number): number {
    const resumedAt = this.#resumedAt;
    this.#resumedAt = null;
    const gap = startMs - (resumedAt ?? this.#lastEnd);
    this.#lastEnd = endMs;
    if (this.#pauseMs <= 0) return 0;
    if (bytes >= WAKE_BUDGET_BYTES || gap > this.#busyGapMs) return this.#startRun(endMs);
    if (resumedAt !== null) {
      // Data was waiting when the pause ended. Enough of it means the stream went on meanwhile;
      // less is one arrival, which the pause only delayed.
      return bytes >= PAUSE_WORTH_BYTES ? this.#pause(endMs) : this.#startRun(endMs);
    }
    this.#run += 1;
    this.#runBytes += bytes;
    if (this.#run < this.#busyWakes) return 0;
    // A loop of commit-and-wait comes close together but slowly; judge the next wake-ups afresh
    // either way.
    const worth = this.#runBytes > 0 && this.#runBytes >= this.#busyBytesPerMs * (endMs - this.#runFrom);
    return worth ? this.#pause(endMs) : this.#startRun(endMs);
  }

  /** Reading resumed at `nowMs` after a pause. */
  resumed(nowMs: number): void {
    this.#resumedAt = nowMs;
  }

  #pause(endMs: number): number {
    this.#startRun(endMs);
    return this.#pauseMs;
  }

  /** A run starts over after the wake-up that ended at `endMs`: it counts the wake-ups after it. */
  #startRun(endMs: number): 0 {
    this.#run = 0;
    this.#runBytes = 0;
    this.#runFrom = endMs;
    return 0;
  }
}

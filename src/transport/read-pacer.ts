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
  /**
   * Consecutive wake-ups in a busy run before reading pauses; twice as many after each pause that
   * gathered too little, up to MAX_BUSY_WAKES.
   */
  readonly busyWakes?: number;
}

/** Defaults measured on the 1M-row drain (docs/benchmarks.md, "Paced reads"). */
export const BUSY_GAP_MS = 0.25;
export const BUSY_WAKES = 8;

/**
 * The longest run a pause can come to need. A loop of commit-and-wait on a fast machine can look busy
 * by gap and rate alike; each pause then gathers only its next commit, and doubling the run after each
 * leaves one delayed commit per thousand or so wake-ups.
 */
export const MAX_BUSY_WAKES = 1024;

/**
 * What a pause must gather to be worth its delay: a dozen changes or so. A pause that gathers one
 * commit saves a wake-up or two and delays that commit by the whole pause. That is what an application
 * that writes after each wakeup (commit, wait to hear of it, commit again) sends: its wake-ups come
 * close together, yet a pause would gather its next commit alone, and pausing on it held every commit
 * of the loop for a whole pause (measured: 2.4 ms each instead of 0.25). So a run pauses only when its
 * bytes came fast enough to fill this in one pause, and pauses again only when the last pause did.
 */
export const PAUSE_WORTH_BYTES = 2048;

/**
 * The most bytes one wake-up reads before the event loop gets a turn (the connection stops reading
 * until the next one), so a backlog never holds the application's timers and I/O for long: about 128
 * KiB of changes take a few milliseconds to decode. A wake-up that reaches it found a backlog, where
 * pausing would only idle a client that is behind, so it also ends a busy run.
 */
export const WAKE_BUDGET_BYTES = 128 * 1024;

/**
 * Decides, at the end of each wake-up (the reads one turn of the event loop delivered), whether to stop
 * reading, and for how long. Reading pauses after a busy run: `busyWakes` wake-ups each of which began
 * within `busyGapMs` of the previous one's end, whose bytes came fast enough to gather
 * PAUSE_WORTH_BYTES in one pause. Each pause is judged by the wake-up after it: if it found that much
 * waiting at once, the stream went on meanwhile, so reading pauses again at once; if it found less, the
 * pause only delayed what came, and the next one needs a run twice as long (up to MAX_BUSY_WAKES) until
 * a pause gathers enough again.
 */
export class ReadPacer {
  readonly #pauseMs: number;
  readonly #busyGapMs: number;
  readonly #busyWakes: number;
  /** Wake-ups the next busy run needs before a pause. */
  #needed: number;
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
    this.#needed = this.#busyWakes;
  }

  /** Wake-ups the next busy run needs before reading pauses. */
  get needed(): number {
    return this.#needed;
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
    const close = gap <= this.#busyGapMs;
    if (resumedAt !== null && close) {
      // Data was waiting the moment the pause ended: what the pause gathered, and what it delayed.
      if (bytes < PAUSE_WORTH_BYTES) {
        this.#needed = Math.min(2 * this.#needed, Math.max(MAX_BUSY_WAKES, this.#busyWakes));
        return this.#startRun(endMs);
      }
      this.#needed = this.#busyWakes;
      // A wake-up that used its budget found a backlog: pausing would only idle a client that is behind.
      return bytes >= WAKE_BUDGET_BYTES ? this.#startRun(endMs) : this.#pause(endMs);
    }
    // (A pause after which nothing was waiting delayed nothing: it costs the next run nothing either.)
    if (bytes >= WAKE_BUDGET_BYTES || !close) return this.#startRun(endMs);
    this.#run += 1;
    this.#runBytes += bytes;
    if (this.#run < this.#needed) return 0;
    // At the run's rate, would a pause gather enough? A loop of commit-and-wait comes close together
    // but slowly; judge the next wake-ups afresh either way.
    const worth =
      this.#runBytes > 0 && this.#runBytes * this.#pauseMs >= PAUSE_WORTH_BYTES * (endMs - this.#runFrom);
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

// Reconnect pacing (contract R7): jittered exponential backoff, randomness injected.

/** Delays for successive reconnect attempts. */
export class Backoff {
  readonly #initialMs: number;
  readonly #maximumMs: number;
  readonly #random: () => number;
  #attempts = 0;

  /** `random` returns a number in [0, 1), like Math.random. */
  constructor(options: { initialMs: number; maximumMs: number; random: () => number }) {
    this.#initialMs = options.initialMs;
    this.#maximumMs = options.maximumMs;
    this.#random = options.random;
  }

  /**
   * The delay before the next attempt: min(maximum, initial·2^(n−1)) for the n-th call since reset,
   * times a jitter factor in [0.5, 1.5) so that many clients cut off together do not return together.
   * Rounded to whole milliseconds.
   */
  next(): number {
    this.#attempts++;
    // The exponent is capped so a long outage cannot reach Infinity (and 0·Infinity = NaN).
    const base = Math.min(this.#maximumMs, this.#initialMs * 2 ** Math.min(this.#attempts - 1, 30));
    return Math.round(base * (0.5 + this.#random()));
  }

  /** Starts over from `initialMs`, after a connection went live. */
  reset(): void {
    this.#attempts = 0;
  }

  /** Calls to next() since the last reset. */
  get attempts(): number {
    return this.#attempts;
  }
}

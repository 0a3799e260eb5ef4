// A Clock driven by hand for engine tests: time moves only in advance(), which fires due timers in order.

import type { Clock, TimerHandle } from '../../src/feed/clock.js';

interface Timer {
  readonly due: number;
  readonly seq: number;
  readonly fn: () => void;
}

/** A deterministic Clock: `now()` starts at `startMs` and changes only through `advance`. */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: Timer[] = [];

  constructor(startMs = Date.UTC(2024, 0, 1)) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimer(ms: number, fn: () => void): TimerHandle {
    const timer: Timer = { due: this.#now + Math.max(0, ms), seq: this.#seq++, fn };
    this.#timers.push(timer);
    return timer;
  }

  clearTimer(handle: TimerHandle): void {
    this.#timers = this.#timers.filter((timer) => timer !== handle);
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way in (due, creation) order,
   * including timers set by fired timers; `now()` reads each timer's due time while it runs.
   */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let next: Timer | undefined;
      for (const timer of this.#timers) {
        if (
          timer.due <= target &&
          (next === undefined || timer.due < next.due || (timer.due === next.due && timer.seq < next.seq))
        ) {
          next = timer;
        }
      }
      if (next === undefined) break;
      this.#timers = this.#timers.filter((timer) => timer !== next);
      this.#now = next.due;
      next.fn();
    }
    this.#now = target;
  }

  /** Timers set and neither fired nor cleared. */
  get pendingTimers(): number {
    return this.#timers.length;
  }
}

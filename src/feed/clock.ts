// Time for the feed's pure state machines, injected so tests drive it by hand (test/support/manual-clock).
// systemClock is the one place in src/feed that touches setTimeout, clearTimeout and Date.now.

/** An opaque timer, only good for passing back to the clock that made it. */
export type TimerHandle = unknown;

/** Wall time and one-shot timers. */
export interface Clock {
  /** Milliseconds since the epoch: stamps `firstSeen`, and measures debounce quiet periods. */
  now(): number;
  /** Calls `fn` once, `ms` (≥ 0) milliseconds from now. */
  setTimer(ms: number, fn: () => void): TimerHandle;
  /** Cancels a timer; harmless when it already fired or was cleared. */
  clearTimer(handle: TimerHandle): void;
}

/**
 * The real clock. Its timers stay ref'd: an open feed waiting to close a batch must keep the process
 * alive, and closing a feed clears every timer it set (contract R10), so none outlives the feed.
 */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimer: (ms: number, fn: () => void): TimerHandle =>
    ms <= 0 ? new ImmediateTimer(setImmediate(fn)) : setTimeout(fn, ms),
  clearTimer: (handle: TimerHandle): void => {
    if (handle instanceof ImmediateTimer) clearImmediate(handle.immediate);
    else clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
});

/**
 * A 0 ms timer. setTimeout would round it up to 1 ms, a floor under every debounce-0 wakeup; setImmediate
 * runs once the I/O in hand is processed, so a batch still gathers every change of the chunk just read.
 */
class ImmediateTimer {
  constructor(readonly immediate: ReturnType<typeof setImmediate>) {}
}

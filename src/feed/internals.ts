// Test seams of the feeds and the bridge, kept apart so the public types reach nothing internal.
import type { Clock } from './clock.js';

/** Test seams: a controllable clock and randomness. Not part of the public contract. */
export interface FeedInternals {
  clock?: Clock;
  random?: () => number;
  env?: Record<string, string | undefined>;
}

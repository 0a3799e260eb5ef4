// The rules one option value follows, written once: every duration and count a feed, the batching
// engine, the fan-out classes or the CLI accepts is checked here, so a value means the same wherever it
// is given, and the ConfigError names the option and states the rule.
import { ConfigError } from './errors.js';

/** setTimeout's limit: a longer delay fires at once, so no duration may exceed it. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * `value` as a duration: a whole number of milliseconds from `min` to {@link MAX_TIMER_MS}; `fallback`
 * when `value` is undefined and a fallback is given. Whole, because the CLI reads whole numbers and timers
 * fire on whole milliseconds: a fraction would mean one thing to the library and be refused by the CLI.
 */
export function duration(option: string, value: unknown, min: number, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > MAX_TIMER_MS) {
    throw new ConfigError(
      `${option} must be a whole number of milliseconds from ${min} to ${MAX_TIMER_MS}; got ${describeValue(value)}`,
      option,
    );
  }
  return value as number;
}

/**
 * A duration that can be turned off: `null` or 0 is off (null), undefined is `fallback`, anything else a
 * duration from `min`. 0 means off as in Node's timeouts and libpq's connect_timeout, and the same in the
 * library and the CLI (`--liveness-timeout 0`), so one value never means two things.
 */
export function optionalDuration(
  option: string,
  value: unknown,
  min: number,
  fallback: number | null,
): number | null {
  if (value === null || value === 0 || (value === undefined && fallback === null)) return null;
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > MAX_TIMER_MS) {
    throw new ConfigError(
      `${option} must be a whole number of milliseconds from ${min} to ${MAX_TIMER_MS}, or 0 or null for off; got ${describeValue(value)}`,
      option,
    );
  }
  return value as number;
}

/** `value` as a count of `unit`: a whole number, at least `min`; `fallback` when undefined and given. */
export function count(option: string, value: unknown, unit: string, min: number, fallback?: number): number {
  if (value === undefined && fallback !== undefined) return fallback;
  if (!Number.isSafeInteger(value) || (value as number) < min) {
    throw new ConfigError(
      `${option} must be a whole number of ${unit}, at least ${min}; got ${describeValue(value)}`,
      option,
    );
  }
  return value as number;
}

/** A value as an error message shows it: strings quoted, other primitives as written, objects by kind. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'object' && value !== null) return 'an object';
  if (typeof value === 'function' || typeof value === 'symbol') return `a ${typeof value}`;
  return String(value);
}

/** Alternatives as a sentence names them: `a, b or c`. */
export function describeChoices(choices: readonly string[]): string {
  return choices.length < 2 ? (choices[0] ?? '') : `${choices.slice(0, -1).join(', ')} or ${choices.at(-1)}`;
}

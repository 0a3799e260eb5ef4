// How often a feed sends standby status updates, given the server's wal_sender_timeout (contract R8).
//
// The walsender ends a session from which it heard nothing for wal_sender_timeout. Its keepalives ask
// for a reply, but they queue behind every byte already in flight: a client that lags behind a large
// transaction (a loaded machine, a slow link) reads the request seconds late and is cut off, losing the
// rest of the stream to a Resync. Status updates go out on their own timer, so sending them well inside
// the server's timeout keeps a lagging session alive whatever the inbound backlog.

/** Status updates per wal_sender_timeout: the server hears from us at least this often per window. */
const UPDATES_PER_TIMEOUT = 4;

const UNIT_MS: Readonly<Record<string, number>> = {
  us: 0.001,
  ms: 1,
  s: 1_000,
  min: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

/**
 * Milliseconds in a time setting as `SHOW` prints it (`5s`, `1min`, `500ms`, `0`; a bare number is
 * in the setting's unit, milliseconds for wal_sender_timeout). Null when the text is not one.
 */
export function parseServerDuration(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$/.exec(text);
  if (match === null) return null;
  const value = Number(match[1]) * UNIT_MS[match[2] ?? 'ms']!;
  return Number.isFinite(value) ? value : null;
}

/**
 * The interval between status updates: `statusIntervalMs`, shortened to a quarter of the server's
 * `walSenderTimeoutMs` when that is shorter, never below 1 ms. A timeout of 0 (disabled) or an
 * unknown one (null) leaves the configured interval.
 */
export function statusCadence(statusIntervalMs: number, walSenderTimeoutMs: number | null): number {
  if (walSenderTimeoutMs === null || walSenderTimeoutMs <= 0) return statusIntervalMs;
  return Math.max(1, Math.min(statusIntervalMs, Math.floor(walSenderTimeoutMs / UPDATES_PER_TIMEOUT)));
}

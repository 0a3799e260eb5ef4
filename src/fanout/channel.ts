// The NOTIFY channel name and the fan-out SQL built from it: LISTEN and pg_notify, quoted so that no
// channel name or payload can change a statement (as contract R18 asks of replication commands). The
// election of the active bridge is election.ts. Pure.
import { ConfigError } from '../errors.js';
import { quoteIdentifier, quoteLiteral } from '../protocol/quote.js';

/** PostgreSQL's NAMEDATALEN − 1: a longer identifier would be silently truncated by the server. */
export const MAX_CHANNEL_BYTES = 63;

const encoder = new TextEncoder();

/**
 * Checks a channel name: any text of 1 to 63 UTF-8 bytes without NUL. It is always quoted, so case,
 * spaces and dots are kept exactly (`LISTEN "Orders.v1"` and `pg_notify('Orders.v1', …)` agree).
 * Throws ConfigError naming the `channel` option.
 */
export function validateChannel(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0) {
    throw new ConfigError(
      `channel must be a non-empty string naming the NOTIFY channel; got ${typeof name === 'string' ? '""' : typeof name}`,
      'channel',
    );
  }
  if (name.includes('\0')) throw new ConfigError('channel must not contain a NUL character', 'channel');
  const bytes = encoder.encode(name).length;
  if (bytes > MAX_CHANNEL_BYTES) {
    throw new ConfigError(
      `channel must be at most ${MAX_CHANNEL_BYTES} bytes (PostgreSQL would truncate it); "${name}" is ${bytes}`,
      'channel',
    );
  }
  return name;
}

/** `SELECT pg_notify('<channel>', '<payload>')` for every payload, as one simple-protocol query string. */
export function formatNotify(channel: string, payloads: readonly string[]): string {
  const target = quoteLiteral(channel, 'channel');
  return payloads.map((payload) => `SELECT pg_notify(${target}, ${quoteLiteral(payload)});`).join('');
}

/** `LISTEN "<channel>"`. */
export function formatListen(channel: string): string {
  return `LISTEN ${quoteIdentifier(channel, 'channel')}`;
}

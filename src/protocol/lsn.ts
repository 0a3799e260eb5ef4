// Log sequence numbers as bigint, in PostgreSQL's text form `XXX/XXX` (PG docs §8.20 "pg_lsn Type").

import { ProtocolError } from '../errors.js';

/** A WAL position: an unsigned 64-bit integer. */
export type Lsn = bigint;

const LSN_TEXT = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;
const MAX_LSN = 0xffff_ffff_ffff_ffffn;

/**
 * Parses `16/B374D848` (each half 1–8 hex digits). `what` names the value in the error, since the text
 * comes from the server (for example `consistent_point` of CREATE_REPLICATION_SLOT).
 */
export function parseLsn(text: string, what = 'LSN'): Lsn {
  const match = LSN_TEXT.exec(text);
  if (match === null) {
    throw new ProtocolError(
      `${what} ${JSON.stringify(text.slice(0, 40))} is not a valid LSN (expected XXX/XXX in hex)`,
      {
        messageType: what,
      },
    );
  }
  return (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
}

/** Formats an LSN as PostgreSQL prints it: upper-case hex halves without padding (`16/B374D848`). */
export function formatLsn(lsn: Lsn): string {
  if (lsn < 0n || lsn > MAX_LSN) {
    throw new ProtocolError(`LSN ${lsn} is outside the unsigned 64-bit range`, { messageType: 'LSN' });
  }
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffff_ffffn).toString(16).toUpperCase()}`;
}

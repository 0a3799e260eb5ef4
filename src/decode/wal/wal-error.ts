// The one error the WAL reader throws. It is a DecodeError (code PGNUDGE_ERR_DECODE, retryable): a record
// the reader cannot parse ends the session, and the feed reconnects and resyncs instead of skipping it.

import { DecodeError } from '../../errors.js';
import { formatWalPosition } from './position.js';

/**
 * What was wrong, for tests and logs: an unknown page magic (`magic`), a page header that does not
 * belong where it was read (`page`), a malformed record (`record`), a checksum mismatch (`crc`), a
 * record over a configured bound (`limit`), or a use of the reader it does not support (`usage`).
 */
export type WalDecodeReason = 'magic' | 'page' | 'record' | 'crc' | 'limit' | 'usage';

/** WAL bytes that are not what PostgreSQL 15–18 writes, at `lsn` (the page or record being read). */
export class WalDecodeError extends DecodeError {
  /** Why decoding stopped. */
  readonly reason: WalDecodeReason;
  /** The WAL position of the page or record being read, when known. */
  readonly lsn: bigint | undefined;

  constructor(reason: WalDecodeReason, message: string, lsn?: bigint) {
    super('physical WAL', lsn === undefined ? message : `${message} (at ${formatWalPosition(lsn)})`);
    this.reason = reason;
    this.lsn = lsn;
  }
}

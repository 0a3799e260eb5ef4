// What a replication client tells the walsender about its progress (PG docs §55.4, StandbyStatusUpdate;
// contract R8). pgnudge keeps no WAL and replays nothing, so it confirms everything the server reported as
// sent: a slot that confirms less pins WAL on the server for as long as the session lasts. Pure: the
// replication-stream shell feeds it messages and writes the updates it builds.
import type { Lsn } from './lsn.js';
import type { PrimaryKeepalive, StandbyStatusUpdate } from './replication.js';

/** A StandbyStatusUpdate before it is stamped with the time it is sent. */
export type StatusReply = Omit<StandbyStatusUpdate, 'sendTime'>;

/**
 * The position a session confirms: the highest of the last XLogData end and the last keepalive's WAL
 * end. Keepalives count too, so writes to tables the session filters out, or to other databases, which
 * reach it as keepalives only, never pin WAL. One per session; it only ever moves forward.
 */
export class StandbyProgress {
  #confirmed: Lsn = 0n;

  /** The position the next status update confirms as written, flushed and applied. */
  get confirmed(): Lsn {
    return this.#confirmed;
  }

  /** An XLogData ending at `walEnd` reached the client. Called once per WAL message: one compare. */
  received(walEnd: Lsn): void {
    if (walEnd > this.#confirmed) this.#confirmed = walEnd;
  }

  /**
   * A PrimaryKeepalive reached the client. Returns whether it must be answered at once: the server asked,
   * and without a reply its wal_sender_timeout ends the session.
   */
  keepalive(message: Pick<PrimaryKeepalive, 'walEnd' | 'replyRequested'>): boolean {
    this.received(message.walEnd);
    return message.replyRequested;
  }

  /** The status update confirming everything received; `replyRequested` asks the server to answer now. */
  reply(replyRequested: boolean): StatusReply {
    const lsn = this.#confirmed;
    return { write: lsn, flush: lsn, apply: lsn, replyRequested };
  }

  /**
   * The status update of a physical session (RawFeed): written, never flushed or applied (0/0). A physical
   * walsender without a slot holds no WAL for its client, so confirming a flush buys nothing; and a
   * standby that reports a flush position is a candidate synchronous standby (syncrep.c skips those
   * without one), which under `synchronous_standby_names = '*'` would put every commit on the server
   * behind this client's status updates.
   */
  replyWritten(replyRequested: boolean): StatusReply {
    return { write: this.#confirmed, flush: 0n, apply: 0n, replyRequested };
  }
}

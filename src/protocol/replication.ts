// CopyData payloads of the streaming replication protocol (PG docs §55.4 "Streaming Replication Protocol",
// START_REPLICATION): XLogData and PrimaryKeepalive in, StandbyStatusUpdate out. Timestamps are µs since 2000-01-01.

import { ProtocolError } from '../errors.js';
import { FrontendCode } from './frontend.js';
import type { Lsn } from './lsn.js';
import { ByteReader } from './reader.js';
import { ByteWriter } from './writer.js';

/** Sub-message codes inside CopyData during replication. */
export const ReplicationCode = {
  XLogData: 0x77, // 'w'
  PrimaryKeepalive: 0x6b, // 'k'
  StandbyStatusUpdate: 0x72, // 'r'
} as const;

/** WAL data: for logical replication, one output plugin message. `data` is a view of the frame. */
export interface XLogData {
  type: 'XLogData';
  walStart: Lsn;
  walEnd: Lsn;
  sendTime: bigint;
  data: Uint8Array;
}

/** The server's heartbeat; `replyRequested` asks for an immediate StandbyStatusUpdate. */
export interface PrimaryKeepalive {
  type: 'PrimaryKeepalive';
  walEnd: Lsn;
  sendTime: bigint;
  replyRequested: boolean;
}

/** The fields of a StandbyStatusUpdate. */
export interface StandbyStatusUpdate {
  write: Lsn;
  flush: Lsn;
  apply: Lsn;
  sendTime: bigint;
  replyRequested: boolean;
}

/** Bytes before an XLogData's payload: the code, walStart, walEnd and sendTime. */
export const XLOG_DATA_HEADER = 25;
const PRIMARY_KEEPALIVE_LENGTH = 18;
const MAX_U64 = 0xffff_ffff_ffff_ffffn;
const MIN_I64 = -(1n << 63n);
const MAX_I64 = (1n << 63n) - 1n;
/** 2000-01-01T00:00:00Z, PostgreSQL's epoch, in Unix milliseconds. */
const PG_EPOCH_UNIX_MS = 946_684_800_000;

/** Parses the payload of a CopyData received after START_REPLICATION. */
export function parseReplicationMessage(data: Uint8Array): XLogData | PrimaryKeepalive {
  if (data.byteLength === 0) {
    throw new ProtocolError('empty CopyData in replication stream', { messageType: 'CopyData', offset: 0 });
  }
  const code = data[0];
  if (code === ReplicationCode.XLogData) {
    if (data.byteLength < XLOG_DATA_HEADER) {
      throw lengthError('XLogData', `must be at least ${XLOG_DATA_HEADER} bytes, got ${data.byteLength}`);
    }
    // Length checked above, so a bare DataView is safe here; this runs once per WAL message.
    const view = new DataView(data.buffer, data.byteOffset, XLOG_DATA_HEADER);
    return {
      type: 'XLogData',
      walStart: view.getBigUint64(1),
      walEnd: view.getBigUint64(9),
      sendTime: view.getBigInt64(17),
      data: data.subarray(XLOG_DATA_HEADER),
    };
  }
  if (code === ReplicationCode.PrimaryKeepalive) {
    if (data.byteLength !== PRIMARY_KEEPALIVE_LENGTH) {
      throw lengthError(
        'PrimaryKeepalive',
        `must be ${PRIMARY_KEEPALIVE_LENGTH} bytes, got ${data.byteLength}`,
      );
    }
    const r = new ByteReader(data, 'PrimaryKeepalive');
    r.u8();
    const walEnd = r.u64();
    const sendTime = r.i64();
    const reply = r.u8();
    if (reply > 1) {
      throw r.error(`reply flag must be 0 or 1, got ${reply}`, 17);
    }
    return { type: 'PrimaryKeepalive', walEnd, sendTime, replyRequested: reply === 1 };
  }
  const printable = code! >= 0x20 && code! < 0x7f ? ` '${String.fromCharCode(code!)}'` : '';
  throw new ProtocolError(
    `unknown replication message${printable} (0x${code!.toString(16).padStart(2, '0')})`,
    {
      messageType: 'CopyData',
      offset: 0,
    },
  );
}

/**
 * An XLogData read in place, for the stream's hot path: one per stream, pointed at each message in turn
 * by {@link XLogDataView.read}, so a message costs no object, DataView or BigInt. The WAL end is kept
 * as two 32-bit halves ({@link walEndHigh}, {@link walEndLow}) for comparing without BigInt; `walStart`,
 * `walEnd` and `sendTime` become bigints only when asked for, and the payload is `bytes[dataStart,
 * dataEnd)` (`data` makes a view of it). It reads as an {@link XLogData} until the next `read`: take
 * what you need during the call.
 */
export class XLogDataView {
  readonly type = 'XLogData';
  /** The bytes holding the message (a frame's buffer, not necessarily only this message). */
  bytes: Uint8Array = new Uint8Array(0);
  /** Where the message (its 'w' code) starts in `bytes`. */
  start = 0;
  /** Where the payload starts in `bytes`: `start` + {@link XLOG_DATA_HEADER}. */
  dataStart = XLOG_DATA_HEADER;
  /** Where the message ends in `bytes` (exclusive). */
  dataEnd = XLOG_DATA_HEADER;
  /** The upper 32 bits of the WAL end. */
  walEndHigh = 0;
  /** The lower 32 bits of the WAL end. */
  walEndLow = 0;

  /**
   * Points the view at the XLogData in `bytes[start, end)`, whose first byte the caller found to be
   * {@link ReplicationCode.XLogData}. Throws ProtocolError when it is shorter than its header.
   */
  read(bytes: Uint8Array, start: number, end: number): void {
    if (end - start < XLOG_DATA_HEADER) {
      throw lengthError('XLogData', `must be at least ${XLOG_DATA_HEADER} bytes, got ${end - start}`);
    }
    this.bytes = bytes;
    this.start = start;
    this.dataStart = start + XLOG_DATA_HEADER;
    this.dataEnd = end;
    this.walEndHigh = readU32(bytes, start + 9);
    this.walEndLow = readU32(bytes, start + 13);
  }

  /** The WAL position this message's data starts at (a physical stream's block address). */
  get walStart(): Lsn {
    return u64(this.bytes, this.start + 1);
  }

  /** The server's WAL end when it sent the message. */
  get walEnd(): Lsn {
    return (BigInt(this.walEndHigh) << 32n) | BigInt(this.walEndLow);
  }

  /** The server's clock when it sent the message (µs since 2000-01-01). */
  get sendTime(): bigint {
    return BigInt.asIntN(64, u64(this.bytes, this.start + 17));
  }

  /** The payload, as a new view of `bytes` (no copy). */
  get data(): Uint8Array {
    return this.bytes.subarray(this.dataStart, this.dataEnd);
  }
}

/** The big-endian unsigned 32-bit integer at `at` (the caller checked the bounds). */
function readU32(bytes: Uint8Array, at: number): number {
  return bytes[at]! * 0x100_0000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}

function u64(bytes: Uint8Array, at: number): bigint {
  return (BigInt(readU32(bytes, at)) << 32n) | BigInt(readU32(bytes, at + 4));
}

function lengthError(messageType: string, detail: string): ProtocolError {
  return new ProtocolError(`${messageType} ${detail}`, { messageType, offset: 0 });
}

/** Encodes a StandbyStatusUpdate as a whole CopyData frame, ready to write to the socket. */
export function encodeStandbyStatusUpdate(update: StandbyStatusUpdate): Buffer {
  for (const key of ['write', 'flush', 'apply'] as const) {
    const lsn = update[key];
    if (lsn < 0n || lsn > MAX_U64) {
      throw new ProtocolError(`StandbyStatusUpdate ${key} LSN ${lsn} is outside the unsigned 64-bit range`, {
        messageType: 'StandbyStatusUpdate',
      });
    }
  }
  if (update.sendTime < MIN_I64 || update.sendTime > MAX_I64) {
    throw new ProtocolError(`StandbyStatusUpdate sendTime ${update.sendTime} does not fit in an Int64`, {
      messageType: 'StandbyStatusUpdate',
    });
  }
  return new ByteWriter(FrontendCode.CopyData)
    .u8(ReplicationCode.StandbyStatusUpdate)
    .u64(update.write)
    .u64(update.flush)
    .u64(update.apply)
    .i64(update.sendTime)
    .u8(update.replyRequested ? 1 : 0)
    .finish();
}

/** Converts Unix epoch milliseconds (fractions kept to the microsecond) to a PostgreSQL timestamp. */
export function pgTimestampFromUnixMs(ms: number): bigint {
  if (!Number.isFinite(ms)) {
    throw new ProtocolError(`cannot convert ${ms} to a PostgreSQL timestamp`, { messageType: 'timestamp' });
  }
  return BigInt(Math.round((ms - PG_EPOCH_UNIX_MS) * 1000));
}

/** Converts a PostgreSQL timestamp (µs since 2000-01-01) to Unix epoch milliseconds (may be fractional). */
export function unixMsFromPgTimestamp(t: bigint): number {
  const wholeMs = t / 1000n;
  return Number(wholeMs) + PG_EPOCH_UNIX_MS + Number(t - wholeMs * 1000n) / 1000;
}

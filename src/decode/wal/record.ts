// One decoded WAL record: its header, its block references and (when kept) its main data. The reader
// reuses one WalRecord for every record it returns, so a consumer that keeps values must copy them.
// Layouts: XLogRecord, XLogRecordBlockHeader, XLogRecordBlockImageHeader (xlogrecord.h), checked as
// DecodeXLogRecord (xlogreader.c) checks them.

import {
  BKPBLOCK_FORK_MASK,
  BKPBLOCK_HAS_DATA,
  BKPBLOCK_HAS_IMAGE,
  BKPBLOCK_SAME_REL,
  BKPIMAGE_COMPRESSED,
  BKPIMAGE_HAS_HOLE,
  PAGE_SIZE,
  XLR_BLOCK_ID_DATA_LONG,
  XLR_BLOCK_ID_DATA_SHORT,
  XLR_BLOCK_ID_ORIGIN,
  XLR_BLOCK_ID_TOPLEVEL_XID,
  XLR_MAX_BLOCK_ID,
} from './constants.js';
import { toLsn } from './position.js';
import { WalDecodeError } from './wal-error.js';

/** A block reference: which page of which relation fork the record touches, and what it carries. */
export class BlockRef {
  /** Block reference id (0–32), in increasing order within a record. */
  id = 0;
  /** Fork: 0 main, 1 free space map, 2 visibility map, 3 init. */
  forkNumber = 0;
  /** The BKPBLOCK_* flag bits (upper half of fork_flags). */
  flags = 0;
  /** Bytes of rmgr data for this block (not counting the image). */
  dataLength = 0;
  /** Whether a full-page image is included. */
  hasImage = false;
  /** Bytes of the stored image (after removing the hole, and compressed if so flagged). */
  imageLength = 0;
  /** Offset of the hole (the zero run left out of the image). */
  holeOffset = 0;
  /** Length of the hole. */
  holeLength = 0;
  /** The BKPIMAGE_* bits. */
  imageInfo = 0;
  /** RelFileLocator: tablespace, database (0 for shared relations) and relfilenumber. */
  spcOid = 0;
  dbOid = 0;
  relNumber = 0;
  /** Block number inside the fork. */
  blockNumber = 0;
}

/** The record the reader returned last. Valid until the next call to `next()`. */
export class WalRecord {
  /** Start position (hi, lo halves). */
  lsnHi = 0;
  lsnLo = 0;
  /** Position after the record, MAXALIGNed (for XLOG_SWITCH: the start of the next segment). */
  endHi = 0;
  endLo = 0;
  /** xl_tot_len: header, block headers, block data, images and main data. */
  totalLength = 0;
  /** xl_xid: the transaction that wrote it (a subtransaction's own xid), 0 when none. */
  xid = 0;
  /** xl_prev halves. */
  prevHi = 0;
  prevLo = 0;
  /** xl_info: the rmgr's bits in the upper half. */
  info = 0;
  /** xl_rmid. */
  rmid = 0;
  /** xl_crc (already verified). */
  crc = 0;
  /** The top-level xid from XLR_BLOCK_ID_TOPLEVEL_XID (wal_level = logical, a subtransaction's first record), else 0. */
  topXid = 0;
  /** The replication origin from XLR_BLOCK_ID_ORIGIN, else -1. */
  origin = -1;
  /** Number of valid entries in `blocks`. */
  blockCount = 0;
  /** Block references in record order; only the first `blockCount` are this record's. */
  readonly blocks: BlockRef[] = Array.from({ length: XLR_MAX_BLOCK_ID + 1 }, () => new BlockRef());
  /** Length of the main data. */
  mainDataLength = 0;
  /**
   * The main data, when the reader kept it (always for the records that RawFeed interprets; for others
   * only when it lies in one chunk). A view, valid until the next record.
   */
  data: Uint8Array | undefined = undefined;

  /** Start position. */
  get lsn(): bigint {
    return toLsn(this.lsnHi, this.lsnLo);
  }

  /** End position (see `endHi`). */
  get endLsn(): bigint {
    return toLsn(this.endHi, this.endLo);
  }

  /** xl_prev. */
  get prevLsn(): bigint {
    return toLsn(this.prevHi, this.prevLo);
  }

  /** The block reference with id `id`, if the record has one. */
  block(id: number): BlockRef | undefined {
    for (let i = 0; i < this.blockCount; i++) {
      const block = this.blocks[i]!;
      if (block.id === id) return block;
      if (block.id > id) return undefined;
    }
    return undefined;
  }

  /** Total bytes of full-page images (pg_walinspect's fpi_length). */
  get imageBytes(): number {
    let total = 0;
    for (let i = 0; i < this.blockCount; i++) {
      const block = this.blocks[i]!;
      if (block.hasImage) total += block.imageLength;
    }
    return total;
  }
}

/** Little-endian reads; callers bounds-check first. */
export function u16(src: Uint8Array, at: number): number {
  return src[at]! | (src[at + 1]! << 8);
}

export function u32(src: Uint8Array, at: number): number {
  return (src[at]! | (src[at + 1]! << 8) | (src[at + 2]! << 16) | (src[at + 3]! << 24)) >>> 0;
}

/**
 * Decodes the block and main-data headers that follow the 24-byte record header. `src[at, at + available)`
 * holds the first bytes after the record header (at least all the headers of a valid record);
 * `bodyLength` is xl_tot_len minus the header. Fills `record`'s block fields, origin, topXid and
 * mainDataLength, and returns the length of the headers. Every length must add up to `bodyLength`.
 */
export function decodeHeaders(
  record: WalRecord,
  src: Uint8Array,
  at: number,
  available: number,
  bodyLength: number,
): number {
  const limit = at + Math.min(available, bodyLength);
  let pos = at;
  let datatotal = 0;
  let blockCount = 0;
  let maxBlockId = -1;
  let sameRelSeen = false;
  let spc = 0;
  let db = 0;
  let rel = 0;
  record.topXid = 0;
  record.origin = -1;
  record.mainDataLength = 0;
  while (bodyLength - (pos - at) > datatotal) {
    if (pos + 1 > limit) overrun(record, pos + 1 - at, available, bodyLength);
    const id = src[pos++]!;
    if (id === XLR_BLOCK_ID_DATA_SHORT) {
      if (pos + 1 > limit) overrun(record, pos + 1 - at, available, bodyLength);
      record.mainDataLength = src[pos++]!;
      datatotal += record.mainDataLength;
      break;
    }
    if (id === XLR_BLOCK_ID_DATA_LONG) {
      if (pos + 4 > limit) overrun(record, pos + 4 - at, available, bodyLength);
      record.mainDataLength = u32(src, pos);
      pos += 4;
      datatotal += record.mainDataLength;
      break;
    }
    if (id === XLR_BLOCK_ID_ORIGIN) {
      if (pos + 2 > limit) overrun(record, pos + 2 - at, available, bodyLength);
      record.origin = u16(src, pos);
      pos += 2;
      continue;
    }
    if (id === XLR_BLOCK_ID_TOPLEVEL_XID) {
      if (pos + 4 > limit) overrun(record, pos + 4 - at, available, bodyLength);
      record.topXid = u32(src, pos);
      pos += 4;
      continue;
    }
    if (id > XLR_MAX_BLOCK_ID) fail(record, `invalid block_id ${id}`);
    if (id <= maxBlockId) fail(record, `out-of-order block_id ${id}`);
    maxBlockId = id;
    if (pos + 3 > limit) overrun(record, pos + 3 - at, available, bodyLength);
    const block = record.blocks[blockCount++]!;
    const forkFlags = src[pos]!;
    block.id = id;
    block.forkNumber = forkFlags & BKPBLOCK_FORK_MASK;
    block.flags = forkFlags & 0xf0;
    block.dataLength = u16(src, pos + 1);
    pos += 3;
    const hasData = (forkFlags & BKPBLOCK_HAS_DATA) !== 0;
    if (hasData && block.dataLength === 0) fail(record, `block ${id} has BKPBLOCK_HAS_DATA set, but no data`);
    if (!hasData && block.dataLength !== 0) {
      fail(record, `block ${id} has BKPBLOCK_HAS_DATA not set, but data length ${block.dataLength}`);
    }
    datatotal += block.dataLength;
    block.hasImage = (forkFlags & BKPBLOCK_HAS_IMAGE) !== 0;
    if (block.hasImage) {
      if (pos + 5 > limit) overrun(record, pos + 5 - at, available, bodyLength);
      const length = u16(src, pos);
      const holeOffset = u16(src, pos + 2);
      const info = src[pos + 4]!;
      pos += 5;
      const compressed = (info & BKPIMAGE_COMPRESSED) !== 0;
      const hasHole = (info & BKPIMAGE_HAS_HOLE) !== 0;
      let holeLength: number;
      if (compressed) {
        if (hasHole) {
          if (pos + 2 > limit) overrun(record, pos + 2 - at, available, bodyLength);
          holeLength = u16(src, pos);
          pos += 2;
        } else {
          holeLength = 0;
        }
      } else {
        holeLength = PAGE_SIZE - length;
      }
      if (hasHole && (holeOffset === 0 || holeLength === 0 || length === PAGE_SIZE)) {
        fail(
          record,
          `block ${id} image: BKPIMAGE_HAS_HOLE set, but hole offset ${holeOffset} length ${holeLength}, image length ${length}`,
        );
      }
      if (!hasHole && (holeOffset !== 0 || holeLength !== 0)) {
        fail(
          record,
          `block ${id} image: BKPIMAGE_HAS_HOLE not set, but hole offset ${holeOffset} length ${holeLength}`,
        );
      }
      if (compressed && length === PAGE_SIZE)
        fail(record, `block ${id} image: compressed, but length ${length}`);
      // A hole longer than the page (garbage) would also make the page longer than BLCKSZ.
      if (holeOffset + holeLength > PAGE_SIZE) {
        fail(record, `block ${id} image: hole offset ${holeOffset} + length ${holeLength} exceed the page`);
      }
      block.imageLength = length;
      block.holeOffset = holeOffset;
      block.holeLength = holeLength;
      block.imageInfo = info;
      datatotal += length;
    } else {
      block.imageLength = 0;
      block.holeOffset = 0;
      block.holeLength = 0;
      block.imageInfo = 0;
    }
    if ((forkFlags & BKPBLOCK_SAME_REL) === 0) {
      if (pos + 12 > limit) overrun(record, pos + 12 - at, available, bodyLength);
      spc = u32(src, pos);
      db = u32(src, pos + 4);
      rel = u32(src, pos + 8);
      pos += 12;
      sameRelSeen = true;
    } else if (!sameRelSeen) {
      fail(record, `block ${id} has BKPBLOCK_SAME_REL set, but there is no previous relation`);
    }
    block.spcOid = spc;
    block.dbOid = db;
    block.relNumber = rel;
    if (pos + 4 > limit) overrun(record, pos + 4 - at, available, bodyLength);
    block.blockNumber = u32(src, pos);
    pos += 4;
  }
  record.blockCount = blockCount;
  const headers = pos - at;
  if (bodyLength - headers !== datatotal) {
    fail(
      record,
      `the record's headers promise ${datatotal} bytes of data, but xl_tot_len ${record.totalLength} leaves ${bodyLength - headers}`,
    );
  }
  return headers;
}

function fail(record: WalRecord, what: string): never {
  throw new WalDecodeError('record', what, record.lsn);
}

function overrun(record: WalRecord, needed: number, available: number, bodyLength: number): never {
  fail(
    record,
    needed > bodyLength
      ? `the record's headers run past its xl_tot_len ${record.totalLength}`
      : `the record's block headers are longer than any valid record's (${available} bytes read)`,
  );
}

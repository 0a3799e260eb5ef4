// The parts of transaction records RawFeed needs (access/xact.h; ParseCommitRecord, ParseAbortRecord and
// ParsePrepareRecord in xactdesc.c): which transaction ended, its subtransactions, and the relation files
// it drops. Everything is bounds-checked, and the parts must add up to exactly the record's main data.

import { u16, u32, type WalRecord } from './record.js';
import { WalDecodeError } from './wal-error.js';

/** A relation file: tablespace, database (0 for shared catalogs) and relfilenumber. */
export interface RelFileLocator {
  readonly spcOid: number;
  readonly dbOid: number;
  readonly relNumber: number;
}

/** A commit (`commit`) or a COMMIT PREPARED (`commit-prepared`), or the aborting counterparts. */
export interface XactEnd {
  readonly kind: 'commit' | 'commit-prepared' | 'abort' | 'abort-prepared';
  /** The transaction that ended: the record's xid, or for a prepared one the xid it was prepared with. */
  readonly xid: number;
  /** Its subtransactions (for a commit, the committed ones; for an abort, every one that is aborted). */
  readonly subxacts: readonly number[];
  /**
   * Relation files dropped with this end: on commit the old files of TRUNCATE, VACUUM FULL, CLUSTER and
   * dropped relations; on abort the files the transaction had created.
   */
  readonly relFiles: readonly RelFileLocator[];
  /** The database, when the record carries it (XACT_XINFO_HAS_DBINFO: not on plain DML commits). */
  readonly dbOid: number | undefined;
  /** The global transaction id of a prepared transaction. */
  readonly gid: string | undefined;
  readonly lsn: bigint;
  readonly endLsn: bigint;
}

/** A PREPARE TRANSACTION. */
export interface XactPrepare {
  readonly xid: number;
  readonly subxacts: readonly number[];
  readonly dbOid: number;
  readonly gid: string;
  readonly lsn: bigint;
  readonly endLsn: bigint;
}

/** XLOG_XACT_* record types (the upper bits of xl_info, under XLOG_XACT_OPMASK). */
export const XLOG_XACT_COMMIT = 0x00;
export const XLOG_XACT_PREPARE = 0x10;
export const XLOG_XACT_ABORT = 0x20;
export const XLOG_XACT_COMMIT_PREPARED = 0x30;
export const XLOG_XACT_ABORT_PREPARED = 0x40;
export const XLOG_XACT_ASSIGNMENT = 0x50;
export const XLOG_XACT_OPMASK = 0x70;
const XLOG_XACT_HAS_INFO = 0x80;

const XACT_XINFO_HAS_DBINFO = 1 << 0;
const XACT_XINFO_HAS_SUBXACTS = 1 << 1;
/** XACT_XINFO_HAS_RELFILELOCATORS (XACT_XINFO_HAS_RELFILENODES in 15: same bit, same layout). */
const XACT_XINFO_HAS_RELFILELOCATORS = 1 << 2;
const XACT_XINFO_HAS_INVALS = 1 << 3;
const XACT_XINFO_HAS_TWOPHASE = 1 << 4;
const XACT_XINFO_HAS_ORIGIN = 1 << 5;
const XACT_XINFO_HAS_GID = 1 << 7;
const XACT_XINFO_HAS_DROPPED_STATS = 1 << 8;

const RELFILELOCATOR_SIZE = 12;
const INVAL_MESSAGE_SIZE = 16;
const ORIGIN_SIZE = 16;
/** MAXALIGN(sizeof(xl_xact_prepare)): the fixed header of a prepared transaction's state. */
const PREPARE_HEADER_SIZE = 72;

/** sizeof(xl_xact_stats_item): kind, dboid, objoid through 17; 18 splits a 64-bit objid in two. */
function statsItemSize(major: number): number {
  return major >= 18 ? 16 : 12;
}

const latin1 = new TextDecoder('latin1');

class Cursor {
  pos = 0;
  constructor(
    readonly data: Uint8Array,
    readonly record: WalRecord,
    readonly what: string,
  ) {}

  fail(message: string): never {
    throw new WalDecodeError('record', `${this.what}: ${message}`, this.record.lsn);
  }

  need(n: number, part: string): void {
    if (n < 0 || this.pos + n > this.data.byteLength) {
      this.fail(`${part} runs past the end of the record's ${this.data.byteLength} bytes of main data`);
    }
  }

  u32(part: string): number {
    this.need(4, part);
    const value = u32(this.data, this.pos);
    this.pos += 4;
    return value;
  }

  /** A non-negative int32 count, bounded by what the rest of the data can hold. */
  count(part: string, itemSize: number): number {
    const n = this.u32(part);
    if (n > 0x7fffffff || n * itemSize > this.data.byteLength - this.pos) {
      this.fail(`${part} count ${n} does not fit in the record`);
    }
    return n;
  }

  xids(n: number): number[] {
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) out[i] = u32(this.data, this.pos + 4 * i);
    this.pos += 4 * n;
    return out;
  }

  locators(n: number): RelFileLocator[] {
    const out = new Array<RelFileLocator>(n);
    const d = this.data;
    for (let i = 0; i < n; i++) {
      const at = this.pos + RELFILELOCATOR_SIZE * i;
      out[i] = { spcOid: u32(d, at), dbOid: u32(d, at + 4), relNumber: u32(d, at + 8) };
    }
    this.pos += RELFILELOCATOR_SIZE * n;
    return out;
  }

  skip(n: number, part: string): void {
    this.need(n, part);
    this.pos += n;
  }

  /** A NUL-terminated string (a GID), read as Latin-1 so that any bytes decode. */
  cstring(part: string): string {
    const end = this.data.indexOf(0, this.pos);
    if (end === -1) this.fail(`${part} has no terminating NUL`);
    const text = latin1.decode(this.data.subarray(this.pos, end));
    this.pos = end + 1;
    return text;
  }

  done(): void {
    if (this.pos !== this.data.byteLength) {
      this.fail(`${this.data.byteLength - this.pos} bytes of main data left over after the last part`);
    }
  }
}

/** Parses a commit, abort, COMMIT PREPARED or ABORT PREPARED record. */
export function parseXactEnd(record: WalRecord, data: Uint8Array, major: number): XactEnd {
  const op = record.info & XLOG_XACT_OPMASK;
  const commit = op === XLOG_XACT_COMMIT || op === XLOG_XACT_COMMIT_PREPARED;
  const prepared = op === XLOG_XACT_COMMIT_PREPARED || op === XLOG_XACT_ABORT_PREPARED;
  const kind = commit ? (prepared ? 'commit-prepared' : 'commit') : prepared ? 'abort-prepared' : 'abort';
  const c = new Cursor(data, record, `${kind} record`);
  c.skip(8, 'xact_time');
  const xinfo = (record.info & XLOG_XACT_HAS_INFO) !== 0 ? c.u32('xinfo') : 0;
  let dbOid: number | undefined;
  if (xinfo & XACT_XINFO_HAS_DBINFO) {
    dbOid = c.u32('dbinfo');
    c.skip(4, 'dbinfo');
  }
  let subxacts: number[] = [];
  if (xinfo & XACT_XINFO_HAS_SUBXACTS) subxacts = c.xids(c.count('subxacts', 4));
  let relFiles: RelFileLocator[] = [];
  if (xinfo & XACT_XINFO_HAS_RELFILELOCATORS) {
    relFiles = c.locators(c.count('relfilelocators', RELFILELOCATOR_SIZE));
  }
  if (xinfo & XACT_XINFO_HAS_DROPPED_STATS) {
    const size = statsItemSize(major);
    c.skip(c.count('dropped stats', size) * size, 'dropped stats');
  }
  // Abort records carry no invalidations; a flag saying otherwise is corruption.
  if (xinfo & XACT_XINFO_HAS_INVALS) {
    if (!commit) c.fail('XACT_XINFO_HAS_INVALS is set on an abort');
    c.skip(c.count('invals', INVAL_MESSAGE_SIZE) * INVAL_MESSAGE_SIZE, 'invals');
  }
  let xid = record.xid;
  let gid: string | undefined;
  if (xinfo & XACT_XINFO_HAS_TWOPHASE) {
    xid = c.u32('twophase xid');
    if (xinfo & XACT_XINFO_HAS_GID) gid = c.cstring('gid');
  }
  if (prepared !== ((xinfo & XACT_XINFO_HAS_TWOPHASE) !== 0)) {
    c.fail(
      prepared
        ? 'a prepared transaction end without XACT_XINFO_HAS_TWOPHASE'
        : 'XACT_XINFO_HAS_TWOPHASE on a plain end',
    );
  }
  if (xinfo & XACT_XINFO_HAS_ORIGIN) c.skip(ORIGIN_SIZE, 'origin');
  c.done();
  return { kind, xid, subxacts, relFiles, dbOid, gid, lsn: record.lsn, endLsn: record.endLsn };
}

/**
 * Parses a PREPARE record: the prepared transaction's state file as written to WAL (xl_xact_prepare, then
 * the GID, subxacts, relations, stats and invalidations, each MAXALIGNed, then the two-phase resource
 * managers' records). Only the header, the GID and the subxacts are read.
 */
export function parsePrepare(record: WalRecord, data: Uint8Array): XactPrepare {
  const c = new Cursor(data, record, 'prepare record');
  c.need(PREPARE_HEADER_SIZE, 'xl_xact_prepare');
  const totalLength = u32(data, 4);
  // The state file's total_len counts a CRC that the WAL copy leaves to the record's own CRC.
  if (totalLength !== data.byteLength + 4) {
    c.fail(`total_len ${totalLength} does not match the ${data.byteLength} bytes of main data`);
  }
  const xid = u32(data, 8);
  const dbOid = u32(data, 12);
  const nsubxacts = u32(data, 28);
  const gidLength = u16(data, 54);
  c.pos = PREPARE_HEADER_SIZE;
  c.need(gidLength, 'gid');
  const gidBytes = data.subarray(c.pos, c.pos + gidLength);
  const nul = gidBytes.indexOf(0);
  const gid = latin1.decode(nul === -1 ? gidBytes : gidBytes.subarray(0, nul));
  c.skip(maxalign(gidLength), 'gid');
  if (nsubxacts > 0x7fffffff || nsubxacts * 4 > data.byteLength - c.pos) {
    c.fail(`subxact count ${nsubxacts} does not fit in the record`);
  }
  const subxacts = c.xids(nsubxacts);
  if (xid !== record.xid) c.fail(`prepares xid ${xid}, but the record belongs to ${record.xid}`);
  return { xid, subxacts, dbOid, gid, lsn: record.lsn, endLsn: record.endLsn };
}

function maxalign(n: number): number {
  return (n + 7) & ~7;
}

// What RawFeed reads out of a record, as calls on a WalEventSink: row changes (heap and heap2 records),
// transaction ends and prepares (xact), subtransaction assignments, relation files created (smgr), and the
// running-transactions horizon (standby). Every other record is ignored here: notably XLOG_HEAP_TRUNCATE
// (written at wal_level = logical only, naming relation OIDs), since a TRUNCATE shows at every level as
// the relation files its commit drops; and heap LOCK and INPLACE records, which change no row. Layouts: heapam_xlog.h,
// xact.h, standbydefs.h, storage_xlog.h; the same in 15–18 for every field read (xact stats items aside).

import type { ChangeOp } from '../change.js';
import { RM_HEAP_ID, RM_HEAP2_ID, RM_SMGR_ID, RM_STANDBY_ID, RM_XACT_ID } from './constants.js';
import { type BlockRef, u16, u32, type WalRecord } from './record.js';
import { WalDecodeError } from './wal-error.js';
import {
  parsePrepare,
  parseXactEnd,
  type RelFileLocator,
  type XactEnd,
  type XactPrepare,
  XLOG_XACT_ABORT,
  XLOG_XACT_ABORT_PREPARED,
  XLOG_XACT_ASSIGNMENT,
  XLOG_XACT_COMMIT,
  XLOG_XACT_COMMIT_PREPARED,
  XLOG_XACT_OPMASK,
  XLOG_XACT_PREPARE,
} from './xact.js';

/** Receives what the records mean. Block refs and records are reused: copy what you keep. */
export interface WalEventSink {
  /**
   * `count` rows of the relation in `block` changed by `xid` (a subtransaction's own xid when one wrote
   * them; `record.topXid` names its parent at wal_level = logical, on its first record only).
   */
  change(xid: number, block: BlockRef, op: ChangeOp, count: number, record: WalRecord): void;
  /** A transaction (and the subtransactions it lists) committed or aborted. */
  end(event: XactEnd): void;
  /** A transaction was prepared (PREPARE TRANSACTION); its end comes as commit-prepared or abort-prepared. */
  prepare(event: XactPrepare): void;
  /** `subxacts` belong to `top` (written once a transaction has more than 64 unreported subtransactions). */
  assignment(top: number, subxacts: readonly number[]): void;
  /** `xid` created the main fork of a relation file (a new relation, or TRUNCATE/VACUUM FULL/CLUSTER). */
  create(xid: number, locator: RelFileLocator): void;
  /** No transaction older than `oldestRunningXid` is still running (XLOG_RUNNING_XACTS). */
  runningXacts(oldestRunningXid: number, nextXid: number, record: WalRecord): void;
}

const XLOG_HEAP_INSERT = 0x00;
const XLOG_HEAP_DELETE = 0x10;
const XLOG_HEAP_UPDATE = 0x20;
const XLOG_HEAP_HOT_UPDATE = 0x40;
const XLOG_HEAP_CONFIRM = 0x50;
const XLOG_HEAP_OPMASK = 0x70;
const XLOG_HEAP_INIT_PAGE = 0x80;
const XLOG_HEAP2_MULTI_INSERT = 0x50;
const XLH_INSERT_IS_SPECULATIVE = 1 << 2;
const XLH_DELETE_IS_SUPER = 1 << 3;
const XLOG_SMGR_CREATE = 0x10;
const XLOG_RUNNING_XACTS = 0x10;

/** SizeOfHeapInsert, SizeOfHeapDelete, SizeOfHeapUpdate, SizeOfHeapConfirm, SizeOfHeapMultiInsert. */
const HEAP_INSERT_SIZE = 3;
const HEAP_DELETE_SIZE = 8;
const HEAP_UPDATE_SIZE = 14;
const HEAP_CONFIRM_SIZE = 2;
const HEAP_MULTI_INSERT_SIZE = 4;
const SMGR_CREATE_SIZE = 16;
const RUNNING_XACTS_SIZE = 24;

/** Calls `sink` for what `record` means to RawFeed. `major` selects the per-major layouts. */
export function interpretRecord(record: WalRecord, major: number, sink: WalEventSink): void {
  switch (record.rmid) {
    case RM_HEAP_ID:
      heap(record, sink);
      return;
    case RM_HEAP2_ID:
      if ((record.info & XLOG_HEAP_OPMASK) === XLOG_HEAP2_MULTI_INSERT) multiInsert(record, sink);
      return;
    case RM_XACT_ID:
      xact(record, major, sink);
      return;
    case RM_STANDBY_ID:
      if ((record.info & 0xf0) === XLOG_RUNNING_XACTS) runningXacts(record, sink);
      return;
    case RM_SMGR_ID:
      if ((record.info & 0xf0) === XLOG_SMGR_CREATE) smgrCreate(record, sink);
      return;
  }
}

function fail(record: WalRecord, what: string): never {
  throw new WalDecodeError('record', what, record.lsn);
}

function mainData(record: WalRecord, minimum: number, what: string): Uint8Array {
  const data = record.data;
  if (data === undefined || data.byteLength < minimum) {
    fail(record, `${what}: main data of ${data?.byteLength ?? 0} bytes, expected at least ${minimum}`);
  }
  return data;
}

function heapBlock(record: WalRecord, what: string): BlockRef {
  const block = record.blocks[0];
  if (record.blockCount === 0 || block === undefined || block.id !== 0)
    fail(record, `${what} without block 0`);
  return block;
}

function heap(record: WalRecord, sink: WalEventSink): void {
  switch (record.info & XLOG_HEAP_OPMASK) {
    case XLOG_HEAP_INSERT: {
      const data = mainData(record, HEAP_INSERT_SIZE, 'heap insert');
      const block = heapBlock(record, 'heap insert');
      // A speculative insertion (INSERT ... ON CONFLICT) counts when confirmed, not when tried.
      if ((data[2]! & XLH_INSERT_IS_SPECULATIVE) === 0) sink.change(record.xid, block, 'insert', 1, record);
      return;
    }
    case XLOG_HEAP_DELETE: {
      const data = mainData(record, HEAP_DELETE_SIZE, 'heap delete');
      const block = heapBlock(record, 'heap delete');
      // A "super-delete" takes back a speculative insertion that conflicted: no row ever existed.
      if ((data[7]! & XLH_DELETE_IS_SUPER) === 0) sink.change(record.xid, block, 'delete', 1, record);
      return;
    }
    case XLOG_HEAP_UPDATE:
    case XLOG_HEAP_HOT_UPDATE: {
      mainData(record, HEAP_UPDATE_SIZE, 'heap update');
      sink.change(record.xid, heapBlock(record, 'heap update'), 'update', 1, record);
      return;
    }
    case XLOG_HEAP_CONFIRM: {
      mainData(record, HEAP_CONFIRM_SIZE, 'heap confirm');
      sink.change(record.xid, heapBlock(record, 'heap confirm'), 'insert', 1, record);
      return;
    }
  }
}

function multiInsert(record: WalRecord, sink: WalEventSink): void {
  const data = mainData(record, HEAP_MULTI_INSERT_SIZE, 'heap2 multi-insert');
  const ntuples = u16(data, 2);
  // The offsets array is left out when the whole page is initialized (XLOG_HEAP_INIT_PAGE).
  if ((record.info & XLOG_HEAP_INIT_PAGE) === 0 && data.byteLength < HEAP_MULTI_INSERT_SIZE + 2 * ntuples) {
    fail(record, `heap2 multi-insert of ${ntuples} tuples with ${data.byteLength} bytes of main data`);
  }
  const block = heapBlock(record, 'heap2 multi-insert');
  if (ntuples > 0) sink.change(record.xid, block, 'insert', ntuples, record);
}

function xact(record: WalRecord, major: number, sink: WalEventSink): void {
  const op = record.info & XLOG_XACT_OPMASK;
  switch (op) {
    case XLOG_XACT_COMMIT:
    case XLOG_XACT_ABORT:
    case XLOG_XACT_COMMIT_PREPARED:
    case XLOG_XACT_ABORT_PREPARED:
      sink.end(parseXactEnd(record, mainData(record, 8, 'transaction end'), major));
      return;
    case XLOG_XACT_PREPARE:
      sink.prepare(parsePrepare(record, mainData(record, 0, 'prepare')));
      return;
    case XLOG_XACT_ASSIGNMENT: {
      const data = mainData(record, 8, 'xact assignment');
      const n = u32(data, 4);
      if (n > 0x7fffffff || data.byteLength !== 8 + 4 * n) {
        fail(record, `xact assignment of ${n} subxacts in ${data.byteLength} bytes`);
      }
      const subxacts = new Array<number>(n);
      for (let i = 0; i < n; i++) subxacts[i] = u32(data, 8 + 4 * i);
      sink.assignment(u32(data, 0), subxacts);
      return;
    }
  }
}

function runningXacts(record: WalRecord, sink: WalEventSink): void {
  const data = mainData(record, RUNNING_XACTS_SIZE, 'running xacts');
  // The xids array is only written when xcnt > 0 (LogCurrentRunningXacts).
  const xcnt = u32(data, 0);
  const xids = xcnt === 0 ? 0 : xcnt + u32(data, 4);
  if (data.byteLength !== RUNNING_XACTS_SIZE + 4 * xids) {
    fail(record, `running xacts listing ${xids} xids in ${data.byteLength} bytes`);
  }
  sink.runningXacts(u32(data, 16), u32(data, 12), record);
}

function smgrCreate(record: WalRecord, sink: WalEventSink): void {
  const data = mainData(record, SMGR_CREATE_SIZE, 'smgr create');
  if (u32(data, 12) !== 0) return;
  sink.create(record.xid, { spcOid: u32(data, 0), dbOid: u32(data, 4), relNumber: u32(data, 8) });
}

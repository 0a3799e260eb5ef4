// RawFeed's sans-io path from the physical replication stream to committed changes (contract R27, R28):
// XLogData payloads go into a WalReader, its records through interpretRecord into a CommitGate, and what
// the gate releases comes out, minus what the consumer's first reload already covers. Pure: bytes in,
// calls out; raw-feed.ts is the shell.
//
// Where the stream starts, and what its Resync covers (contract R1, R2). The session reads, in this order:
// the start position P (IDENTIFY_SYSTEM's flush position, rounded down to a page), the watermark W
// (pg_current_wal_insert_lsn(), so W >= P), and then a snapshot S with the transactions running in it
// (physical-start.ts: S's xip and the xids above its xmax assigned before it), and streams from P. A
// commit record that ends at or before W was written before S was taken, so its transaction was either
// visible to S, and then to the reload after the Resync, or still running, and then in the running set.
// So a commit ending at or before W is dropped unless its xid is running at start (no backfill); every
// other commit is released. A transaction running at start may have written rows before P, which the
// stream never showed: its commit becomes a Resync (CommitGate's runningAtStart).
//
// Which tables' names can change (a rename, ATTACH and DETACH PARTITION, ALTER SCHEMA ... RENAME) is
// watched here too: an UPDATE of pg_class or pg_namespace, or any change of pg_inherits, reaches the gate
// as one change of a stand-in relation file (NAMES_CHANGED), so it is released exactly when the
// transaction that made it commits, and the resolver then reads the names it has cached again.

import type { ChangeOp } from '../decode/change.js';
import { CommitGate, type GateOutput, type GateRelease } from '../decode/wal/commit-gate.js';
import { interpretRecord, type WalEventSink } from '../decode/wal/interpret.js';
import { formatWalPosition } from '../decode/wal/position.js';
import { WalReader } from '../decode/wal/reader.js';
import { BlockRef, type WalRecord } from '../decode/wal/record.js';
import { WalDecodeError } from '../decode/wal/wal-error.js';
import type { RelFileLocator, XactEnd, XactPrepare } from '../decode/wal/xact.js';

/** The first OID after those initdb hands out: every relation file of a user relation is numbered above it. */
export const FIRST_NORMAL_OBJECT_ID = 16384;

/**
 * The stand-in relation file whose change means "a transaction changed table names or partition
 * trees": tablespace 0 and relfilenumber 0, which no real relation file has.
 */
export const NAMES_CHANGED = { spcOid: 0, relNumber: 0 } as const;

/** Whether `file` is the {@link NAMES_CHANGED} stand-in. */
export function isNamesChanged(file: { spcOid: number; relNumber: number }): boolean {
  return file.spcOid === NAMES_CHANGED.spcOid && file.relNumber === NAMES_CHANGED.relNumber;
}

/** The catalogs whose changes can change a table's payload, by what makes them matter. */
export interface NameCatalogFiles {
  /**
   * pg_class and pg_namespace: an UPDATE renames a relation or schema, moves one, or marks it a
   * partition. Their INSERTs and DELETEs (CREATE, DROP, temporary tables) change no existing name.
   */
  readonly renames: readonly { spcOid: number; relNumber: number }[];
  /** pg_inherits: any change attaches or detaches a partition. */
  readonly parents: readonly { spcOid: number; relNumber: number }[];
}

/** What one session's stream needs to know, read from the server before START_REPLICATION. */
export interface PhysicalStreamOptions {
  /** Where the stream starts: page-aligned, at or before `watermark`. */
  readonly startLsn: bigint;
  readonly segmentSize: number;
  readonly major: number;
  /** The connected database: relations of every other database are dropped by the gate. */
  readonly dbOid: number;
  /** pg_current_wal_insert_lsn(), read after the start position and before the snapshot. */
  readonly watermark: bigint;
  /** Top-level transactions running (or prepared) when the snapshot was taken (physical-start.ts). */
  readonly runningAtStart: readonly number[];
  readonly nameCatalogs: NameCatalogFiles;
  readonly maxTransactions?: number;
  readonly maxRelations?: number;
}

/** Where the stream's results go, in WAL order. */
export interface PhysicalStreamOutput {
  /** A transaction committed after the stream started: its row counts and relation files. */
  release(release: GateRelease): void;
  /** A commit whose effects cannot be listed (a bound was hit, or it began before the stream). */
  resync(why: string): void;
}

/** See the file comment. One per session. */
export class PhysicalStream {
  readonly #reader: WalReader;
  readonly #gate: CommitGate;
  readonly #sink: NameWatch;
  readonly #major: number;
  readonly #watermark: bigint;
  readonly #runningAtStart: ReadonlySet<number>;
  readonly #output: PhysicalStreamOutput;
  #expected: bigint;
  #records = 0;

  constructor(options: PhysicalStreamOptions, output: PhysicalStreamOutput) {
    this.#reader = new WalReader({
      startLsn: options.startLsn,
      segmentSize: options.segmentSize,
      major: options.major,
    });
    this.#major = options.major;
    this.#expected = options.startLsn;
    this.#watermark = options.watermark;
    this.#runningAtStart = new Set(options.runningAtStart);
    this.#output = output;
    this.#gate = new CommitGate(
      {
        dbOid: options.dbOid,
        runningAtStart: options.runningAtStart,
        ...(options.maxTransactions === undefined ? {} : { maxTransactions: options.maxTransactions }),
        ...(options.maxRelations === undefined ? {} : { maxRelations: options.maxRelations }),
      },
      (out) => this.#gated(out),
    );
    this.#sink = new NameWatch(this.#gate, options.dbOid, options.nameCatalogs);
  }

  /** The position of the next byte the stream must carry. */
  get position(): bigint {
    return this.#expected;
  }

  /** Records read so far. */
  get records(): number {
    return this.#records;
  }

  /** Transactions the gate tracks right now. */
  get openTransactions(): number {
    return this.#gate.transactions;
  }

  /** Learns where pg_class, pg_namespace or pg_inherits live now (after a VACUUM FULL of one). */
  set nameCatalogs(files: NameCatalogFiles) {
    this.#sink.catalogs = files;
  }

  /**
   * One XLogData payload, which must start where the last one ended: a gap or an overlap means bytes were
   * lost, and nothing read after it could be trusted. Throws WalDecodeError for that and for any bytes
   * that are not valid WAL (the session then ends, and the feed reconnects and resyncs: contract R28).
   */
  data(data: Uint8Array, walStart: bigint): void {
    if (walStart !== this.#expected) {
      throw new WalDecodeError(
        'page',
        `the stream jumped from ${formatWalPosition(this.#expected)} to ${formatWalPosition(walStart)}: WAL between them was never received`,
        walStart,
      );
    }
    this.#expected += BigInt(data.byteLength);
    const reader = this.#reader;
    reader.push(data);
    for (let record = reader.next(); record !== undefined; record = reader.next()) {
      this.#records += 1;
      interpretRecord(record, this.#major, this.#sink);
    }
  }

  #gated(out: GateOutput): void {
    // Written before the snapshot, and not running in it: the reload after the Resync sees it.
    if (out.endLsn <= this.#watermark && !this.#runningAtStart.has(out.xid)) return;
    if (out.type === 'release') this.#output.release(out);
    else
      this.#output.resync(
        out.reason === 'overflow'
          ? `transaction ${out.xid} overflowed the bounds on open transactions or relations held`
          : `transaction ${out.xid} was already running when the stream started, so some of its rows were written before it`,
      );
  }
}

/**
 * The gate's event sink, filtered: system catalogs created by initdb (numbered below
 * FIRST_NORMAL_OBJECT_ID) never nudge, so their changes stop here; a change that can rename a table
 * or change a partition tree also goes to the gate as a change of NAMES_CHANGED.
 */
class NameWatch implements WalEventSink {
  readonly #gate: CommitGate;
  readonly #dbOid: number;
  readonly #standIn = new BlockRef();
  #renames: readonly { spcOid: number; relNumber: number }[];
  #parents: readonly { spcOid: number; relNumber: number }[];

  constructor(gate: CommitGate, dbOid: number, catalogs: NameCatalogFiles) {
    this.#gate = gate;
    this.#dbOid = dbOid;
    this.#standIn.dbOid = dbOid;
    this.#standIn.spcOid = NAMES_CHANGED.spcOid;
    this.#standIn.relNumber = NAMES_CHANGED.relNumber;
    this.#renames = catalogs.renames;
    this.#parents = catalogs.parents;
  }

  set catalogs(files: NameCatalogFiles) {
    this.#renames = files.renames;
    this.#parents = files.parents;
  }

  change(xid: number, block: BlockRef, op: ChangeOp, count: number, record: WalRecord): void {
    if (block.dbOid !== this.#dbOid) return;
    const names = (op === 'update' && matches(this.#renames, block)) || matches(this.#parents, block);
    if (names) this.#gate.change(xid, this.#standIn, op, 1, record);
    if (names || block.relNumber < FIRST_NORMAL_OBJECT_ID) return;
    this.#gate.change(xid, block, op, count, record);
  }

  end(event: XactEnd): void {
    this.#gate.end(event);
  }

  prepare(event: XactPrepare): void {
    this.#gate.prepare(event);
  }

  assignment(top: number, subxacts: readonly number[]): void {
    this.#gate.assignment(top, subxacts);
  }

  create(xid: number, locator: RelFileLocator): void {
    this.#gate.create(xid, locator);
  }

  runningXacts(oldestRunningXid: number, nextXid: number, record: WalRecord): void {
    this.#gate.runningXacts(oldestRunningXid, nextXid, record);
  }
}

function matches(files: readonly { spcOid: number; relNumber: number }[], block: BlockRef): boolean {
  for (const file of files) {
    if (file.relNumber === block.relNumber && file.spcOid === block.spcOid) return true;
  }
  return false;
}

// Decodes pgoutput, PostgreSQL's built-in logical replication protocol (versions 1 to 4), into
// committed changes per relation. Reads only what names the relation and the op, and walks tuples
// without materialising them. Sans-io: one XLogData payload per decode() call.
//
// When a change may nudge:
// - An ordinary transaction (Begin ... Commit) reaches the client only after the server decoded its
//   commit, so its changes are committed already: each is passed on as it arrives, with no buffering.
// - A transaction streamed while in progress (protocol 2+, Stream Start ... Stream Stop blocks, then
//   Stream Commit or Stream Abort) is held, as counts per subtransaction and relation, and released
//   at Stream Commit. Stream Abort of the top-level xid drops it all; of a subtransaction, only that
//   subtransaction's changes.
// - A transaction decoded at PREPARE (protocol 3+ with two_phase: Begin Prepare ... Prepare, or a
//   streamed one ending in Stream Prepare) is not committed yet: its readers would see nothing. It is
//   held until COMMIT PREPARED releases it; ROLLBACK PREPARED drops it. (pgnudge starts pgoutput
//   without two_phase, so the server decodes a prepared transaction at COMMIT PREPARED as an ordinary
//   or streamed one; this path keeps the decoder right for a stream that has it anyway.)
// Held state is capped (HeldTransactions); a commit that the cap made the decoder forget becomes
// sink.overflow(), for the feed to turn into Resync('overflow'). Coarser, never wrong.
//
// Row keys (contract R22, R23), when the sink asks for them (keyColumns and row): an INSERT names its new
// row's key, a DELETE its old key ('K' or 'O' tuple), an UPDATE its new key and, when the old one differs,
// the old key too. A new key column sent as unchanged TOAST ('u') is the old key's value when the message
// carries the old key, else unknown. A key that cannot be read becomes a table-level change: coarser,
// never wrong. Held transactions hold keys as counts per key, capped (see HeldTransactions).

import type { ChangeOp } from './change.js';
import { type HeldTransaction, HeldTransactions, OPS, type OpIndex } from './pgoutput-holds.js';
import { TupleKeyReader } from './pgoutput-key.js';
import { checkType, type PgoutputRelation, parseRelation, RelationCache } from './pgoutput-relation.js';
import { expectEnd, fail, need, readU32, skipTuple, stringEnd, u32 } from './pgoutput-wire.js';

export type { PgoutputColumn, PgoutputRelation } from './pgoutput-relation.js';

/** Receives what the pgoutput decoder finds. Neither method is called for a message that fails. */
export interface PgoutputSink {
  /**
   * `count` committed changes `op` to `relation` (for `truncate`: TRUNCATE commands naming it). An
   * ordinary transaction's changes come one at a time as they arrive; a held transaction's come at
   * its commit, summed per relation and op, in the order each relation was first changed.
   */
  change(relation: PgoutputRelation, op: ChangeOp, count: number): void;
  /**
   * With row keys on: the key columns of `relation`, as ascending indexes into `relation.columns`, or
   * null when its changes are table-level (no key, or not known yet). Asked for every row change, so
   * it should answer from a cache. Give both this and {@link row}, or neither (keys off).
   */
  keyColumns?(relation: PgoutputRelation): readonly number[] | null;
  /**
   * With row keys on: whether a row change to `relation` now counts exactly as a table-level one (its
   * rows folded in the pending batch, BatchEngine.rowsFolded). Then an ordinary transaction's INSERT or
   * DELETE, and an UPDATE that sends no old key, is counted without reading its key: a big transaction
   * reads at most maxKeys keys per table per batch. Asked only of rows that are counted at once.
   */
  rowsFolded?(relation: PgoutputRelation): boolean;
  /**
   * With row keys on: `count` committed changes to the row of `relation` whose key is `key` (the text
   * of the columns keyColumns named, in that order; the array is reused, copy it to keep it). A null
   * `key`: row changes whose keys a held transaction stopped keeping past a cap (table-level).
   * Ordinary transactions' rows come one at a time; a held transaction's at its commit, per key.
   */
  row?(relation: PgoutputRelation, key: readonly string[] | null, count: number): void;
  /**
   * A transaction committed that the decoder had stopped holding because a cap was reached: which
   * tables it changed is unknown. The feed must reload everything.
   */
  overflow(): void;
}

/** Caps on the decoder's memory. Defaults suit any one server; see createPgoutputDecoder. */
export interface PgoutputDecoderLimits {
  /** Most transactions held at once, streamed in progress or prepared. Default 1024. */
  maxHeldTransactions?: number;
  /** Most held (transaction, subtransaction, relation) entries, over all transactions. Default 10000. */
  maxHeldEntries?: number;
  /** Most relations remembered; the one described longest ago is forgotten first. Default 65536. */
  maxRelations?: number;
  /**
   * With row keys: most distinct keys held per (transaction, subtransaction, relation) before they
   * collapse into one table-level count (the feed passes its maxKeys, contract R24). Default 1000.
   */
  maxHeldKeysPerRelation?: number;
  /** With row keys: most keys held over all transactions; past it the entry that needs more collapses. Default 100000. */
  maxHeldKeys?: number;
}

const DEFAULT_LIMITS: Required<PgoutputDecoderLimits> = {
  maxHeldTransactions: 1024,
  maxHeldEntries: 10_000,
  maxRelations: 65_536,
  maxHeldKeysPerRelation: 1000,
  maxHeldKeys: 100_000,
};

/**
 * A decoder for one pgoutput session: its relation cache and held transactions are that session's,
 * so give each connection a new one. Malformed or out-of-order input throws DecodeError (plugin
 * `pgoutput`) and changes nothing; the session is then unusable, as the server's stream is.
 * `limits` bound memory; each must be a positive integer (RangeError otherwise).
 */
export function createPgoutputDecoder(limits: PgoutputDecoderLimits = {}): PgoutputDecoder {
  return new PgoutputDecoder(limits);
}

// Where the stream is: outside any block, or inside one kind of block.
const NONE = 0;
const TRANSACTION = 1; // Begin ... Commit
const PREPARE = 2; // Begin Prepare ... Prepare
const STREAM = 3; // Stream Start ... Stream Stop
type Block = typeof NONE | typeof TRANSACTION | typeof PREPARE | typeof STREAM;
const BLOCK_NAMES = ['no transaction', 'a transaction', 'a prepared transaction', 'a stream block'];

const INSERT: OpIndex = 0;
const UPDATE: OpIndex = 1;
const DELETE: OpIndex = 2;
const TRUNCATE: OpIndex = 3;

const ROW_MESSAGES = ['an Insert message', 'an Update message', 'a Delete message'];

const NEW_TUPLE = 0x4e; // N
const KEY_TUPLE = 0x4b; // K
const OLD_TUPLE = 0x4f; // O

/** A pgoutput decoder; see createPgoutputDecoder. */
export class PgoutputDecoder {
  readonly plugin = 'pgoutput';
  readonly #relations: RelationCache;
  readonly #held: HeldTransactions;
  #block: Block = NONE;
  /** The top-level xid of the open prepare or stream block. */
  #xid = 0;
  #committed = 0;
  /** Where the open prepare or stream block's changes go; null when that transaction is not held. */
  #hold: HeldTransaction | null = null;
  readonly #keys = new TupleKeyReader();
  /** The key before and after a row change; reused. */
  readonly #before: string[] = [];
  readonly #after: string[] = [];

  /**
   * The top-level xid of the transaction whose committed changes the sink is hearing now (0 before the
   * first). Its commit record is written, but other sessions may not see it for a moment yet (a commit
   * leaves the server's list of running transactions after its record is flushed): a catalog look-up
   * about its changes must wait until it is visible.
   */
  get committedXid(): number {
    return this.#committed;
  }

  constructor(limits: PgoutputDecoderLimits = {}) {
    const { maxHeldTransactions, maxHeldEntries, maxRelations, maxHeldKeysPerRelation, maxHeldKeys } = {
      ...DEFAULT_LIMITS,
      ...limits,
    };
    this.#held = new HeldTransactions({
      maxTransactions: positive(maxHeldTransactions, 'maxHeldTransactions'),
      maxEntries: positive(maxHeldEntries, 'maxHeldEntries'),
      maxKeysPerEntry: positive(maxHeldKeysPerRelation, 'maxHeldKeysPerRelation'),
      maxKeys: positive(maxHeldKeys, 'maxHeldKeys'),
    });
    this.#relations = new RelationCache(positive(maxRelations, 'maxRelations'));
  }

  /** Transactions held now (streamed in progress, or prepared). */
  get heldTransactions(): number {
    return this.#held.size;
  }

  /** Entries held now; at most maxHeldEntries. */
  get heldEntries(): number {
    return this.#held.entries;
  }

  /** Row keys held now; at most maxHeldKeys. */
  get heldKeys(): number {
    return this.#held.keys;
  }

  /** Relations remembered now; at most maxRelations. */
  get relationCount(): number {
    return this.#relations.size;
  }

  /** The relation last described with `oid` outside a stream block, if remembered. */
  relation(oid: number): PgoutputRelation | undefined {
    return this.#relations.get(oid);
  }

  /** Decodes one pgoutput message (the payload of one XLogData). */
  decode(data: Uint8Array, sink: PgoutputSink): void {
    if (data.length === 0) fail('empty message', 0);
    switch (data[0]) {
      case 0x49: // I
        this.#row(data, sink, INSERT);
        return;
      case 0x55: // U
        this.#row(data, sink, UPDATE);
        return;
      case 0x44: // D
        this.#row(data, sink, DELETE);
        return;
      case 0x54: // T
        this.#truncate(data, sink);
        return;
      case 0x42: // B: Int64 final LSN, Int64 commit time, Int32 xid
        expectLength(data, 21, 'Begin');
        this.#enter(TRANSACTION, 'Begin');
        this.#committed = u32(data, 17);
        return;
      case 0x43: // C: Int8 flags, Int64 commit LSN, Int64 end LSN, Int64 commit time
        expectLength(data, 26, 'Commit');
        expectFlags(data, 'Commit');
        this.#leave(TRANSACTION, 'Commit');
        return;
      case 0x52: // R
        this.#relation(data);
        return;
      case 0x59: // Y: a user type's name, for subscribers that map types; nothing to nudge
        checkType(data, this.#afterXid(data, 'Type'));
        return;
      case 0x4f: // O: the origin of the transaction being sent; every origin nudges alike
        need(data, 1, 8, 'origin LSN');
        expectEnd(data, stringEnd(data, 9, 'origin name') + 1, 'an Origin message');
        return;
      case 0x4d: // M: a logical decoding message (pg_logical_emit_message), not a row change
        this.#message(data);
        return;
      case 0x53: // S
        this.#streamStart(data);
        return;
      case 0x45: // E
        expectLength(data, 1, 'Stream Stop');
        this.#leave(STREAM, 'Stream Stop');
        this.#hold = null;
        return;
      case 0x63: // c: Int32 xid, Int8 flags, Int64 commit LSN, Int64 end LSN, Int64 commit time
        expectLength(data, 30, 'Stream Commit');
        this.#streamCommit(data, sink);
        return;
      case 0x41: // A
        this.#streamAbort(data);
        return;
      case 0x62: // b
        this.#beginPrepare(data);
        return;
      case 0x50: // P
        this.#prepare(data, 'Prepare');
        return;
      case 0x70: // p
        this.#prepare(data, 'Stream Prepare');
        return;
      case 0x4b: // K
        this.#finishPrepared(data, sink, true);
        return;
      case 0x72: // r
        this.#finishPrepared(data, sink, false);
        return;
      default:
        fail(`unknown message type ${data[0]}`, 0);
    }
  }

  /** INSERT, UPDATE or DELETE: relation OID, then the tuples, skipped. */
  #row(data: Uint8Array, sink: PgoutputSink, op: OpIndex): void {
    const block = this.#block;
    if (block === NONE) fail(`${OPS[op]} outside a transaction`, 0);
    const at = this.#afterXid(data, 'row change');
    const oid = readU32(data, at, 'relation OID');
    const relation = this.#target(oid, at);
    if (relation !== undefined && sink.keyColumns !== undefined) {
      const keyColumns = sink.keyColumns(relation);
      if (
        keyColumns !== null &&
        keyColumns.length > 0 &&
        // A held transaction counts at its commit, into whatever batch is pending then: keep its keys.
        !(
          block === TRANSACTION &&
          (op !== UPDATE || data[at + 4] === NEW_TUPLE) &&
          sink.rowsFolded?.(relation) === true
        )
      ) {
        this.#keyedRow(data, sink, op, at, relation, keyColumns);
        return;
      }
    }
    const columns = relation?.columns.length;
    let i = at + 4;
    if (op === INSERT) {
      i = skipTuple(data, expectTuple(data, i, NEW_TUPLE), columns);
    } else {
      need(data, i, 1, 'tuple kind');
      const kind = data[i];
      if (kind === KEY_TUPLE || kind === OLD_TUPLE) {
        i = skipTuple(data, i + 1, columns);
        if (op === UPDATE) i = skipTuple(data, expectTuple(data, i, NEW_TUPLE), columns);
      } else if (op === UPDATE && kind === NEW_TUPLE) {
        i = skipTuple(data, i + 1, columns);
      } else {
        fail(op === UPDATE ? "expected tuple kind 'K', 'O' or 'N'" : "expected tuple kind 'K' or 'O'", i);
      }
    }
    expectEnd(data, i, ROW_MESSAGES[op]!);
    if (relation === undefined) return;
    if (block === TRANSACTION) sink.change(relation, OPS[op]!, 1);
    else this.#count(at === 5 ? u32(data, 1) : this.#xid, relation, op);
  }

  /** A row change of a relation with key columns `keyColumns`: reads the key before and after, then counts it. */
  #keyedRow(
    data: Uint8Array,
    sink: PgoutputSink,
    op: OpIndex,
    at: number,
    relation: PgoutputRelation,
    keyColumns: readonly number[],
  ): void {
    const reader = this.#keys;
    const columns = relation.columns.length;
    const before = this.#before;
    const after = this.#after;
    before.length = keyColumns.length;
    after.length = keyColumns.length;
    let old: 'read' | 'unchanged' | 'unreadable' | 'absent' = 'absent';
    let fresh: 'read' | 'unchanged' | 'unreadable' | 'absent' = 'absent';
    let i = at + 4;
    if (op === INSERT) {
      fresh = reader.read(data, expectTuple(data, i, NEW_TUPLE), columns, keyColumns, after);
      i = reader.end;
    } else {
      need(data, i, 1, 'tuple kind');
      const kind = data[i];
      if (kind === KEY_TUPLE || kind === OLD_TUPLE) {
        old = reader.read(data, i + 1, columns, keyColumns, before);
        i = reader.end;
        if (op === UPDATE) {
          fresh = reader.read(data, expectTuple(data, i, NEW_TUPLE), columns, keyColumns, after);
          i = reader.end;
        }
      } else if (op === UPDATE && kind === NEW_TUPLE) {
        fresh = reader.read(data, i + 1, columns, keyColumns, after);
        i = reader.end;
      } else {
        fail(op === UPDATE ? "expected tuple kind 'K', 'O' or 'N'" : "expected tuple kind 'K' or 'O'", i);
      }
    }
    expectEnd(data, i, ROW_MESSAGES[op]!);
    // An old key with an unchanged TOASTed column is no key; an unchanged new one is the old key's.
    if (old === 'unchanged') old = 'unreadable';
    if (fresh === 'unchanged' && old === 'read') {
      const unchanged = reader.unchanged;
      for (let k = 0; k < after.length; k++) if ((unchanged & (1 << k)) !== 0) after[k] = before[k]!;
      fresh = 'read';
    }
    const sub = at === 5 ? u32(data, 1) : this.#xid;
    if (op === DELETE ? old !== 'read' : fresh !== 'read' || old === 'unreadable') {
      if (this.#block === TRANSACTION) sink.change(relation, OPS[op]!, 1);
      else this.#count(sub, relation, op);
      return;
    }
    if (op !== INSERT && old === 'read' && (op === DELETE || !sameKey(before, after))) {
      this.#countKey(sink, sub, relation, before);
    }
    if (op !== DELETE) this.#countKey(sink, sub, relation, after);
  }

  #countKey(sink: PgoutputSink, sub: number, relation: PgoutputRelation, key: readonly string[]): void {
    if (this.#block === TRANSACTION) sink.row!(relation, key, 1);
    // Null once a cap dropped the transaction (between the old and the new key of one UPDATE, too).
    else if (this.#hold !== null && !this.#held.addKey(this.#hold, sub, relation, key, 1)) this.#untrack();
  }

  /** TRUNCATE: Int32 relation count, Int8 flags, that many OIDs. Counts 1 per relation. */
  #truncate(data: Uint8Array, sink: PgoutputSink): void {
    const block = this.#block;
    if (block === NONE) fail('truncate outside a transaction', 0);
    const at = this.#afterXid(data, 'Truncate');
    const count = readU32(data, at, 'relation count');
    if (count === 0) fail('a Truncate message names no relation', at);
    need(data, at + 4, 1, 'truncate flags');
    const first = at + 5;
    // Checked before the loop, so a hostile count cannot make it run past the message.
    if (data.length - first !== count * 4)
      fail(`a Truncate message with the wrong length for ${count} relations`, first);
    const relations: PgoutputRelation[] = [];
    for (let i = first; i < data.length; i += 4) {
      const relation = this.#target(u32(data, i), i);
      if (relation !== undefined) relations.push(relation);
    }
    const sub = at === 5 ? u32(data, 1) : this.#xid;
    for (const relation of relations) {
      if (block === TRANSACTION) sink.change(relation, 'truncate', 1);
      else this.#count(sub, relation, TRUNCATE);
    }
  }

  /**
   * The relation a change in the current block names, or undefined when the block's transaction is
   * not held (a cap dropped it: its changes need no relation). An OID never described is a protocol
   * violation: the server always describes a relation before its first change.
   */
  #target(oid: number, at: number): PgoutputRelation | undefined {
    const hold = this.#hold;
    if (this.#block !== TRANSACTION && hold === null) return undefined;
    const relation =
      (this.#block === STREAM ? hold!.relations.get(oid) : undefined) ?? this.#relations.get(oid);
    if (relation === undefined)
      fail(`a change to relation OID ${oid}, which no Relation message described`, at);
    return relation;
  }

  #count(sub: number, relation: PgoutputRelation, op: OpIndex): void {
    // Null once a cap dropped the transaction, possibly between two relations of one Truncate.
    if (this.#hold !== null && !this.#held.add(this.#hold, sub, relation, op, 1)) this.#untrack();
  }

  #relation(data: Uint8Array): void {
    const relation = parseRelation(data, this.#afterXid(data, 'Relation'));
    const hold = this.#hold;
    // A subscriber applies what a stream block describes when that transaction commits, and the
    // server relies on it: after a Stream Commit it does not describe those relations again. So the
    // description stays with its transaction until then, unless a cap dropped the transaction (below).
    if (this.#block !== STREAM || hold === null) {
      this.#relations.set(relation);
    } else if (!this.#held.describe(hold, relation)) {
      this.#untrack();
      this.#relations.set(relation);
    }
  }

  /**
   * Stops holding the open block's transaction after a cap dropped it. Whether it commits is not
   * known yet, and if it does the server will not describe its relations again; so what it described
   * applies at once. Transactions in between are described again by the server anyway, since the
   * schema change that made it describe a relation also invalidates the server's note that it did.
   */
  #untrack(): void {
    for (const relation of this.#hold!.relations.values()) this.#relations.set(relation);
    this.#hold = null;
  }

  /** MESSAGE: Int8 flags, Int64 LSN, String prefix, Int32 length, the content. */
  #message(data: Uint8Array): void {
    const at = this.#afterXid(data, 'Message');
    need(data, at, 9, 'message flags and LSN');
    if (data[at]! > 1) fail(`unknown message flags ${data[at]}`, at);
    const lengthAt = stringEnd(data, at + 9, 'message prefix') + 1;
    expectEnd(data, lengthAt + 4 + readU32(data, lengthAt, 'message length'), 'a Message message');
  }

  /** STREAM START: Int32 xid, Int8 1 for the transaction's first block. */
  #streamStart(data: Uint8Array): void {
    expectLength(data, 6, 'Stream Start');
    this.#expectOutside('Stream Start');
    const xid = u32(data, 1);
    const first = data[5];
    if (xid === 0) fail('Stream Start for transaction 0', 1);
    if (first !== 0 && first !== 1) fail(`unknown first-segment flag ${first}`, 5);
    let hold: HeldTransaction | null | undefined = this.#held.get(xid);
    if (first === 1) {
      if (hold !== undefined) fail(`transaction ${xid} streams its first block twice`, 5);
      hold = this.#held.open(xid);
    } else if (hold === undefined) {
      // Once a cap dropped a transaction, the next blocks of it are expected and skipped.
      if (!this.#held.lost) fail(`Stream Start continues transaction ${xid}, which never started`, 1);
      hold = null;
    } else if (hold.prepared) {
      fail(`Stream Start continues transaction ${xid}, which is prepared already`, 1);
    }
    this.#block = STREAM;
    this.#xid = xid;
    this.#hold = hold;
  }

  #streamCommit(data: Uint8Array, sink: PgoutputSink): void {
    expectFlags(data, 'Stream Commit', 5);
    this.#expectOutside('Stream Commit');
    const xid = u32(data, 1);
    const held = this.#held.get(xid);
    if (held === undefined) {
      if (!this.#held.lost) fail(`Stream Commit of transaction ${xid}, which never streamed`, 1);
      sink.overflow();
      return;
    }
    if (held.prepared) fail(`Stream Commit of transaction ${xid}, which is prepared`, 1);
    this.#release(xid, sink);
  }

  /** STREAM ABORT: Int32 xid, Int32 subxid, and with streaming 'parallel' Int64 abort LSN, Int64 abort time. */
  #streamAbort(data: Uint8Array): void {
    if (data.length !== 9 && data.length !== 25) {
      fail(`a Stream Abort message of ${data.length} bytes (expected 9, or 25 with parallel streaming)`, 0);
    }
    this.#expectOutside('Stream Abort');
    const xid = u32(data, 1);
    const sub = u32(data, 5);
    const held = this.#held.get(xid);
    // A transaction dropped by a cap, or one that changed nothing published, has nothing to forget.
    if (held === undefined) return;
    if (held.prepared) fail(`Stream Abort of transaction ${xid}, which is prepared`, 1);
    if (sub === xid) this.#held.take(xid);
    else this.#held.abortSubtransaction(held, sub);
  }

  /** BEGIN PREPARE: Int64 prepare LSN, Int64 end LSN, Int64 prepare time, Int32 xid, String gid. */
  #beginPrepare(data: Uint8Array): void {
    need(data, 1, 28, 'Begin Prepare');
    expectEnd(data, stringEnd(data, 29, 'transaction GID') + 1, 'a Begin Prepare message');
    const xid = u32(data, 25);
    if (this.#held.get(xid) !== undefined)
      fail(`Begin Prepare of transaction ${xid}, which is held already`, 25);
    this.#enter(PREPARE, 'Begin Prepare');
    this.#xid = xid;
    this.#hold = this.#held.open(xid);
  }

  /** PREPARE and STREAM PREPARE: Int8 flags, Int64 prepare LSN, Int64 end LSN, Int64 time, Int32 xid, String gid. */
  #prepare(data: Uint8Array, what: 'Prepare' | 'Stream Prepare'): void {
    need(data, 1, 29, what);
    expectFlags(data, what);
    expectEnd(data, stringEnd(data, 30, 'transaction GID') + 1, `a ${what} message`);
    const xid = u32(data, 26);
    if (what === 'Prepare') {
      if (this.#block === PREPARE && xid !== this.#xid) {
        fail(`Prepare of transaction ${xid} inside Begin Prepare of ${this.#xid}`, 26);
      }
      this.#leave(PREPARE, what);
      this.#hold = null;
    } else {
      this.#expectOutside(what);
    }
    const held = this.#held.get(xid);
    if (held === undefined) {
      // Dropped by a cap: COMMIT PREPARED will say overflow. Otherwise a stream that never started.
      if (what === 'Stream Prepare' && !this.#held.lost) {
        fail(`Stream Prepare of transaction ${xid}, which never streamed`, 26);
      }
      return;
    }
    if (held.prepared) fail(`transaction ${xid} is prepared twice`, 26);
    held.prepared = true;
    // What its stream blocks described applies once prepared, as a subscriber applies it then.
    for (const relation of this.#held.takeRelations(held)) this.#relations.set(relation);
  }

  /**
   * COMMIT PREPARED (Int8 flags, Int64 commit LSN, Int64 end LSN, Int64 commit time, Int32 xid, String
   * gid) releases; ROLLBACK PREPARED (Int8 flags, Int64 prepare end LSN, Int64 rollback end LSN, Int64
   * prepare time, Int64 rollback time, Int32 xid, String gid) drops.
   */
  #finishPrepared(data: Uint8Array, sink: PgoutputSink, commit: boolean): void {
    const what = commit ? 'Commit Prepared' : 'Rollback Prepared';
    const xidAt = commit ? 26 : 34;
    need(data, 1, xidAt + 3, what);
    expectFlags(data, what);
    expectEnd(data, stringEnd(data, xidAt + 4, 'transaction GID') + 1, `a ${what} message`);
    this.#expectOutside(what);
    const xid = u32(data, xidAt);
    const held = this.#held.get(xid);
    if (held === undefined) {
      // Not held: prepared before this session could see it, or dropped by a cap (then it may have
      // changed anything).
      if (commit && this.#held.lost) sink.overflow();
      return;
    }
    if (!held.prepared) fail(`${what} of transaction ${xid}, which was never prepared`, xidAt);
    if (commit) this.#release(xid, sink);
    else this.#held.take(xid);
  }

  #release(xid: number, sink: PgoutputSink): void {
    const held = this.#held.take(xid)!;
    this.#committed = xid;
    for (const relation of held.relations.values()) this.#relations.set(relation);
    held.release(
      (relation, op, count) => sink.change(relation, op, count),
      (relation, key, count) => {
        if (sink.row === undefined) throw new TypeError('a sink that gives keyColumns must give row too');
        sink.row(relation, key, count);
      },
    );
  }

  /** Index past the xid that messages inside a stream block carry (past the type byte elsewhere). */
  #afterXid(data: Uint8Array, what: string): number {
    if (this.#block !== STREAM) return 1;
    const xid = readU32(data, 1, `${what} transaction id`);
    if (xid === 0) fail(`${what} for transaction 0 inside a stream block`, 1);
    return 5;
  }

  #enter(block: Block, what: string): void {
    if (this.#block !== NONE) fail(`${what} inside ${BLOCK_NAMES[this.#block]}`, 0);
    this.#block = block;
  }

  #leave(block: Block, what: string): void {
    if (this.#block !== block) fail(`${what} outside ${BLOCK_NAMES[block]}`, 0);
    this.#block = NONE;
  }

  #expectOutside(what: string): void {
    if (this.#block !== NONE) fail(`${what} inside ${BLOCK_NAMES[this.#block]}`, 0);
  }
}

function sameKey(a: readonly string[], b: readonly string[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function expectLength(data: Uint8Array, length: number, what: string): void {
  if (data.length !== length) fail(`a ${what} message of ${data.length} bytes (expected ${length})`, 0);
}

/** The flags byte (at 1 unless said otherwise) that the server always sends as 0. */
function expectFlags(data: Uint8Array, what: string, at = 1): void {
  if (data[at] !== 0) fail(`unknown ${what} flags ${data[at]}`, at);
}

function expectTuple(data: Uint8Array, at: number, kind: number): number {
  need(data, at, 1, 'tuple kind');
  if (data[at] !== kind) fail(`expected tuple kind '${String.fromCharCode(kind)}'`, at);
  return at + 1;
}

function positive(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  return value;
}

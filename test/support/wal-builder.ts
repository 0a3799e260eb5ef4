// Writes WAL the way XLogInsert lays it out (page headers, long headers at segment starts, contrecords,
// MAXALIGN padding, XLOG_SWITCH's zero-filled tail, CRC-32C, xl_prev links), for unit and property tests
// of the reader on inputs a real server will not produce on demand (hostile lengths, overwritten
// contrecords, unknown page magic).
import { PAGE_MAGIC_BY_MAJOR, PAGE_SIZE, RECORD_HEADER } from '../../src/decode/wal/constants.js';
import { CRC32C_INIT, crc32cFinish, crc32cUpdate } from '../../src/decode/wal/crc32c.js';

/** One block reference of a built record. */
export interface BlockSpec {
  id: number;
  fork?: number;
  spc?: number;
  db?: number;
  rel?: number;
  blk?: number;
  sameRel?: boolean;
  data?: Uint8Array;
  /** A full-page image: `length` bytes (default: a whole page without hole), with the BKPIMAGE_* `info`. */
  image?: { length?: number; holeOffset?: number; holeLength?: number; info?: number } | undefined;
}

/** A record to write; `body` replaces the assembled block headers and data when given. */
export interface RecordSpec {
  rmid: number;
  info?: number;
  xid?: number;
  blocks?: BlockSpec[];
  main?: Uint8Array;
  topXid?: number;
  origin?: number;
  body?: Uint8Array;
  /** Writes a wrong CRC. */
  badCrc?: boolean;
}

class Bytes {
  readonly parts: number[] = [];
  u8(v: number) {
    this.parts.push(v & 0xff);
    return this;
  }
  u16(v: number) {
    return this.u8(v).u8(v >>> 8);
  }
  u32(v: number) {
    return this.u16(v & 0xffff).u16(v >>> 16);
  }
  bytes(b: Uint8Array) {
    for (const x of b) this.parts.push(x);
    return this;
  }
  done() {
    return Uint8Array.from(this.parts);
  }
}

/** The bytes after the 24-byte record header: block headers, origin, top-level xid, main-data header, payloads. */
export function recordBody(spec: RecordSpec): Uint8Array {
  if (spec.body !== undefined) return spec.body;
  const out = new Bytes();
  const payloads: Uint8Array[] = [];
  for (const block of spec.blocks ?? []) {
    const image = block.image;
    const data = block.data ?? new Uint8Array(0);
    let flags = (block.fork ?? 0) & 0x0f;
    if (image !== undefined) flags |= 0x10;
    if (data.byteLength > 0) flags |= 0x20;
    if (block.sameRel) flags |= 0x80;
    out.u8(block.id).u8(flags).u16(data.byteLength);
    if (image !== undefined) {
      const info = image.info ?? 0;
      const compressed = (info & 0x1c) !== 0;
      const length = image.length ?? PAGE_SIZE - (image.holeLength ?? 0);
      out
        .u16(length)
        .u16(image.holeOffset ?? 0)
        .u8(info);
      if (compressed && (info & 0x01) !== 0) out.u16(image.holeLength ?? 0);
      payloads.push(new Uint8Array(length).fill(0x5a));
    }
    if (!block.sameRel)
      out
        .u32(block.spc ?? 1663)
        .u32(block.db ?? 5)
        .u32(block.rel ?? 16384);
    out.u32(block.blk ?? 0);
    payloads.push(data);
  }
  if (spec.origin !== undefined) out.u8(253).u16(spec.origin);
  if (spec.topXid !== undefined) out.u8(252).u32(spec.topXid);
  const main = spec.main ?? new Uint8Array(0);
  if (main.byteLength > 0) {
    if (main.byteLength < 256) out.u8(255).u8(main.byteLength);
    else out.u8(254).u32(main.byteLength);
  }
  for (const p of payloads) out.bytes(p);
  out.bytes(main);
  return out.done();
}

/** The whole record, header included, with its CRC; `prev` is the previous record's start. */
export function recordBytes(spec: RecordSpec, prev: bigint): Uint8Array {
  const body = recordBody(spec);
  const out = new Uint8Array(RECORD_HEADER + body.byteLength);
  const view = new DataView(out.buffer);
  view.setUint32(0, out.byteLength, true);
  view.setUint32(4, spec.xid ?? 0, true);
  view.setBigUint64(8, prev, true);
  out[16] = spec.info ?? 0;
  out[17] = spec.rmid;
  out.set(body, RECORD_HEADER);
  const crc = crc32cFinish(
    crc32cUpdate(crc32cUpdate(CRC32C_INIT, out, RECORD_HEADER, out.byteLength), out, 0, 20),
  );
  view.setUint32(20, spec.badCrc ? crc ^ 1 : crc, true);
  return out;
}

export interface WalOptions {
  startLsn: bigint;
  segmentSize: number;
  major?: number;
  magic?: number;
  timeline?: number;
  systemId?: bigint;
  /** Position of the record before the first (xl_prev of the first record). */
  prev?: bigint;
}

/** A growable byte buffer. */
class Output {
  buf = new Uint8Array(1 << 16);
  length = 0;
  reserve(n: number): void {
    if (this.length + n <= this.buf.byteLength) return;
    const next = new Uint8Array(Math.max(this.buf.byteLength * 2, this.length + n));
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
  }
  write(bytes: Uint8Array): void {
    this.reserve(bytes.byteLength);
    this.buf.set(bytes, this.length);
    this.length += bytes.byteLength;
  }
  zeros(n: number): void {
    this.reserve(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
}

/** Lays records out as WAL from `startLsn` (page-aligned). Returns the bytes and each record's start and end. */
export function buildWal(
  specs: (RecordSpec | Uint8Array)[],
  options: WalOptions,
): { bytes: Uint8Array; starts: bigint[]; ends: bigint[] } {
  const seg = options.segmentSize;
  const magic = options.magic ?? PAGE_MAGIC_BY_MAJOR.get(options.major ?? 17)!;
  const out = new Output();
  // Positions as numbers: exact below 2^53, far above anything a test builds.
  const base = options.startLsn;
  let pos = 0;
  const lsn = () => base + BigInt(pos);
  let prev = options.prev ?? 0n;
  const starts: bigint[] = [];
  const ends: bigint[] = [];
  const segOffset = Number(base % BigInt(seg));
  const pageHeader = (remaining: number) => {
    const long = (segOffset + pos) % seg === 0;
    const at = lsn();
    const b = new Bytes()
      .u16(magic)
      .u16((remaining > 0 ? 1 : 0) | (long ? 2 : 0))
      .u32(options.timeline ?? 1)
      .u32(Number(at & 0xffff_ffffn))
      .u32(Number(at >> 32n))
      .u32(remaining)
      .u32(0);
    if (long) {
      const sys = options.systemId ?? 7_000_000_000_000_000_000n;
      b.u32(Number(sys & 0xffff_ffffn))
        .u32(Number(sys >> 32n))
        .u32(seg)
        .u32(PAGE_SIZE);
    }
    const bytes = b.done();
    out.write(bytes);
    pos += bytes.byteLength;
  };
  const emit = (bytes: Uint8Array) => {
    let i = 0;
    while (i < bytes.byteLength) {
      if (pos % PAGE_SIZE === 0) pageHeader(i === 0 ? 0 : bytes.byteLength - i);
      const n = Math.min(PAGE_SIZE - (pos % PAGE_SIZE), bytes.byteLength - i);
      out.write(bytes.subarray(i, i + n));
      pos += n;
      i += n;
    }
  };
  for (const spec of specs) {
    if (pos % PAGE_SIZE === 0) pageHeader(0);
    const start = lsn();
    starts.push(start);
    const record = spec instanceof Uint8Array ? spec : recordBytes(spec, prev);
    prev = start;
    emit(record);
    const pad = (8 - (pos % 8)) % 8;
    out.zeros(pad);
    pos += pad;
    const isSwitch = !(spec instanceof Uint8Array) && spec.rmid === 0 && ((spec.info ?? 0) & 0xf0) === 0x40;
    if (isSwitch) {
      const rest = (seg - ((segOffset + pos) % seg)) % seg;
      out.zeros(rest);
      pos += rest;
    }
    ends.push(lsn());
  }
  return { bytes: out.buf.slice(0, out.length), starts, ends };
}

/** Main data of a commit record (XLOG_XACT_COMMIT with XLOG_XACT_HAS_INFO) with subxacts and dropped files. */
export function commitMain(subxacts: number[], relFiles: [number, number, number][] = []): Uint8Array {
  const b = new Bytes().u32(0).u32(0);
  let xinfo = 0;
  if (subxacts.length > 0) xinfo |= 2;
  if (relFiles.length > 0) xinfo |= 4;
  b.u32(xinfo);
  if (subxacts.length > 0) {
    b.u32(subxacts.length);
    for (const x of subxacts) b.u32(x);
  }
  if (relFiles.length > 0) {
    b.u32(relFiles.length);
    for (const [spc, db, rel] of relFiles) b.u32(spc).u32(db).u32(rel);
  }
  return b.done();
}

/** Little-endian helper for tests that hand-craft main data. */
export function le(...words: [size: 1 | 2 | 4, value: number][]): Uint8Array {
  const b = new Bytes();
  for (const [size, value] of words) {
    if (size === 1) b.u8(value);
    else if (size === 2) b.u16(value);
    else b.u32(value);
  }
  return b.done();
}

// WalReader: turns the bytes of a physical replication stream (the XLogData payloads after
// START_REPLICATION PHYSICAL, contiguous from a page-aligned position, chunked any way) into WAL records.
// Sans-io: push(bytes), then next() until it returns undefined. It reads page headers (short and long
// forms), records that straddle pages or chunks, MAXALIGN padding, XLOG_SWITCH's zero-filled segment tail,
// the remainder of a record begun before the start, and overwritten contrecords; it verifies every page
// address and every record's CRC-32C and xl_prev link, as xlogreader.c does.
//
// Memory: a record that lies in one chunk and one page is decoded where it lies. Any other is streamed:
// its 24-byte header and first MAX_HEADERS_LENGTH body bytes are copied into fixed buffers, its main data
// into a reused buffer (only for the resource managers RawFeed interprets, and only up to
// maxMainDataLength), and block data and page images are checksummed and dropped. So a 1 GB record costs
// no more memory than a 100-byte one.

import {
  ALIGN,
  LONG_PAGE_HEADER,
  MAJOR_BY_PAGE_MAGIC,
  MAX_HEADERS_LENGTH,
  MAX_RECORD_LENGTH,
  MAX_SEGMENT_SIZE,
  MIN_SEGMENT_SIZE,
  PAGE_MAGIC_BY_MAJOR,
  PAGE_SIZE,
  RECORD_HEADER,
  RM_HEAP_ID,
  RM_HEAP2_ID,
  RM_MAX_BUILTIN_ID,
  RM_MIN_CUSTOM_ID,
  RM_SMGR_ID,
  RM_STANDBY_ID,
  RM_XACT_ID,
  RM_XLOG_ID,
  SHORT_PAGE_HEADER,
  XLOG_OVERWRITE_CONTRECORD,
  XLOG_SWITCH,
  XLP_ALL_FLAGS,
  XLP_FIRST_IS_CONTRECORD,
  XLP_FIRST_IS_OVERWRITE_CONTRECORD,
  XLP_LONG_HEADER,
} from './constants.js';
import { CRC32C_INIT, crc32cFinish, crc32cUpdate } from './crc32c.js';
import { formatWalPosition, toLsn } from './position.js';
import { decodeHeaders, u32, WalRecord } from './record.js';
import { WalDecodeError } from './wal-error.js';

/** Default bound on the main data kept for one interpreted record (commit records list subtransactions). */
export const DEFAULT_MAX_MAIN_DATA_LENGTH = 16 * 1024 * 1024;

const TWO_32 = 0x1_0000_0000;

/** Options for {@link WalReader}. */
export interface WalReaderOptions {
  /** Position of the first byte pushed. Must be page-aligned (a multiple of 8192). */
  startLsn: bigint;
  /** The server's wal_segment_size in bytes (a power of two from 1 MiB to 1 GiB). */
  segmentSize: number;
  /** The server's major version, when known: the page magic must then be that major's. */
  major?: number;
  /** Largest main data kept for an interpreted record; a longer one is an error. Default 16 MiB. */
  maxMainDataLength?: number;
}

enum Mode {
  /** Before the first page header: it says whether the stream starts inside a record. */
  Start,
  /** At a record boundary, after `pad` alignment bytes. */
  Boundary,
  /** Inside a record. */
  Record,
  /** Skipping the rest of a record that began before the start. */
  ContinuationSkip,
  /** After XLOG_SWITCH: skipping the zero-filled rest of the segment (no page headers there). */
  SwitchSkip,
}

/** Resource managers whose records RawFeed interprets, so their main data is always kept. */
function keepsMainData(rmid: number): boolean {
  return (
    rmid === RM_HEAP_ID ||
    rmid === RM_HEAP2_ID ||
    rmid === RM_XACT_ID ||
    rmid === RM_XLOG_ID ||
    rmid === RM_STANDBY_ID ||
    rmid === RM_SMGR_ID
  );
}

/** Reads WAL records out of a physical replication stream. See the file comment. */
export class WalReader {
  readonly #segmentSize: number;
  readonly #maxMainData: number;
  #magic: number;
  #major: number | undefined;
  #timeline = 0;
  #systemId: bigint | undefined;

  readonly #chunks: Uint8Array[] = [];
  #head = 0;

  // The page holding the next byte: its LSN halves, its offset in the segment, and the offset inside it.
  #pageHi: number;
  #pageLo: number;
  #pageSegOff: number;
  #pageOff = 0;
  readonly #pageHeader = new Uint8Array(LONG_PAGE_HEADER);
  #pageHeaderFill = 0;

  #mode = Mode.Start;
  #pad = 0;
  #skipLeft = 0;

  // The record being assembled (slow path).
  readonly #record = new WalRecord();
  readonly #recordHeader = new Uint8Array(RECORD_HEADER);
  readonly #bodyHead = new Uint8Array(MAX_HEADERS_LENGTH);
  #recOff = 0;
  #recTotal = 0;
  #crc = 0;
  #headFill = 0;
  #headWant = 0;
  #headersDone = false;
  #keepMain = false;
  #mainStart = 0;
  #main = new Uint8Array(0);
  /** The fault that stopped the reader. */
  #failure: WalDecodeError | undefined = undefined;
  /** A fault found in the headers, reported once the CRC is checked (as in the fast path). */
  #deferred: WalDecodeError | undefined = undefined;

  // The previous complete record's start, for the xl_prev check (unknown at the start).
  #prevKnown = false;
  #prevHi = 0;
  #prevLo = 0;
  // The start of a record abandoned at an XLP_FIRST_IS_OVERWRITE_CONTRECORD page, until the
  // XLOG_OVERWRITE_CONTRECORD record that must follow names it.
  #overwrittenKnown = false;
  #overwrittenHi = 0;
  #overwrittenLo = 0;

  constructor(options: WalReaderOptions) {
    const { startLsn, segmentSize } = options;
    if (
      !Number.isInteger(segmentSize) ||
      segmentSize < MIN_SEGMENT_SIZE ||
      segmentSize > MAX_SEGMENT_SIZE ||
      (segmentSize & (segmentSize - 1)) !== 0
    ) {
      throw new WalDecodeError(
        'usage',
        `wal_segment_size ${segmentSize} is not a power of two between 1 MiB and 1 GiB`,
      );
    }
    if (
      typeof startLsn !== 'bigint' ||
      startLsn < 0n ||
      startLsn >> 64n !== 0n ||
      startLsn % BigInt(PAGE_SIZE) !== 0n
    ) {
      throw new WalDecodeError('usage', `the start position must be a multiple of ${PAGE_SIZE}`, startLsn);
    }
    this.#segmentSize = segmentSize;
    this.#maxMainData = options.maxMainDataLength ?? DEFAULT_MAX_MAIN_DATA_LENGTH;
    if (!Number.isInteger(this.#maxMainData) || this.#maxMainData < 1024) {
      throw new WalDecodeError(
        'usage',
        `maxMainDataLength must be an integer of at least 1024, got ${this.#maxMainData}`,
      );
    }
    if (options.major === undefined) {
      this.#magic = -1;
    } else {
      const magic = PAGE_MAGIC_BY_MAJOR.get(options.major);
      if (magic === undefined) {
        throw new WalDecodeError('usage', `PostgreSQL ${options.major} is not supported (15 to 18 are)`);
      }
      this.#magic = magic;
      this.#major = options.major;
    }
    this.#pageHi = Number(startLsn >> 32n);
    this.#pageLo = Number(startLsn & 0xffff_ffffn);
    this.#pageSegOff = Number(startLsn % BigInt(segmentSize));
  }

  /** The major version the page magic names, once the first page header is read (or as given). */
  get major(): number | undefined {
    return this.#major;
  }

  /** The timeline of the last page header read (0 before the first). */
  get timeline(): number {
    return this.#timeline;
  }

  /** The database system identifier, once a segment's first page has been read. */
  get systemId(): bigint | undefined {
    return this.#systemId;
  }

  /** Position of the next byte the reader expects. */
  get position(): bigint {
    return toLsn(this.#pageHi, this.#pageLo) + BigInt(this.#pageOff);
  }

  /** Adds stream bytes. The chunk is kept by reference until consumed: do not reuse it. */
  push(chunk: Uint8Array): void {
    if (chunk.byteLength > 0) this.#chunks.push(chunk);
  }

  /**
   * The next complete record, or `undefined` until more bytes arrive. The same WalRecord object is
   * returned every time, and its `data` may be a view of a pushed chunk: both are valid until the next
   * call. Throws WalDecodeError on bytes that are not valid WAL, and the same error on every later call:
   * nothing after a fault is trusted.
   */
  next(): WalRecord | undefined {
    if (this.#failure !== undefined) throw this.#failure;
    try {
      return this.#next();
    } catch (error) {
      if (error instanceof WalDecodeError) this.#failure = error;
      throw error;
    }
  }

  #next(): WalRecord | undefined {
    for (;;) {
      const chunk = this.#chunks[0];
      if (chunk === undefined) return undefined;
      const at = this.#head;
      const avail = chunk.byteLength - at;
      if (avail === 0) {
        this.#chunks.shift();
        this.#head = 0;
        continue;
      }
      if (this.#pageOff === PAGE_SIZE) this.#nextPage();

      if (this.#mode === Mode.SwitchSkip) {
        const n = Math.min(avail, this.#skipLeft, PAGE_SIZE - this.#pageOff);
        for (let i = at; i < at + n; i++) {
          if (chunk[i] !== 0) {
            throw new WalDecodeError(
              'page',
              'the rest of the segment after XLOG_SWITCH is not zero-filled',
              toLsn(this.#pageHi, this.#pageLo) + BigInt(this.#pageOff + i - at),
            );
          }
        }
        this.#consume(n);
        this.#skipLeft -= n;
        if (this.#skipLeft === 0) {
          this.#mode = Mode.Boundary;
          this.#pad = 0;
        }
        continue;
      }

      if (this.#pageOff === 0) {
        this.#readPageHeader(chunk, at, avail);
        continue;
      }
      const pageLeft = PAGE_SIZE - this.#pageOff;

      if (this.#mode === Mode.ContinuationSkip) {
        const n = Math.min(avail, pageLeft, this.#skipLeft);
        this.#consume(n);
        this.#skipLeft -= n;
        if (this.#skipLeft === 0) {
          this.#mode = Mode.Boundary;
          this.#pad = alignPad(this.#pageOff);
        }
        continue;
      }

      if (this.#mode === Mode.Boundary) {
        if (this.#pad > 0) {
          const n = Math.min(avail, this.#pad);
          this.#consume(n);
          this.#pad -= n;
          continue;
        }
        if (pageLeft === 0) continue;
        const record = this.#record;
        record.lsnHi = this.#pageHi;
        record.lsnLo = this.#pageLo + this.#pageOff;
        if (avail >= 4) {
          const total = u32(chunk, at);
          if (total >= RECORD_HEADER && total <= pageLeft && total <= avail) {
            this.#decodeInPlace(chunk, at, total);
            this.#consume(total);
            return this.#finish();
          }
        }
        this.#mode = Mode.Record;
        this.#recOff = 0;
        this.#recTotal = 0;
        continue;
      }

      // Mode.Record: stream the next piece of the record.
      const wanted =
        this.#recOff < RECORD_HEADER ? RECORD_HEADER - this.#recOff : this.#recTotal - this.#recOff;
      const n = Math.min(avail, pageLeft, wanted);
      this.#assemble(chunk, at, n);
      this.#consume(n);
      if (this.#recOff >= RECORD_HEADER && this.#recOff === this.#recTotal) {
        this.#completeAssembled();
        return this.#finish();
      }
    }
  }

  /** Advances the read position by `n` bytes, all inside the current chunk and page. */
  #consume(n: number): void {
    this.#head += n;
    this.#pageOff += n;
  }

  #nextPage(): void {
    this.#pageOff = 0;
    this.#pageHeaderFill = 0;
    this.#pageLo += PAGE_SIZE;
    if (this.#pageLo === TWO_32) {
      this.#pageLo = 0;
      this.#pageHi += 1;
    }
    this.#pageSegOff += PAGE_SIZE;
    if (this.#pageSegOff === this.#segmentSize) this.#pageSegOff = 0;
  }

  #pageLsn(): bigint {
    return toLsn(this.#pageHi, this.#pageLo);
  }

  /** Copies page header bytes; once the whole header is in, checks it and applies its flags. */
  #readPageHeader(chunk: Uint8Array, at: number, avail: number): void {
    const header = this.#pageHeader;
    const fill = this.#pageHeaderFill;
    let want = SHORT_PAGE_HEADER;
    if (fill >= SHORT_PAGE_HEADER && (header[2]! & XLP_LONG_HEADER) !== 0) want = LONG_PAGE_HEADER;
    const n = Math.min(avail, want - fill);
    header.set(chunk.subarray(at, at + n), fill);
    this.#pageHeaderFill = fill + n;
    this.#head += n;
    if (this.#pageHeaderFill === SHORT_PAGE_HEADER) this.#checkShortHeader();
    const length = (header[2]! & XLP_LONG_HEADER) !== 0 ? LONG_PAGE_HEADER : SHORT_PAGE_HEADER;
    if (this.#pageHeaderFill < length) return;
    if (length === LONG_PAGE_HEADER) this.#checkLongHeader();
    this.#pageOff = length;
    this.#applyPageFlags();
  }

  #checkShortHeader(): void {
    const header = this.#pageHeader;
    const magic = header[0]! | (header[1]! << 8);
    if (magic !== this.#magic) {
      if (this.#magic === -1 && MAJOR_BY_PAGE_MAGIC.has(magic)) {
        this.#magic = magic;
        this.#major = MAJOR_BY_PAGE_MAGIC.get(magic);
      } else {
        throw this.#magicError(magic);
      }
    }
    const info = header[2]! | (header[3]! << 8);
    if ((info & ~XLP_ALL_FLAGS) !== 0) {
      throw new WalDecodeError(
        'page',
        `invalid info bits 0x${info.toString(16)} in a page header`,
        this.#pageLsn(),
      );
    }
    const timeline = u32(header, 4);
    if (timeline < this.#timeline) {
      throw new WalDecodeError(
        'page',
        `out-of-sequence timeline ${timeline} (after ${this.#timeline}) in a page header`,
        this.#pageLsn(),
      );
    }
    this.#timeline = timeline;
    const addrLo = u32(header, 8);
    const addrHi = u32(header, 12);
    if (addrLo !== this.#pageLo || addrHi !== this.#pageHi) {
      throw new WalDecodeError(
        'page',
        `unexpected page address ${formatWalPosition(toLsn(addrHi, addrLo))} in the page header (a gap in the stream, or an old recycled segment)`,
        this.#pageLsn(),
      );
    }
    const long = (info & XLP_LONG_HEADER) !== 0;
    if (long !== (this.#pageSegOff === 0)) {
      throw new WalDecodeError(
        'page',
        long
          ? 'a long page header on a page that does not start a segment'
          : 'the first page of a segment lacks the long page header',
        this.#pageLsn(),
      );
    }
  }

  #magicError(magic: number): WalDecodeError {
    const hex = (value: number) => `0x${value.toString(16).toUpperCase().padStart(4, '0')}`;
    const swapped = ((magic & 0xff) << 8) | (magic >> 8);
    const known = [...PAGE_MAGIC_BY_MAJOR].map(([major, value]) => `${hex(value)} (${major})`).join(', ');
    if (this.#magic === -1 && MAJOR_BY_PAGE_MAGIC.has(swapped)) {
      return new WalDecodeError(
        'magic',
        `WAL page magic ${hex(magic)} is a known magic byte-swapped: the server is big-endian, and only little-endian servers are supported`,
        this.#pageLsn(),
      );
    }
    if (this.#magic === -1) {
      return new WalDecodeError(
        'magic',
        `unknown WAL page magic ${hex(magic)}: this server's WAL format is not one pgnudge reads (it knows ${known}); upgrade pgnudge or use WalFeed`,
        this.#pageLsn(),
      );
    }
    return new WalDecodeError(
      'magic',
      `WAL page magic ${hex(magic)} where PostgreSQL ${this.#major}'s ${hex(this.#magic)} was expected`,
      this.#pageLsn(),
    );
  }

  #checkLongHeader(): void {
    const header = this.#pageHeader;
    const systemId = toLsn(u32(header, 28), u32(header, 24));
    if (this.#systemId !== undefined && systemId !== this.#systemId) {
      throw new WalDecodeError(
        'page',
        `the WAL belongs to database system ${systemId}, not ${this.#systemId}`,
        this.#pageLsn(),
      );
    }
    this.#systemId = systemId;
    const segmentSize = u32(header, 32);
    if (segmentSize !== this.#segmentSize) {
      throw new WalDecodeError(
        'page',
        `the segment header says wal_segment_size is ${segmentSize}, not ${this.#segmentSize}`,
        this.#pageLsn(),
      );
    }
    const blockSize = u32(header, 36);
    if (blockSize !== PAGE_SIZE) {
      throw new WalDecodeError(
        'page',
        `the WAL page size is ${blockSize}; only ${PAGE_SIZE}-byte pages are supported`,
        this.#pageLsn(),
      );
    }
  }

  /** What the contrecord flags mean for the state the reader is in. */
  #applyPageFlags(): void {
    const header = this.#pageHeader;
    const info = header[2]!;
    const remaining = u32(header, 16);
    const continues = (info & XLP_FIRST_IS_CONTRECORD) !== 0;
    const overwrites = (info & XLP_FIRST_IS_OVERWRITE_CONTRECORD) !== 0;
    switch (this.#mode) {
      case Mode.Start:
        if (continues) {
          this.#mode = Mode.ContinuationSkip;
          this.#skipLeft = remaining;
          if (remaining === 0) {
            throw new WalDecodeError('page', 'a continuation page with xlp_rem_len 0', this.#pageLsn());
          }
        } else {
          this.#mode = Mode.Boundary;
          this.#pad = 0;
        }
        return;
      case Mode.Boundary:
        if (continues) {
          throw new WalDecodeError(
            'page',
            'a record was expected at the page start, but the page continues an earlier record',
            this.#pageLsn(),
          );
        }
        return;
      case Mode.Record:
      case Mode.ContinuationSkip: {
        // The record was cut off by a crash and recovery wrote a new record over its missing part.
        if (overwrites) {
          if (this.#mode === Mode.Record) {
            this.#overwrittenKnown = true;
            this.#overwrittenHi = this.#record.lsnHi;
            this.#overwrittenLo = this.#record.lsnLo;
          }
          this.#mode = Mode.Boundary;
          this.#pad = 0;
          return;
        }
        const expected = this.#mode === Mode.Record ? this.#recTotal - this.#recOff : this.#skipLeft;
        if (!continues) {
          throw new WalDecodeError(
            'page',
            'a record continues past the page end, but the next page has no contrecord flag',
            this.#pageLsn(),
          );
        }
        if (remaining !== expected) {
          throw new WalDecodeError(
            'page',
            `invalid contrecord length ${remaining} (expected ${expected})`,
            this.#pageLsn(),
          );
        }
        return;
      }
      case Mode.SwitchSkip:
        return;
    }
  }

  /** Checks the 24-byte record header in `src` at `at` and sets the record's header fields. */
  #readRecordHeader(src: Uint8Array, at: number): void {
    const record = this.#record;
    const total = u32(src, at);
    record.totalLength = total;
    record.xid = u32(src, at + 4);
    record.prevLo = u32(src, at + 8);
    record.prevHi = u32(src, at + 12);
    record.info = src[at + 16]!;
    record.rmid = src[at + 17]!;
    record.crc = u32(src, at + 20);
    if (record.rmid > RM_MAX_BUILTIN_ID && record.rmid < RM_MIN_CUSTOM_ID) {
      throw new WalDecodeError('record', `invalid resource manager id ${record.rmid}`, record.lsn);
    }
    if (this.#prevKnown && (record.prevHi !== this.#prevHi || record.prevLo !== this.#prevLo)) {
      throw new WalDecodeError(
        'record',
        `record with incorrect prev-link ${formatWalPosition(record.prevLsn)} (the previous record starts at ${formatWalPosition(toLsn(this.#prevHi, this.#prevLo))})`,
        record.lsn,
      );
    }
  }

  #checkTotalLength(total: number): void {
    if (total < RECORD_HEADER) {
      throw new WalDecodeError(
        'record',
        `invalid record length: expected at least ${RECORD_HEADER}, got ${total}`,
        this.#record.lsn,
      );
    }
    if (total > MAX_RECORD_LENGTH) {
      throw new WalDecodeError(
        'limit',
        `record length ${total} exceeds the largest record PostgreSQL writes (${MAX_RECORD_LENGTH})`,
        this.#record.lsn,
      );
    }
  }

  /** The fast path: the whole record lies in `chunk[at, at + total)`, inside the current page. */
  #decodeInPlace(chunk: Uint8Array, at: number, total: number): void {
    const record = this.#record;
    this.#readRecordHeader(chunk, at);
    let crc = crc32cUpdate(CRC32C_INIT, chunk, at + RECORD_HEADER, at + total);
    crc = crc32cFinish(crc32cUpdate(crc, chunk, at, at + 20));
    if (crc !== record.crc) throw this.#crcError(crc);
    const body = total - RECORD_HEADER;
    decodeHeaders(record, chunk, at + RECORD_HEADER, body, body);
    if (keepsMainData(record.rmid)) {
      // Checked here too, although nothing is copied: a record's fate must not depend on the chunking.
      this.#checkMainDataLength();
      record.data = chunk.subarray(at + total - record.mainDataLength, at + total);
    } else {
      record.data = undefined;
    }
  }

  #checkMainDataLength(): void {
    const length = this.#record.mainDataLength;
    if (length > this.#maxMainData) {
      throw new WalDecodeError(
        'limit',
        `the record's main data is ${length} bytes, over maxMainDataLength ${this.#maxMainData}`,
        this.#record.lsn,
      );
    }
  }

  #crcError(computed: number): WalDecodeError {
    const hex = (value: number) => `0x${value.toString(16).toUpperCase().padStart(8, '0')}`;
    return new WalDecodeError(
      'crc',
      `incorrect resource manager data checksum: the record says ${hex(this.#record.crc)}, its bytes give ${hex(computed)}`,
      this.#record.lsn,
    );
  }

  /** The slow path: takes `chunk[at, at + n)` as the next bytes of the record being assembled. */
  #assemble(chunk: Uint8Array, at: number, n: number): void {
    if (this.#recOff < RECORD_HEADER) {
      this.#recordHeader.set(chunk.subarray(at, at + n), this.#recOff);
      const before = this.#recOff;
      this.#recOff += n;
      if (before < 4 && this.#recOff >= 4) {
        this.#recTotal = u32(this.#recordHeader, 0);
        this.#checkTotalLength(this.#recTotal);
      }
      if (this.#recOff === RECORD_HEADER) {
        this.#readRecordHeader(this.#recordHeader, 0);
        this.#crc = CRC32C_INIT;
        this.#headFill = 0;
        this.#headWant = Math.min(MAX_HEADERS_LENGTH, this.#recTotal - RECORD_HEADER);
        this.#headersDone = false;
        this.#deferred = undefined;
        if (this.#headWant === 0) this.#decodeAssembledHeaders();
      }
      return;
    }
    const bodyStart = this.#recOff - RECORD_HEADER;
    this.#crc = crc32cUpdate(this.#crc, chunk, at, at + n);
    let used = 0;
    if (!this.#headersDone) {
      used = Math.min(n, this.#headWant - this.#headFill);
      this.#bodyHead.set(chunk.subarray(at, at + used), this.#headFill);
      this.#headFill += used;
      if (this.#headFill === this.#headWant) this.#decodeAssembledHeaders();
    }
    if (this.#headersDone && this.#keepMain && used < n) {
      const from = Math.max(bodyStart + used, this.#mainStart);
      const to = bodyStart + n;
      if (from < to) {
        this.#main.set(chunk.subarray(at + (from - bodyStart), at + n), from - this.#mainStart);
      }
    }
    this.#recOff += n;
  }

  /**
   * Decodes the block headers from the copied body head, and prepares the main-data copy. A fault is
   * kept for the record's end: a corrupt record must fail on its checksum first, whatever the chunking.
   */
  #decodeAssembledHeaders(): void {
    const record = this.#record;
    const body = this.#recTotal - RECORD_HEADER;
    this.#headersDone = true;
    try {
      decodeHeaders(record, this.#bodyHead, 0, this.#headWant, body);
      this.#prepareMainData();
    } catch (error) {
      if (!(error instanceof WalDecodeError)) throw error;
      this.#deferred = error;
      this.#keepMain = false;
    }
  }

  #prepareMainData(): void {
    const record = this.#record;
    const body = this.#recTotal - RECORD_HEADER;
    this.#mainStart = body - record.mainDataLength;
    this.#keepMain = keepsMainData(record.rmid);
    if (!this.#keepMain) return;
    this.#checkMainDataLength();
    const length = record.mainDataLength;
    if (this.#main.byteLength < length) {
      this.#main = new Uint8Array(
        Math.max(length, Math.min(2 * this.#main.byteLength, this.#maxMainData), 256),
      );
    }
    // Main data already copied with the head (a short record) moves to the main buffer now.
    if (this.#mainStart < this.#headFill) {
      this.#main.set(this.#bodyHead.subarray(this.#mainStart, this.#headFill), 0);
    }
  }

  #completeAssembled(): void {
    const record = this.#record;
    const crc = crc32cFinish(crc32cUpdate(this.#crc, this.#recordHeader, 0, 20));
    if (crc !== record.crc) throw this.#crcError(crc);
    if (this.#deferred !== undefined) throw this.#deferred;
    record.data = this.#keepMain ? this.#main.subarray(0, record.mainDataLength) : undefined;
    // A huge buffer is not kept for the next record: memory follows the records of the moment.
    if (this.#main.byteLength > 1024 * 1024 && record.mainDataLength <= 1024 * 1024) {
      this.#main = new Uint8Array(0);
    }
  }

  /** Common end of a record: the position checks, the end position, and what comes next. */
  #finish(): WalRecord {
    const record = this.#record;
    if (this.#overwrittenKnown) {
      const data = record.data;
      if (
        record.rmid !== RM_XLOG_ID ||
        (record.info & 0xf0) !== XLOG_OVERWRITE_CONTRECORD ||
        data === undefined ||
        data.byteLength < 8 ||
        u32(data, 0) !== this.#overwrittenLo ||
        u32(data, 4) !== this.#overwrittenHi
      ) {
        throw new WalDecodeError(
          'record',
          `the record at ${formatWalPosition(toLsn(this.#overwrittenHi, this.#overwrittenLo))} was overwritten, but no XLOG_OVERWRITE_CONTRECORD record names it`,
          record.lsn,
        );
      }
      this.#overwrittenKnown = false;
    }
    this.#prevKnown = true;
    this.#prevHi = record.lsnHi;
    this.#prevLo = record.lsnLo;
    const endOff = this.#pageOff + alignPad(this.#pageOff);
    if (record.rmid === RM_XLOG_ID && (record.info & 0xf0) === XLOG_SWITCH) {
      // The rest of the segment is zeros: the next record starts the next segment.
      const rest = this.#segmentSize - this.#pageSegOff;
      this.#setEnd(rest);
      this.#mode = Mode.SwitchSkip;
      this.#skipLeft = rest - this.#pageOff;
      if (this.#skipLeft === 0) {
        this.#mode = Mode.Boundary;
        this.#pad = 0;
      }
    } else {
      this.#setEnd(endOff);
      this.#mode = Mode.Boundary;
      this.#pad = endOff - this.#pageOff;
    }
    return record;
  }

  /** Sets the record's end to the current page's start plus `offset` (which may pass the page). */
  #setEnd(offset: number): void {
    const lo = this.#pageLo + offset;
    this.#record.endLo = lo >= TWO_32 ? lo - TWO_32 : lo;
    this.#record.endHi = lo >= TWO_32 ? this.#pageHi + 1 : this.#pageHi;
  }
}

function alignPad(offset: number): number {
  return (ALIGN - (offset % ALIGN)) % ALIGN;
}

// WalReader on built WAL (test/support/wal-builder.ts): the layouts a live server produces only by chance
// (headers split over pages and segments, overwritten contrecords) and the faults it never produces.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PAGE_SIZE } from '../../../../src/decode/wal/constants.js';
import { WalReader } from '../../../../src/decode/wal/reader.js';
import type { WalRecord } from '../../../../src/decode/wal/record.js';
import { WalDecodeError, type WalDecodeReason } from '../../../../src/decode/wal/wal-error.js';
import { buildWal, type RecordSpec, recordBytes } from '../../../support/wal-builder.js';
import { comparableRecord } from '../../../support/wal-oracle.js';

const MB = 1024 * 1024;
const START = 0x1_0000_0000n + 3n * BigInt(MB); // a segment start above 4 GB: both LSN halves in use

interface Read {
  lsn: bigint;
  end: bigint;
  xid: number;
  rmid: number;
  info: number;
  totalLength: number;
  data: number[] | undefined;
  topXid: number;
  origin: number;
}

function snapshot(record: WalRecord): Read & { blocks: ReturnType<typeof comparableRecord>['blocks'] } {
  return {
    lsn: record.lsn,
    end: record.endLsn,
    xid: record.xid,
    rmid: record.rmid,
    info: record.info,
    totalLength: record.totalLength,
    data: record.data === undefined ? undefined : [...record.data],
    topXid: record.topXid,
    origin: record.origin,
    blocks: comparableRecord(record).blocks,
  };
}

function readAll(bytes: Uint8Array, startLsn = START, chunk = bytes.byteLength, segmentSize = MB) {
  const reader = new WalReader({ startLsn, segmentSize });
  const out: ReturnType<typeof snapshot>[] = [];
  for (let at = 0; at < bytes.byteLength; at += chunk) {
    reader.push(bytes.subarray(at, at + chunk));
    for (let r = reader.next(); r !== undefined; r = reader.next()) out.push(snapshot(r));
  }
  return { records: out, reader };
}

function expectWalError(reason: WalDecodeReason, run: () => unknown, message?: RegExp): WalDecodeError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof WalDecodeError, `expected WalDecodeError, got ${error}`);
    assert.equal(error.reason, reason, error.message);
    assert.equal(error.code, 'PGNUDGE_ERR_DECODE');
    assert.equal(error.retryable, true);
    if (message) assert.match(error.message, message);
    return error;
  }
  assert.fail('expected a WalDecodeError');
}

const heapInsert = (xid: number, rel = 16384): RecordSpec => ({
  rmid: 10,
  info: 0x00,
  xid,
  blocks: [{ id: 0, rel, blk: 1, data: new Uint8Array(30).fill(1) }],
  main: Uint8Array.of(1, 0, 0),
});

describe('WalReader', () => {
  test('decodes record headers, block references (same-rel, images with holes, compressed) and main data', () => {
    const specs: RecordSpec[] = [
      heapInsert(700),
      {
        rmid: 11,
        info: 0x10,
        xid: 701,
        origin: 7,
        topXid: 699,
        blocks: [
          {
            id: 0,
            spc: 1663,
            db: 5,
            rel: 2000,
            blk: 9,
            image: { holeOffset: 40, holeLength: 8000, info: 0x03 },
          },
          { id: 1, sameRel: true, blk: 10, data: Uint8Array.of(9, 9) },
          {
            id: 5,
            rel: 3000,
            fork: 2,
            blk: 0,
            image: { length: 100, holeOffset: 60, holeLength: 300, info: 0x07 },
          },
          { id: 6, rel: 3001, image: { length: 200, info: 0x08 } },
        ],
        main: new Uint8Array(300).fill(3),
      },
    ];
    const { bytes, starts, ends } = buildWal(specs, { startLsn: START, segmentSize: MB });
    const { records } = readAll(bytes);
    assert.equal(records.length, 2);
    assert.deepEqual(
      records.map((r) => [r.lsn, r.end]),
      starts.map((s, i) => [s, ends[i]]),
    );
    const [insert, btree] = records;
    assert.equal(insert!.xid, 700);
    assert.deepEqual(insert!.data, [1, 0, 0]);
    assert.deepEqual(insert!.blocks, [
      { id: 0, spc: 1663, db: 5, rel: 16384, fork: 'main', blk: 1, dataLength: 30 },
    ]);
    assert.equal(btree!.origin, 7);
    assert.equal(btree!.topXid, 699);
    assert.equal(btree!.data, undefined, 'main data of an uninterpreted rmgr is not kept');
    assert.deepEqual(btree!.blocks, [
      {
        id: 0,
        spc: 1663,
        db: 5,
        rel: 2000,
        fork: 'main',
        blk: 9,
        dataLength: 0,
        image: { holeOffset: 40, holeLength: 8000, method: null, apply: true },
        imageLength: 192,
      },
      { id: 1, spc: 1663, db: 5, rel: 2000, fork: 'main', blk: 10, dataLength: 2 },
      {
        id: 5,
        spc: 1663,
        db: 5,
        rel: 3000,
        fork: 'vm',
        blk: 0,
        dataLength: 0,
        image: { holeOffset: 60, holeLength: 300, method: 'pglz', apply: true },
        imageLength: 100,
      },
      {
        id: 6,
        spc: 1663,
        db: 5,
        rel: 3001,
        fork: 'main',
        blk: 0,
        dataLength: 0,
        image: { holeOffset: 0, holeLength: 0, method: 'lz4', apply: false },
        imageLength: 200,
      },
    ]);
  });

  test('records straddling pages and segments, with split headers, read the same in any chunk size', () => {
    // Start two pages before a segment end; fill so that record headers land across page ends.
    const start = START + BigInt(MB - 2 * PAGE_SIZE);
    // The first record ends 16 bytes before the page end, so the second one's header is split.
    const specs: RecordSpec[] = [{ rmid: 21, main: new Uint8Array(PAGE_SIZE - 24 - 24 - 5 - 16).fill(9) }];
    for (let i = 0; i < 40; i++) {
      specs.push({
        rmid: 10,
        info: 0,
        xid: 800 + i,
        main: new Uint8Array(3 + ((i * 37) % 200)).fill(i),
        blocks: [{ id: 0 }],
      });
    }
    specs.push({ rmid: 21, info: 0, xid: 900, main: new Uint8Array(3 * PAGE_SIZE).fill(7) });
    specs.push(heapInsert(901));
    const { bytes, starts } = buildWal(specs, { startLsn: start, segmentSize: MB });
    const whole = readAll(bytes, start).records;
    assert.equal(whole.length, specs.length);
    assert.deepEqual(
      whole.map((r) => r.lsn),
      starts,
    );
    assert.ok(
      starts.some((s) => Number(s % BigInt(PAGE_SIZE)) > PAGE_SIZE - 24),
      'a record header is split over two pages',
    );
    for (const chunk of [1, 5, 24, 1000, PAGE_SIZE + 3]) {
      assert.deepEqual(readAll(bytes, start, chunk).records, whole, `chunks of ${chunk}`);
    }
  });

  test('XLOG_SWITCH: the zero-filled rest of the segment is skipped and the record ends at the next segment', () => {
    const { bytes } = buildWal([heapInsert(1), { rmid: 0, info: 0x40 }, heapInsert(2)], {
      startLsn: START,
      segmentSize: MB,
    });
    const { records, reader } = readAll(bytes, START, 4096);
    assert.equal(records.length, 3);
    assert.equal(records[1]!.end, START + BigInt(MB));
    assert.equal(records[2]!.lsn, START + BigInt(MB) + 40n, 'after the long page header');
    assert.equal(reader.position, START + BigInt(bytes.byteLength));
    const dirty = bytes.slice();
    dirty[PAGE_SIZE * 5 + 17] = 1;
    expectWalError('page', () => readAll(dirty), /not zero-filled/);
  });

  test('a stream that starts inside a record skips its remainder', () => {
    const specs = [
      heapInsert(1),
      { rmid: 21, main: new Uint8Array(2 * PAGE_SIZE).fill(1) },
      heapInsert(2),
      heapInsert(3),
    ];
    const { bytes, starts } = buildWal(specs, { startLsn: START, segmentSize: MB });
    for (const page of [1, 2]) {
      const from = START + BigInt(page * PAGE_SIZE);
      const { records } = readAll(bytes.subarray(page * PAGE_SIZE), from);
      assert.deepEqual(
        records.map((r) => r.lsn),
        starts.slice(2),
        `start at page ${page}`,
      );
      assert.deepEqual(
        records.map((r) => r.xid),
        [2, 3],
      );
    }
  });

  test('an overwritten contrecord is abandoned for the XLOG_OVERWRITE_CONTRECORD record that names it', () => {
    const first = buildWal([heapInsert(1), { rmid: 21, main: new Uint8Array(PAGE_SIZE).fill(1) }], {
      startLsn: START,
      segmentSize: MB,
    });
    const abandoned = first.starts[1]!;
    // The crash cut the second record at the first page's end; recovery wrote on from the next page.
    const overwrite = (named: bigint): Uint8Array => {
      const main = new Uint8Array(16);
      new DataView(main.buffer).setBigUint64(0, named, true);
      const next = buildWal([{ rmid: 0, info: 0xd0, main }, heapInsert(2)], {
        startLsn: START + BigInt(PAGE_SIZE),
        segmentSize: MB,
        prev: first.starts[0]!,
      });
      next.bytes[2] = 0x08; // XLP_FIRST_IS_OVERWRITE_CONTRECORD
      const out = new Uint8Array(PAGE_SIZE + next.bytes.byteLength);
      out.set(first.bytes.subarray(0, PAGE_SIZE));
      out.set(next.bytes, PAGE_SIZE);
      return out;
    };
    const { records } = readAll(overwrite(abandoned), START, 100);
    assert.deepEqual(
      records.map((r) => [r.rmid, r.info, r.xid]),
      [
        [10, 0, 1],
        [0, 0xd0, 0],
        [10, 0, 2],
      ],
    );
    expectWalError('record', () => readAll(overwrite(abandoned + 8n)), /was overwritten/);
  });

  test('unknown, byte-swapped and unexpected page magic are typed errors that name the value', () => {
    const make = (magic: number) =>
      buildWal([heapInsert(1)], { startLsn: START, segmentSize: MB, magic }).bytes;
    const unknown = expectWalError('magic', () => readAll(make(0xd119)), /unknown WAL page magic 0xD119/);
    assert.equal(unknown.lsn, START);
    expectWalError('magic', () => readAll(make(0x16d1)), /big-endian/);
    const reader = new WalReader({ startLsn: START, segmentSize: MB, major: 16 });
    reader.push(make(0xd116));
    expectWalError('magic', () => reader.next(), /0xD116 where PostgreSQL 16's 0xD113 was expected/);
    for (const [major, magic] of [
      [15, 0xd110],
      [16, 0xd113],
      [17, 0xd116],
      [18, 0xd118],
    ] as const) {
      assert.equal(readAll(make(magic)).reader.major, major);
    }
  });

  test('page headers must sit where they are read and continue what they should', () => {
    const { bytes } = buildWal(
      [heapInsert(1), { rmid: 21, main: new Uint8Array(PAGE_SIZE).fill(1) }, heapInsert(2)],
      {
        startLsn: START,
        segmentSize: MB,
      },
    );
    expectWalError('page', () => readAll(bytes, START + BigInt(MB)), /unexpected page address/);
    const at4 = 0x1_0000_0000n + 4n * BigInt(MB);
    const elsewhere = buildWal([heapInsert(1)], { startLsn: at4, segmentSize: MB }).bytes;
    expectWalError(
      'page',
      () => readAll(elsewhere, at4, elsewhere.byteLength, 2 * MB),
      /wal_segment_size is 1048576/,
    );
    expectWalError(
      'page',
      () => readAll(bytes, START, bytes.byteLength, 2 * MB),
      /long page header on a page/,
    );
    const noFlag = bytes.slice();
    noFlag[PAGE_SIZE + 2] = 0;
    expectWalError('page', () => readAll(noFlag), /no contrecord flag/);
    const wrongLength = bytes.slice();
    wrongLength[PAGE_SIZE + 16] = wrongLength[PAGE_SIZE + 16]! ^ 1;
    expectWalError('page', () => readAll(wrongLength), /invalid contrecord length/);
    const badInfo = bytes.slice();
    badInfo[PAGE_SIZE + 2] = badInfo[PAGE_SIZE + 2]! | 0x10;
    expectWalError('page', () => readAll(badInfo), /invalid info bits/);
    const short = bytes.slice();
    short[2] = 0;
    expectWalError('page', () => readAll(short), /lacks the long page header/);
    const otherSystem = buildWal([heapInsert(1)], {
      startLsn: START + BigInt(MB),
      segmentSize: MB,
      systemId: 5n,
      prev: 0n,
    });
    const both = new Uint8Array(MB + otherSystem.bytes.byteLength);
    const first = buildWal([heapInsert(1), { rmid: 0, info: 0x40 }], { startLsn: START, segmentSize: MB });
    both.set(first.bytes);
    both.set(otherSystem.bytes, MB);
    expectWalError('page', () => readAll(both), /belongs to database system 5/);
  });

  test('records must be whole, linked to the previous one, and checksummed', () => {
    const good = buildWal([heapInsert(1), heapInsert(2)], { startLsn: START, segmentSize: MB });
    const bad = buildWal([heapInsert(1), { ...heapInsert(2), badCrc: true }], {
      startLsn: START,
      segmentSize: MB,
    });
    expectWalError('crc', () => readAll(bad.bytes), /checksum/);
    const stopped = new WalReader({ startLsn: START, segmentSize: MB });
    stopped.push(bad.bytes);
    assert.ok(stopped.next() !== undefined);
    const first = expectWalError('crc', () => stopped.next());
    stopped.push(good.bytes);
    assert.equal(
      expectWalError('crc', () => stopped.next()),
      first,
      'the reader stays stopped',
    );
    expectWalError('crc', () => readAll(bad.bytes, START, 3), /checksum/);
    const relinked = good.bytes.slice();
    relinked[Number(good.starts[1]! - START) + 8] = relinked[Number(good.starts[1]! - START) + 8]! ^ 8;
    expectWalError('record', () => readAll(relinked), /incorrect prev-link/);
    const shortRecord = good.bytes.slice();
    shortRecord[Number(good.starts[1]! - START)] = 20;
    expectWalError('record', () => readAll(shortRecord), /at least 24, got 20/);
    expectWalError('record', () => readAll(shortRecord, START, 1), /at least 24, got 20/);
    const hugeRecord = good.bytes.slice();
    hugeRecord.set([0xff, 0xff, 0xff, 0xff], Number(good.starts[1]! - START));
    expectWalError('limit', () => readAll(hugeRecord), /exceeds the largest record/);
    const rmgr = buildWal([{ ...heapInsert(1), rmid: 60 }], { startLsn: START, segmentSize: MB });
    expectWalError('record', () => readAll(rmgr.bytes), /resource manager id 60/);
    const custom = buildWal([{ rmid: 130, main: Uint8Array.of(1) }], { startLsn: START, segmentSize: MB });
    assert.equal(readAll(custom.bytes).records[0]!.rmid, 130);
  });

  test('block headers are checked as DecodeXLogRecord checks them', () => {
    const cases: [NonNullable<RecordSpec['blocks']>, RegExp][] = [
      [[{ id: 33 }], /invalid block_id 33/],
      [[{ id: 2 }, { id: 1 }], /out-of-order block_id 1/],
      [[{ id: 0, sameRel: true }], /no previous relation/],
      [
        [{ id: 0, image: { length: 100, info: 0 } }],
        /BKPIMAGE_HAS_HOLE not set, but hole offset 0 length 8092/,
      ],
      [[{ id: 0, image: { holeOffset: 0, holeLength: 100, info: 0x01 } }], /BKPIMAGE_HAS_HOLE set/],
      [[{ id: 0, image: { length: PAGE_SIZE, holeOffset: 4, info: 0 } }], /BKPIMAGE_HAS_HOLE not set/],
      [[{ id: 0, image: { length: PAGE_SIZE, info: 0x04 } }], /compressed, but length 8192/],
      [[{ id: 0, image: { length: 10, holeOffset: 8000, holeLength: 500, info: 0x05 } }], /exceed the page/],
    ];
    for (const [blocks, message] of cases) {
      const { bytes } = buildWal([{ rmid: 10, xid: 1, blocks, main: Uint8Array.of(1, 0, 0) }], {
        startLsn: START,
        segmentSize: MB,
      });
      expectWalError('record', () => readAll(bytes), message);
    }
    // A HAS_DATA flag without data, and lengths that do not add up to xl_tot_len.
    const body = Uint8Array.of(0, 0x20, 0, 0, ...new Uint8Array(16));
    expectWalError(
      'record',
      () => readAll(buildWal([{ rmid: 10, body }], { startLsn: START, segmentSize: MB }).bytes),
      /HAS_DATA set, but no data/,
    );
    const long = Uint8Array.of(255, 10, 1, 2, 3);
    expectWalError(
      'record',
      () => readAll(buildWal([{ rmid: 10, body: long }], { startLsn: START, segmentSize: MB }).bytes),
      /promise 10 bytes/,
    );
  });

  test('main data is bounded for interpreted records, and never kept for others', () => {
    const big = new Uint8Array(5000).fill(2);
    const { bytes } = buildWal([{ rmid: 1, info: 0x80, xid: 3, main: big }], {
      startLsn: START,
      segmentSize: MB,
    });
    const reader = new WalReader({ startLsn: START, segmentSize: MB, maxMainDataLength: 4096 });
    reader.push(bytes);
    expectWalError('limit', () => reader.next(), /5000 bytes, over maxMainDataLength 4096/);
    const other = buildWal([{ rmid: 21, main: new Uint8Array(3 * MB) }], {
      startLsn: START,
      segmentSize: 4 * MB,
    });
    const read = new WalReader({ startLsn: START, segmentSize: 4 * MB, maxMainDataLength: 4096 });
    read.push(other.bytes);
    assert.equal(read.next()?.mainDataLength, 3 * MB);
  });

  test('options are checked', () => {
    expectWalError(
      'usage',
      () => new WalReader({ startLsn: START + 8n, segmentSize: MB }),
      /multiple of 8192/,
    );
    expectWalError('usage', () => new WalReader({ startLsn: START, segmentSize: 3 * MB }), /power of two/);
    expectWalError(
      'usage',
      () => new WalReader({ startLsn: START, segmentSize: MB, major: 14 }),
      /14 is not supported/,
    );
    expectWalError('usage', () => new WalReader({ startLsn: START, segmentSize: MB, maxMainDataLength: 10 }));
  });

  test('a record built by the builder round-trips its length and CRC', () => {
    const bytes = recordBytes(heapInsert(5), 0n);
    assert.equal(new DataView(bytes.buffer).getUint32(0, true), bytes.byteLength);
  });
});

// interpretRecord on built records: the cases the golden WAL does not contain (a super-delete, a
// multi-insert that initializes its page, an empty running-xacts record, per-major stats items) and the
// malformed main data a real server never writes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { interpretRecord } from '../../../../src/decode/wal/interpret.js';
import { WalReader } from '../../../../src/decode/wal/reader.js';
import { WalDecodeError } from '../../../../src/decode/wal/wal-error.js';
import { buildWal, commitMain, le, type RecordSpec } from '../../../support/wal-builder.js';
import { RecordingSink } from '../../../support/wal-oracle.js';

const START = 1n << 24n;

function interpret(specs: RecordSpec[], major = 17): RecordingSink {
  const { bytes } = buildWal(specs, { startLsn: START, segmentSize: 1 << 20, major });
  const reader = new WalReader({ startLsn: START, segmentSize: 1 << 20 });
  reader.push(bytes);
  const sink = new RecordingSink();
  for (let record = reader.next(); record !== undefined; record = reader.next()) {
    interpretRecord(record, reader.major!, sink);
  }
  return sink;
}

const heap = (info: number, main: Uint8Array, xid = 9): RecordSpec => ({
  rmid: 10,
  info,
  xid,
  blocks: [{ id: 0, rel: 700, data: Uint8Array.of(1) }],
  main,
});

function changes(sink: RecordingSink) {
  return sink.events.flatMap((e) => (e.kind === 'change' ? [[e.op, e.count, e.rel, e.xid]] : []));
}

describe('interpretRecord', () => {
  test('heap records: speculative insertions count when confirmed, super-deletes never', () => {
    const sink = interpret([
      heap(0x00, le([2, 1], [1, 0])),
      heap(0x80, le([2, 1], [1, 0])),
      heap(0x00, le([2, 2], [1, 0x04])),
      heap(0x50, le([2, 2])),
      heap(0x10, le([4, 0], [2, 3], [1, 0], [1, 0x08])),
      heap(0x10, le([4, 0], [2, 3], [1, 0], [1, 0x10])),
      heap(0x20, new Uint8Array(14)),
      heap(0x40, new Uint8Array(20)),
      heap(0x60, new Uint8Array(8)),
      heap(0x70, new Uint8Array(8)),
    ]);
    assert.deepEqual(changes(sink), [
      ['insert', 1, 700, 9],
      ['insert', 1, 700, 9],
      ['insert', 1, 700, 9],
      ['delete', 1, 700, 9],
      ['update', 1, 700, 9],
      ['update', 1, 700, 9],
    ]);
  });

  test('multi-inserts count every tuple; the offsets array is absent when the page is initialized', () => {
    const sink = interpret([
      {
        rmid: 9,
        info: 0x50,
        xid: 4,
        blocks: [{ id: 0, rel: 701 }],
        main: le([1, 0], [1, 0], [2, 3], [2, 1], [2, 2], [2, 3]),
      },
      { rmid: 9, info: 0xd0, xid: 4, blocks: [{ id: 0, rel: 701 }], main: le([1, 0], [1, 0], [2, 500]) },
    ]);
    assert.deepEqual(changes(sink), [
      ['insert', 3, 701, 4],
      ['insert', 500, 701, 4],
    ]);
  });

  test('transaction ends with every optional part, per major', () => {
    // xinfo: dbinfo, subxacts, relfilelocators, dropped stats, invals, twophase + gid, origin.
    const xinfo = 1 | 2 | 4 | (1 << 8) | 8 | 16 | (1 << 7) | 32;
    const commitPrepared = (statsItem: number) =>
      Uint8Array.from([
        ...le([4, 0], [4, 0], [4, xinfo], [4, 5], [4, 1663], [4, 1], [4, 77]),
        ...le([4, 1], [4, 1663], [4, 5], [4, 900]),
        ...le([4, 2]),
        ...new Uint8Array(2 * statsItem),
        ...le([4, 1]),
        ...new Uint8Array(16),
        ...le([4, 55]),
        ...new TextEncoder().encode('gid-x\0'),
        ...new Uint8Array(16),
      ]);
    for (const [major, size] of [
      [17, 12],
      [18, 16],
    ] as const) {
      const sink = interpret([{ rmid: 1, info: 0x80 | 0x30, xid: 0, main: commitPrepared(size) }], major);
      const end = sink.events[0];
      assert.ok(end?.kind === 'end');
      assert.deepEqual(
        {
          kind: end.event.kind,
          xid: end.event.xid,
          subxacts: end.event.subxacts,
          files: end.event.relFiles,
          db: end.event.dbOid,
          gid: end.event.gid,
        },
        {
          kind: 'commit-prepared',
          xid: 55,
          subxacts: [77],
          files: [{ spcOid: 1663, dbOid: 5, relNumber: 900 }],
          db: 5,
          gid: 'gid-x',
        },
      );
      // The other major's item size leaves bytes over or runs short: a typed error, never a wrong parse.
      assert.throws(
        () => interpret([{ rmid: 1, info: 0x80 | 0x30, main: commitPrepared(size === 12 ? 16 : 12) }], major),
        WalDecodeError,
      );
    }
    const abort = interpret([{ rmid: 1, info: 0xa0, xid: 8, main: commitMain([9, 10]) }]);
    assert.deepEqual(
      abort.events.map((e) => (e.kind === 'end' ? [e.event.kind, e.event.xid, e.event.subxacts] : e.kind)),
      [['abort', 8, [9, 10]]],
    );
  });

  test('running xacts, assignments and relation creation', () => {
    const sink = interpret([
      { rmid: 8, info: 0x10, main: le([4, 0], [4, 0], [4, 0], [4, 50], [4, 40], [4, 49]) },
      {
        rmid: 8,
        info: 0x10,
        main: le([4, 2], [4, 1], [4, 0], [4, 60], [4, 41], [4, 59], [4, 41], [4, 45], [4, 46]),
      },
      { rmid: 1, info: 0x50, xid: 46, main: le([4, 41], [4, 2], [4, 45], [4, 46]) },
      { rmid: 2, info: 0x10, xid: 41, main: le([4, 1663], [4, 5], [4, 800], [4, 0]) },
      { rmid: 2, info: 0x10, xid: 41, main: le([4, 1663], [4, 5], [4, 800], [4, 1]) },
    ]);
    assert.deepEqual(
      sink.events.map(({ lsn: _lsn, ...e }) => e),
      [
        { kind: 'running', oldest: 40, next: 50 },
        { kind: 'running', oldest: 41, next: 60 },
        { kind: 'assignment', top: 41, subxacts: [45, 46] },
        { kind: 'create', xid: 41, locator: { spcOid: 1663, dbOid: 5, relNumber: 800 } },
      ],
    );
  });

  test('malformed main data is a typed error naming the record', () => {
    const bad: RecordSpec[] = [
      heap(0x00, le([2, 1])),
      { rmid: 10, info: 0x00, xid: 1, main: le([2, 1], [1, 0]) },
      { rmid: 9, info: 0x50, xid: 1, blocks: [{ id: 0 }], main: le([1, 0], [1, 0], [2, 9]) },
      { rmid: 1, info: 0x80, xid: 1, main: le([4, 0], [4, 0], [4, 2], [4, 1000]) },
      { rmid: 1, info: 0x00, xid: 1, main: le([4, 0]) },
      { rmid: 1, info: 0xa0, xid: 1, main: le([4, 0], [4, 0], [4, 8], [4, 0]) },
      { rmid: 1, info: 0x80, xid: 1, main: le([4, 0], [4, 0], [4, 16], [4, 1]) },
      { rmid: 1, info: 0x10, xid: 1, main: new Uint8Array(80) },
      { rmid: 8, info: 0x10, main: le([4, 3], [4, 0], [4, 0], [4, 1], [4, 1], [4, 1]) },
      { rmid: 1, info: 0x50, xid: 1, main: le([4, 1], [4, 3], [4, 2]) },
    ];
    for (const [i, spec] of bad.entries()) {
      assert.throws(() => interpret([spec]), WalDecodeError, `case ${i}`);
    }
  });
});

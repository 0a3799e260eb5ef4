// PhysicalStream on built WAL: the watermark drops what the first reload covers, transactions running at
// start resync, a gap in the stream is an error, initdb's catalogs stop at the door, and a change that
// can rename a table travels through the gate as NAMES_CHANGED, released with its commit.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { GateRelease } from '../../../src/decode/wal/commit-gate.js';
import { WalDecodeError } from '../../../src/decode/wal/wal-error.js';
import {
  FIRST_NORMAL_OBJECT_ID,
  isNamesChanged,
  type NameCatalogFiles,
  PhysicalStream,
  type PhysicalStreamOptions,
} from '../../../src/feed/physical-stream.js';
import { buildWal, commitMain, le, type RecordSpec } from '../../support/wal-builder.js';

const START = 1n << 24n;
const SEGMENT = 1 << 20;
const DB = 5;
const PG_CLASS = { spcOid: 1663, relNumber: 1259 };
const PG_INHERITS = { spcOid: 1663, relNumber: 2611 };
const CATALOGS: NameCatalogFiles = { renames: [PG_CLASS], parents: [PG_INHERITS] };

const insert = (xid: number, rel: number, db = DB): RecordSpec => ({
  rmid: 10,
  info: 0x00,
  xid,
  blocks: [{ id: 0, rel, db, data: Uint8Array.of(1) }],
  main: le([2, 1], [1, 0]),
});
const update = (xid: number, rel: number): RecordSpec => ({
  rmid: 10,
  info: 0x20,
  xid,
  blocks: [{ id: 0, rel, data: Uint8Array.of(1) }],
  main: new Uint8Array(14),
});
const commit = (
  xid: number,
  subxacts: number[] = [],
  dropped: [number, number, number][] = [],
): RecordSpec => ({
  rmid: 1,
  info: 0x80,
  xid,
  main: commitMain(subxacts, dropped),
});
const abort = (xid: number): RecordSpec => ({ rmid: 1, info: 0xa0, xid, main: commitMain([]) });

/** A stream of one database from START, nothing running, no watermark. */
const BASE: PhysicalStreamOptions = {
  startLsn: START,
  segmentSize: SEGMENT,
  major: 17,
  dbOid: DB,
  watermark: 0n,
  runningAtStart: [],
  nameCatalogs: CATALOGS,
};

function run(specs: RecordSpec[], options: Partial<PhysicalStreamOptions> = {}, chunk?: number) {
  const { bytes, ends } = buildWal(specs, { startLsn: START, segmentSize: SEGMENT, major: 17 });
  const out: (GateRelease | string)[] = [];
  const stream = new PhysicalStream(
    { ...BASE, ...options },
    { release: (release) => out.push(release), resync: (why) => out.push(why) },
  );
  const size = chunk ?? bytes.byteLength;
  for (let at = 0; at < bytes.byteLength; at += size) {
    stream.data(bytes.subarray(at, at + size), START + BigInt(at));
  }
  return { out, ends, stream, bytes };
}

const counts = (release: GateRelease | string | undefined) =>
  typeof release === 'object' ? release.relations.map((r) => [r.relNumber, r.count]) : release;

describe('PhysicalStream', () => {
  test('releases committed row counts, drops aborts and other databases', () => {
    const { out, stream } = run([
      insert(100, 20000),
      insert(100, 20000),
      insert(101, 20001),
      insert(102, 20002, 6),
      commit(100),
      abort(101),
      commit(102),
    ]);
    assert.deepEqual(out.map(counts), [[[20000, 2]]]);
    assert.equal(stream.records, 7);
    assert.equal(stream.openTransactions, 0);
  });

  test('a commit ending at or before the watermark is dropped, unless its transaction was running at start', () => {
    const specs = [
      insert(100, 20000),
      commit(100),
      insert(101, 20001),
      commit(101),
      insert(102, 20002),
      commit(102),
    ];
    const { ends } = run(specs);
    // The watermark falls after the second commit: 100 and 101 were visible to the snapshot, but 101 is in
    // the running set (its commit record was written, it had not left the proc array yet).
    const { out } = run(specs, { watermark: ends[3]!, runningAtStart: [101] });
    assert.equal(out.length, 2);
    assert.match(String(out[0]), /transaction 101 was already running when the stream started/);
    assert.deepEqual(counts(out[1]), [[20002, 1]]);
  });

  test('a transaction running at start resyncs at its commit, wherever the watermark is', () => {
    const { out } = run([insert(200, 20000), commit(200)], { runningAtStart: [200] });
    assert.equal(out.length, 1);
    assert.match(String(out[0]), /already running/);
  });

  test('every chunking of the stream gives the same releases', () => {
    const specs = [
      insert(100, 20000),
      insert(101, 20001),
      commit(101),
      update(100, 20000),
      commit(100, []),
      insert(103, 20005),
      abort(103),
    ];
    const whole = run(specs).out.map(counts);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 600 }), (chunk) => {
        assert.deepEqual(run(specs, {}, chunk).out.map(counts), whole);
      }),
      { seed: 20251204, numRuns: 100 },
    );
  });

  test('a gap or an overlap in the stream is an error, and the stream reads nothing after it', () => {
    const { bytes } = buildWal([insert(1, 20000), commit(1)], {
      startLsn: START,
      segmentSize: SEGMENT,
      major: 17,
    });
    const stream = new PhysicalStream(BASE, {
      release: () => assert.fail('released past a gap'),
      resync: () => assert.fail('resynced past a gap'),
    });
    stream.data(bytes.subarray(0, 100), START);
    assert.throws(
      () => stream.data(bytes.subarray(200), START + 200n),
      (error: unknown) =>
        error instanceof WalDecodeError && /jumped from 0\/1000064 to 0\/10000C8/.test(error.message),
    );
    assert.throws(() => stream.data(bytes.subarray(50), START + 50n), WalDecodeError);
  });

  test('WAL of another major is a magic error', () => {
    const { bytes } = buildWal([insert(1, 20000)], { startLsn: START, segmentSize: SEGMENT, major: 16 });
    const stream = new PhysicalStream(BASE, { release: () => {}, resync: () => {} });
    assert.throws(
      () => stream.data(bytes, START),
      (error: unknown) => error instanceof WalDecodeError && error.reason === 'magic',
    );
  });

  test("initdb's catalogs never reach the gate; an UPDATE of pg_class, or any change of pg_inherits, is NAMES_CHANGED at commit", () => {
    const below = FIRST_NORMAL_OBJECT_ID - 1;
    const { out } = run([
      insert(300, below),
      insert(300, 1259), // an INSERT into pg_class: a new relation, no name changes
      commit(300),
      update(301, 1259), // a rename
      insert(301, 20000),
      commit(301),
      insert(302, 2611), // ATTACH PARTITION
      abort(302),
      insert(303, 2611),
      commit(303),
    ]);
    assert.equal(out.length, 2);
    const [renamed, attached] = out as GateRelease[];
    assert.deepEqual(
      renamed!.relations.map((r) => [isNamesChanged(r), r.relNumber, r.count]),
      [
        [true, 0, 1],
        [false, 20000, 1],
      ],
    );
    assert.deepEqual(
      attached!.relations.map((r) => isNamesChanged(r)),
      [true],
    );
  });

  test('a catalog rewritten to a new file is watched there once the feed learns it', () => {
    const moved = { spcOid: 1663, relNumber: 30000 };
    const { bytes } = buildWal([update(400, 30000), commit(400)], {
      startLsn: START,
      segmentSize: SEGMENT,
      major: 17,
    });
    const out: GateRelease[] = [];
    const stream = new PhysicalStream(BASE, { release: (release) => out.push(release), resync: () => {} });
    stream.nameCatalogs = { renames: [moved], parents: [PG_INHERITS] };
    stream.data(bytes, START);
    assert.deepEqual(
      out[0]!.relations.map((r) => isNamesChanged(r)),
      [true],
    );
  });

  test('the bound on open transactions: past it, the commit of a lost one is a Resync (overflow)', () => {
    const { out } = run(
      [insert(500, 20000), insert(501, 20001), insert(502, 20002), commit(502), commit(500)],
      { maxTransactions: 2 },
    );
    assert.deepEqual(
      out.map((o) => (typeof o === 'string' ? /overflowed/.test(o) : counts(o))),
      [true, [[20000, 1]]],
    );
  });
});

// CommitGate: what each transaction end releases, drops or turns into a resync, and its bounds.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CommitGate, type GateOutput } from '../../../../src/decode/wal/commit-gate.js';
import { BlockRef, WalRecord } from '../../../../src/decode/wal/record.js';
import type { RelFileLocator, XactEnd } from '../../../../src/decode/wal/xact.js';

const DB = 5;
const record = new WalRecord();

function block(rel: number, db = DB, spc = 1663): BlockRef {
  const b = new BlockRef();
  b.spcOid = spc;
  b.dbOid = db;
  b.relNumber = rel;
  return b;
}

function end(
  kind: XactEnd['kind'],
  xid: number,
  subxacts: number[] = [],
  relFiles: RelFileLocator[] = [],
): XactEnd {
  return { kind, xid, subxacts, relFiles, dbOid: undefined, gid: undefined, lsn: 100n, endLsn: 200n };
}

function gate(options: Partial<ConstructorParameters<typeof CommitGate>[0]> = {}) {
  const outputs: GateOutput[] = [];
  const g = new CommitGate({ dbOid: DB, ...options }, (out) => outputs.push(out));
  const change = (xid: number, rel: number, count = 1, db = DB, spc = 1663) =>
    g.change(xid, block(rel, db, spc), 'insert', count, record);
  /** Outputs since the last call, with counts as [rel, count] pairs. */
  const take = () =>
    outputs.splice(0).map((out) =>
      out.type === 'release'
        ? {
            xid: out.xid,
            counts: out.relations.map((r) => [r.relNumber, r.count]),
            dropped: out.droppedRelFiles.map((f) => f.relNumber),
            created: out.createdRelFiles.map((f) => f.relNumber),
          }
        : { xid: out.xid, resync: out.reason },
    );
  return { g, change, take };
}

describe('CommitGate', () => {
  test('a commit releases its own and its committed subtransactions counts, per relation, in order', () => {
    const { g, change, take } = gate();
    change(10, 100, 2);
    change(11, 200);
    change(10, 100, 3);
    change(12, 100);
    change(99, 100);
    g.end(end('commit', 10, [11, 12]));
    assert.deepEqual(take(), [
      {
        xid: 10,
        counts: [
          [100, 6],
          [200, 1],
        ],
        dropped: [],
        created: [],
      },
    ]);
    assert.equal(g.transactions, 1, 'xid 99 still open');
    assert.equal(g.relations, 1);
  });

  test('aborts drop, a subtransaction abort drops only itself, and empty commits are silent', () => {
    const { g, change, take } = gate();
    change(20, 100);
    change(21, 101);
    g.end(end('abort', 21));
    g.end(end('commit', 20));
    assert.deepEqual(take(), [{ xid: 20, counts: [[100, 1]], dropped: [], created: [] }]);
    change(30, 100);
    change(31, 100);
    g.end(end('abort', 30, [31]));
    g.end(end('commit', 32));
    assert.deepEqual(take(), []);
    assert.equal(g.transactions, 0);
    assert.equal(g.relations, 0);
  });

  test('PREPARE holds the counts until COMMIT PREPARED; ABORT PREPARED drops them', () => {
    const { g, change, take } = gate();
    change(40, 100);
    change(41, 101);
    g.prepare({ xid: 40, subxacts: [41], dbOid: DB, gid: 'g', lsn: 1n, endLsn: 2n });
    assert.deepEqual(take(), [], 'nothing is visible at PREPARE');
    assert.equal(g.transactions, 1);
    g.end(end('commit-prepared', 40, [41]));
    assert.deepEqual(take(), [
      {
        xid: 40,
        counts: [
          [100, 1],
          [101, 1],
        ],
        dropped: [],
        created: [],
      },
    ]);
    change(60, 100);
    g.prepare({ xid: 60, subxacts: [], dbOid: DB, gid: 'i', lsn: 1n, endLsn: 2n });
    g.end(end('abort-prepared', 60));
    assert.deepEqual(take(), []);
    assert.equal(g.transactions, 0);
  });

  test('other databases and shared catalogs are ignored; dropped and created files are reported for this one', () => {
    const { g, change, take } = gate();
    change(70, 100, 1, 6);
    change(70, 101, 1, 0);
    g.create(70, { spcOid: 1663, dbOid: DB, relNumber: 500 });
    g.create(70, { spcOid: 1663, dbOid: 6, relNumber: 501 });
    g.end(
      end(
        'commit',
        70,
        [],
        [
          { spcOid: 1663, dbOid: DB, relNumber: 400 },
          { spcOid: 1663, dbOid: 6, relNumber: 401 },
        ],
      ),
    );
    assert.deepEqual(take(), [{ xid: 70, counts: [], dropped: [400], created: [500] }]);
    change(71, 100, 1, 6);
    g.end(end('commit', 71));
    assert.deepEqual(take(), []);
  });

  test('the same relfilenumber in two tablespaces stays two relations', () => {
    const { g, change, take } = gate();
    change(80, 100, 1, DB, 1663);
    change(80, 100, 2, DB, 9000);
    g.end(end('commit', 80));
    const [out] = take();
    assert.deepEqual(out, {
      xid: 80,
      counts: [
        [100, 1],
        [100, 2],
      ],
      dropped: [],
      created: [],
    });
  });

  test('XLOG_RUNNING_XACTS forgets transactions that ended unseen (a crash writes no abort)', () => {
    const { g, change, take } = gate();
    change(90, 100);
    change(95, 100);
    g.runningXacts(93, 96, record);
    assert.equal(g.transactions, 1);
    g.end(end('commit', 90));
    g.end(end('commit', 95));
    assert.deepEqual(take(), [{ xid: 95, counts: [[100, 1]], dropped: [], created: [] }]);
  });

  test('xids compare across wraparound', () => {
    const { g, change } = gate();
    change(0xffff_fff0, 100);
    change(5, 100);
    g.runningXacts(0xffff_ffe0, 10, record);
    assert.equal(g.transactions, 2, 'both are newer than the horizon in xid order');
    g.runningXacts(3, 10, record);
    assert.equal(g.transactions, 1, 'the one from before the wraparound is older than 3');
    g.runningXacts(6, 10, record);
    assert.equal(g.transactions, 0);
  });

  test('an XLOG_XACT_ASSIGNMENT folds subtransactions into their top without changing what commits', () => {
    const { g, change, take } = gate({ maxTransactions: 3 });
    change(100, 1);
    change(101, 2);
    change(102, 1);
    g.assignment(100, [101, 102]);
    assert.equal(g.transactions, 1);
    change(103, 3);
    g.end(end('commit', 100, [101, 102, 103]));
    assert.deepEqual(take(), [
      {
        xid: 100,
        counts: [
          [1, 2],
          [2, 1],
          [3, 1],
        ],
        dropped: [],
        created: [],
      },
    ]);
  });

  test('past maxRelations a transaction overflows: its commit is a resync, others are untouched', () => {
    const { g, change, take } = gate({ maxRelations: 3 });
    change(110, 1);
    change(111, 1);
    change(111, 2);
    change(111, 3);
    change(111, 4);
    assert.equal(g.relations, 1, 'the overflowed transaction gave its slots back');
    change(111, 5);
    g.end(end('commit', 111));
    g.end(end('commit', 110));
    assert.deepEqual(take(), [
      { xid: 111, resync: 'overflow' },
      { xid: 110, counts: [[1, 1]], dropped: [], created: [] },
    ]);
    // A subtransaction that overflowed makes its top's commit a resync too.
    change(120, 1);
    change(121, 1);
    change(121, 2);
    change(121, 3);
    change(121, 4);
    g.end(end('commit', 120, [121]));
    assert.deepEqual(take(), [{ xid: 120, resync: 'overflow' }]);
  });

  test('past maxTransactions the untracked xids resync on commit until the running-xacts horizon passes them', () => {
    const { g, change, take } = gate({ maxTransactions: 2 });
    change(200, 1);
    change(201, 1);
    change(202, 1);
    change(204, 1);
    assert.equal(g.transactions, 2);
    g.end(end('commit', 200));
    assert.deepEqual(take(), [{ xid: 200, counts: [[1, 1]], dropped: [], created: [] }]);
    // 202 was lost: its next change cannot be trusted to be its first, so it is tracked as overflowed.
    change(202, 1);
    g.end(end('commit', 202));
    g.end(end('commit', 203));
    assert.deepEqual(take(), [
      { xid: 202, resync: 'overflow' },
      { xid: 203, resync: 'overflow' },
    ]);
    g.end(end('commit', 210));
    assert.deepEqual(take(), [], 'outside the lost range');
    g.runningXacts(205, 220, record);
    g.end(end('commit', 204));
    assert.deepEqual(take(), [], 'the horizon passed every lost xid');
  });

  test('a transaction running when the stream started resyncs on commit, once', () => {
    const { g, change, take } = gate({ runningAtStart: [300, 301] });
    change(300, 1);
    g.end(end('commit', 300));
    g.end(end('abort', 301));
    g.end(end('commit', 300));
    assert.deepEqual(take(), [{ xid: 300, resync: 'started-before-stream' }]);
    g.runningXacts(400, 400, record);
  });

  test('bounds are checked', () => {
    assert.throws(() => new CommitGate({ dbOid: 1, maxTransactions: 0 }, () => {}), RangeError);
    assert.throws(() => new CommitGate({ dbOid: 1, maxRelations: 1.5 }, () => {}), RangeError);
  });
});

// The chaos test's oracle on synthetic timelines: it must flag a lost wakeup, not only pass good runs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  type CommitRecord,
  checkCoverage,
  explainUncovered,
  type FaultRecord,
  figures,
  type ItemRecord,
  Rng,
  recoveries,
  type Stamp,
  Timeline,
} from '../../support/chaos.js';

/** A hand-made timeline: `at` is 10 ms per seq, so delays are easy to read. */
const s = (seq: number): Stamp => ({ seq, at: seq * 10 });
const commit = (table: string, sent: number, done: number): CommitRecord => ({
  table,
  sent: s(sent),
  done: s(done),
});
const batch = (seq: number, ...payloads: string[]): ItemRecord => ({
  stamp: s(seq),
  type: 'batch',
  payloads,
});
const resync = (seq: number, reason = 'reconnected'): ItemRecord => ({
  stamp: s(seq),
  type: 'resync',
  reason,
});
const fault = (seq: number, kind: string): FaultRecord => ({ kind, stamp: s(seq) });

describe('checkCoverage', () => {
  test('a Batch naming the table after the COMMIT returned covers it', () => {
    const result = checkCoverage([commit('public.a', 1, 2)], [resync(0, 'connected'), batch(3, 'public.a')]);
    assert.deepEqual(result.uncovered, []);
    assert.deepEqual(result.delays, [10]);
    assert.equal(result.checked, 1);
  });

  test('a Batch naming only other tables does not', () => {
    const result = checkCoverage([commit('public.a', 1, 2)], [batch(3, 'public.b', 'public.c')]);
    assert.equal(result.uncovered.length, 1);
    assert.equal(result.uncovered[0]?.commit.table, 'public.a');
    assert.equal(result.uncovered[0]?.inFlight, false);
  });

  test('a Batch or Resync received before the COMMIT returned does not, and is told apart', () => {
    const early = checkCoverage([commit('public.a', 5, 9)], [resync(1), batch(4, 'public.a')]);
    assert.equal(early.uncovered.length, 1);
    assert.equal(early.uncovered[0]?.inFlight, false);
    const inFlight = checkCoverage([commit('public.a', 5, 9)], [batch(7, 'public.a')]);
    assert.equal(inFlight.uncovered.length, 1);
    assert.equal(inFlight.uncovered[0]?.inFlight, true, 'arrived between COMMIT sent and returned');
  });

  test('a Resync of any reason after the COMMIT covers every table', () => {
    for (const reason of ['reconnected', 'overflow', 'failsafe', 'connected']) {
      const result = checkCoverage(
        [commit('public.a', 1, 2), commit('public.b', 3, 4)],
        [batch(5, 'public.c'), resync(6, reason)],
      );
      assert.deepEqual(result.uncovered, [], reason);
      assert.deepEqual(result.delays, [40, 20]);
    }
  });

  test('the delay is to the first covering item, whichever kind', () => {
    const result = checkCoverage(
      [commit('public.a', 1, 2)],
      [resync(9), batch(4, 'public.a'), batch(6, 'public.a')],
    );
    assert.deepEqual(result.delays, [20]);
  });

  test('a lost wakeup in the middle of a run is found, even with items on both sides', () => {
    const commits = [
      commit('public.a', 1, 2),
      commit('public.b', 3, 4),
      commit('public.a', 6, 7), // nothing names a after 7, and no Resync follows
      commit('public.b', 9, 10),
    ];
    const items = [resync(0, 'connected'), batch(5, 'public.a', 'public.b'), batch(11, 'public.b')];
    const result = checkCoverage(commits, items);
    assert.deepEqual(
      result.uncovered.map((u) => u.commit.done.seq),
      [7],
    );
    assert.equal(result.delays.length, 3);
  });

  test('items may come in any order; a duplicated payload in one batch counts once', () => {
    const result = checkCoverage(
      [commit('public.a', 1, 2), commit('public.a', 3, 4)],
      [batch(8, 'public.a', 'public.a'), batch(3, 'public.a')],
    );
    assert.deepEqual(result.uncovered, []);
    assert.deepEqual(result.delays, [10, 40]);
  });

  test('with no items at all, every commit is uncovered', () => {
    const result = checkCoverage([commit('public.a', 1, 2), commit('public.b', 3, 4)], []);
    assert.equal(result.uncovered.length, 2);
  });
});

describe('recoveries and figures', () => {
  test('fault → first item and fault → first Resync; null when nothing followed', () => {
    const items = [resync(0, 'connected'), batch(12, 'public.a'), resync(15), batch(30, 'public.a')];
    const result = recoveries([fault(10, 'reset'), fault(20, 'restart-fast'), fault(40, 'blackhole')], items);
    assert.deepEqual(
      result.map((r) => [r.fault.kind, r.firstItemMs, r.resyncMs]),
      [
        ['reset', 20, 50],
        ['restart-fast', 100, null],
        ['blackhole', null, null],
      ],
    );
  });

  test('figures count commits, faults by kind, Resyncs by reason, and the worst delays', () => {
    const commits = [commit('public.a', 1, 2), commit('public.b', 3, 4), commit('public.a', 16, 17)];
    const items = [
      resync(0, 'connected'),
      batch(5, 'public.a', 'public.b'),
      resync(14),
      batch(18, 'public.a'),
    ];
    const faults = [fault(10, 'reset'), fault(12, 'reset'), fault(13, 'terminate')];
    const result = figures({ seed: 7, seconds: 1, commits, items, faults });
    assert.equal(result.commitsChecked, 3);
    assert.equal(result.uncovered, 0);
    assert.deepEqual(result.faultsByKind, { reset: 2, terminate: 1 });
    assert.deepEqual(result.resyncsByReason, { connected: 1, reconnected: 1 });
    assert.equal(result.batches, 2);
    assert.equal(result.worstFirstItemAfterFaultMs, 40);
    assert.equal(result.worstResyncAfterFaultMs, 40);
    assert.deepEqual(result.worstResyncByKind, { reset: 40, terminate: 10 });
    assert.equal(result.worstCoverMs, 30);
    assert.equal(result.p50CoverMs, 10);
  });

  test('explainUncovered lists the commit, the fault timeline and the items around it', () => {
    const commits = [commit('public.a', 6, 7)];
    const items = [batch(5, 'public.a'), batch(9, 'public.b')];
    const faults: FaultRecord[] = [{ ...fault(8, 'blackhole'), note: 'liveness tripped' }];
    const coverage = checkCoverage(commits, items);
    const text = explainUncovered(coverage.uncovered, faults, items);
    assert.match(text, /1 commit\(s\) never followed/);
    assert.match(text, /public\.a committed at 0\.070 s \(seq 7\)/);
    assert.match(text, /0\.080 s blackhole \(liveness tripped\)/);
    assert.match(text, /Batch\[public\.b\]/);
  });
});

describe('Timeline and Rng', () => {
  test('stamps are strictly ordered by seq, with times from the origin', () => {
    let now = 100;
    const timeline = new Timeline(() => now);
    now = 105;
    const a = timeline.stamp();
    const b = timeline.stamp();
    assert.deepEqual(
      [a, b],
      [
        { seq: 1, at: 5 },
        { seq: 2, at: 5 },
      ],
    );
  });

  test('the same seed replays the same choices; another seed does not', () => {
    const draw = (seed: number) => {
      const rng = new Rng(seed);
      return [rng.next(), rng.int(5, 50), rng.pick(['a', 'b', 'c']), rng.shuffle([1, 2, 3, 4, 5])];
    };
    assert.deepEqual(draw(42), draw(42));
    assert.notDeepEqual(draw(42), draw(43));
    const rng = new Rng(1);
    for (let i = 0; i < 1000; i += 1) {
      const n = rng.int(5, 50);
      assert.ok(n >= 5 && n <= 50 && Number.isInteger(n));
    }
  });
});

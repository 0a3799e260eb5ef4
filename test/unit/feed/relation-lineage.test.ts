// Placing pgoutput changes under their partition root (contract R20, R25) with a look-up per described
// relation: parked counts keep their first-seen time, a description newer than the look-up in flight
// waits for the next one, one look-up runs at a time, the filter matches any level, `leaf` naming keeps
// the partition's own name, a relation that left the catalog or too many waiting become a resync, and a
// failed look-up fails the session.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PgoutputRelation } from '../../../src/decode/pgoutput-relation.js';
import {
  type Lineage,
  LineageResolver,
  type LineageResolverOptions,
  lineageSql,
  parseLineage,
  parseRunning,
} from '../../../src/feed/relation-lineage.js';
import { parseTableName, TableFilter } from '../../../src/feed/tables.js';

const relation = (oid: number, schema: string, table: string): PgoutputRelation => ({
  oid,
  schema,
  table,
  replicaIdentity: 'd',
  columns: [],
});
const lineage = (...names: string[]): Lineage => names.map((name) => parseTableName(name));

/** A resolver whose look-ups the test answers by hand. */
function harness(options: Partial<LineageResolverOptions> = {}) {
  let now = 1000;
  const emitted: [string, number, number][] = [];
  const resyncs: string[] = [];
  const failures: unknown[] = [];
  let xid = 0;
  const retries: { ms: number; run: () => void }[] = [];
  const lookups: {
    oids: readonly number[];
    xids: readonly number[];
    answer(found: [number, Lineage][], running?: number[]): Promise<void>;
    fail(e: unknown): Promise<void>;
  }[] = [];
  const resolver = new LineageResolver({
    lookup: (oids, xids) =>
      new Promise((resolve, reject) => {
        lookups.push({
          oids,
          xids,
          answer: async (found, running = []) => {
            resolve({ lineages: new Map(found), keys: null, running: new Set(running) });
            await new Promise((r) => setImmediate(r));
          },
          fail: async (error) => {
            reject(error);
            await new Promise((r) => setImmediate(r));
          },
        });
      }),
    // No first-seen time: the change arrived with the stream just now, as the session's clock reads it.
    emit: (payload, count, firstSeenMs = now) => emitted.push([payload, count, firstSeenMs]),
    resync: (why) => resyncs.push(why),
    fail: (error) => failures.push(error),
    filter: null,
    naming: 'root',
    now: () => now,
    committedXid: () => xid,
    later: (run, ms) => retries.push({ ms, run }),
    maxParked: 100,
    ...options,
  });
  return {
    resolver,
    emitted,
    resyncs,
    failures,
    lookups,
    retries,
    tick(ms: number) {
      now += ms;
    },
    /** The transaction whose changes the decoder reports from now on. */
    commit(next: number) {
      xid = next;
    },
  };
}

describe('LineageResolver', () => {
  test('a partition waits for its look-up, then counts under its root with its first-seen time', async () => {
    const h = harness();
    const leaf = relation(20, 'public', 'parted_eu');
    h.resolver.change(leaf, 1);
    h.tick(5);
    h.resolver.change(leaf, 2);
    assert.deepEqual(h.emitted, []);
    assert.equal(h.resolver.parked, 1);
    assert.equal(h.resolver.waitingMs(), 5);
    assert.deepEqual(
      h.lookups.map((l) => l.oids),
      [[20]],
    );
    await h.lookups[0]!.answer([[20, lineage('public.parted_eu', 'public.parted')]]);
    assert.deepEqual(h.emitted, [['public.parted', 3, 1000]]);
    assert.equal(h.resolver.waitingMs(), null);
    // Known now: later changes go straight through, with no look-up.
    h.resolver.change(leaf, 1);
    assert.deepEqual(h.emitted.at(-1), ['public.parted', 1, 1005]);
    assert.equal(h.lookups.length, 1);
  });

  test('it says it holds changes from the first parked until none is, dropped or placed', async () => {
    const said: boolean[] = [];
    const h = harness({ maxParked: 2, holding: (held) => said.push(held) });
    const a = relation(20, 'public', 'a');
    const b = relation(21, 'public', 'b');
    h.resolver.change(a, 1);
    h.resolver.change(a, 1);
    h.resolver.change(b, 1);
    assert.deepEqual(said, [true], 'once, when the first change was parked');
    await h.lookups[0]!.answer([[20, lineage('public.a')]]);
    assert.deepEqual(said, [true], 'b still waits for the next look-up');
    await h.lookups[1]!.answer([[21, lineage('public.b')]]);
    assert.deepEqual(said, [true, false]);
    // Past maxParked everything parked becomes a resync, and the newcomer is parked alone.
    h.resolver.change(relation(30, 'public', 'c'), 1);
    h.resolver.change(relation(31, 'public', 'd'), 1);
    h.resolver.change(relation(32, 'public', 'e'), 1);
    assert.equal(h.resyncs.length, 1);
    assert.deepEqual(said, [true, false, true, false, true]);
    // A relation dropped before its look-up: nothing parked is left.
    await h.lookups[2]!.answer([[30, lineage('public.c')]]);
    await h.lookups[3]!.answer([[32, null]]);
    assert.deepEqual(said, [true, false, true, false, true, false]);
  });

  test('a plain table keeps the name it was described with, even if renamed since', async () => {
    const h = harness();
    h.resolver.change(relation(30, 'public', 'old_name'), 1);
    await h.lookups[0]!.answer([[30, lineage('public.new_name')]]);
    assert.deepEqual(h.emitted, [['public.old_name', 1, 1000]]);
  });

  test('one look-up at a time; what arrives meanwhile goes in the next, together', async () => {
    const h = harness();
    h.resolver.change(relation(1, 's', 'a'), 1);
    h.resolver.change(relation(2, 's', 'b'), 1);
    h.resolver.change(relation(3, 's', 'c'), 1);
    assert.deepEqual(
      h.lookups.map((l) => l.oids),
      [[1]],
    );
    await h.lookups[0]!.answer([[1, lineage('s.a')]]);
    assert.deepEqual(
      h.lookups.map((l) => l.oids),
      [[1], [2, 3]],
    );
    await h.lookups[1]!.answer([
      [2, lineage('s.b')],
      [3, lineage('s.c', 's.root')],
    ]);
    assert.deepEqual(
      h.emitted.map(([payload]) => payload),
      ['s.a', 's.b', 's.root'],
    );
  });

  test('a description newer than the look-up in flight waits for a look-up sent after it (ATTACH PARTITION)', async () => {
    const h = harness();
    const before = relation(7, 'public', 'stand_alone');
    h.resolver.change(before, 1);
    // The server describes the relation again (it was attached meanwhile): a new object, same OID.
    const after = relation(7, 'public', 'stand_alone');
    h.resolver.change(after, 1);
    await h.lookups[0]!.answer([[7, lineage('public.stand_alone')]]);
    assert.deepEqual(h.emitted, [['public.stand_alone', 1, 1000]]);
    assert.deepEqual(h.lookups[1]?.oids, [7]);
    await h.lookups[1]!.answer([[7, lineage('public.stand_alone', 'public.parted')]]);
    assert.deepEqual(h.emitted.at(-1), ['public.parted', 1, 1000]);
  });

  test('tables: an entry naming the partition, or any table above it, matches; others are dropped', async () => {
    for (const [entry, expected] of [
      ['public.parted', ['public.parted']],
      ['public.parted_us', ['public.parted']],
      ['public.parted_us_low', ['public.parted']],
      ['public.other', []],
    ] as const) {
      const h = harness({ filter: new TableFilter([parseTableName(entry)]) });
      h.resolver.change(relation(9, 'public', 'parted_us_low'), 1);
      await h.lookups[0]!.answer([[9, lineage('public.parted_us_low', 'public.parted_us', 'public.parted')]]);
      assert.deepEqual(
        h.emitted.map(([payload]) => payload),
        expected,
        entry,
      );
    }
  });

  test("partitions 'leaf': a partition is named as itself, and an entry above it still matches", async () => {
    const h = harness({ naming: 'leaf', filter: new TableFilter([parseTableName('public.parted')]) });
    h.resolver.change(relation(9, 'public', 'parted_us_low'), 1);
    h.resolver.change(relation(4, 'public', 'other'), 1);
    await h.lookups[0]!.answer([
      [9, lineage('public.parted_us_low', 'public.parted_us', 'public.parted')],
      [4, lineage('public.other')],
    ]);
    assert.deepEqual(h.emitted, [['public.parted_us_low', 1, 1000]]);
  });

  test('a relation gone before its look-up: Resync, since it may have been a partition', async () => {
    const h = harness();
    h.resolver.change(relation(5, 'public', 'dropped'), 1);
    await h.lookups[0]!.answer([[5, null]]);
    assert.deepEqual(h.emitted, []);
    assert.equal(h.resyncs.length, 1);
    assert.match(h.resyncs[0]!, /"public\.dropped" changed and then left the catalog/);
  });

  test('past maxParked relations waiting, what waits becomes one resync', () => {
    const h = harness({ maxParked: 2 });
    h.resolver.change(relation(1, 's', 'a'), 1);
    h.resolver.change(relation(2, 's', 'b'), 1);
    assert.deepEqual(h.resyncs, []);
    h.resolver.change(relation(3, 's', 'c'), 1);
    assert.equal(h.resyncs.length, 1);
    assert.equal(h.resolver.parked, 1);
  });

  test('a failed look-up fails the session, once, and stops looking', async () => {
    const h = harness();
    h.resolver.change(relation(1, 's', 'a'), 1);
    h.resolver.change(relation(2, 's', 'b'), 1);
    const error = new Error('connection lost');
    await h.lookups[0]!.fail(error);
    assert.deepEqual(h.failures, [error]);
    h.resolver.change(relation(3, 's', 'c'), 1);
    assert.equal(h.lookups.length, 1);
    assert.deepEqual(h.emitted, []);
  });

  test("a look-up whose snapshot still saw the change's transaction running is asked again, later and later (DETACH PARTITION just committed)", async () => {
    const h = harness();
    h.commit(901);
    const detached = relation(20, 'public', 'parted_eu');
    h.resolver.change(detached, 1);
    h.commit(902);
    h.resolver.change(relation(21, 'public', 'other'), 1);
    assert.deepEqual(h.lookups[0]?.xids, [901]);
    await h.lookups[0]!.answer([[20, lineage('public.parted_eu', 'public.parted')]], [901]);
    // Read before 901 was visible, the answer may be the catalog before the DETACH: nothing placed.
    assert.deepEqual(h.emitted, []);
    assert.deepEqual(
      h.retries.map((retry) => retry.ms),
      [1],
    );
    h.tick(3);
    h.retries[0]!.run();
    assert.deepEqual(h.lookups[1]?.oids.toSorted(), [20, 21]);
    assert.deepEqual(h.lookups[1]?.xids.toSorted(), [901, 902]);
    await h.lookups[1]!.answer(
      [
        [20, lineage('public.parted_eu', 'public.parted')],
        [21, lineage('public.other')],
      ],
      [901],
    );
    assert.deepEqual(h.emitted, [['public.other', 1, 1000]]);
    assert.deepEqual(
      h.retries.map((retry) => retry.ms),
      [1, 2],
    );
    assert.equal(h.resolver.waitingMs(), 3, 'the wait counts from the first look-up of the round');
    assert.deepEqual(h.resolver.invisibleXids(), [901], 'what a liveness failure would name');
    h.retries[1]!.run();
    await h.lookups[2]!.answer([[20, lineage('public.parted_eu')]]);
    assert.deepEqual(h.emitted.at(-1), ['public.parted_eu', 1, 1000]);
    assert.equal(h.resolver.waitingMs(), null);
    assert.deepEqual(h.resolver.invisibleXids(), []);
    assert.equal(h.retries.length, 2);
  });
});

describe('lineage SQL', () => {
  test('OIDs only, checked: nothing else reaches the statement', () => {
    assert.match(lineageSql([16384, 4294967295]), /'\{16384,4294967295\}'::pg_catalog\.oid\[\]/);
    for (const bad of [0, -1, 1.5, 2 ** 32, Number.NaN]) assert.throws(() => lineageSql([bad]), RangeError);
  });

  test('xids are checked too, and only they reach the statement', () => {
    assert.match(lineageSql([16384], false, [901, 4294967295]), /'\{901,4294967295\}'::pg_catalog\.int8\[\]/);
    assert.match(lineageSql([16384]), /NULL, NULL\n/);
    for (const bad of [0, -1, 1.5, 2 ** 32]) assert.throws(() => lineageSql([1], false, [bad]), RangeError);
  });

  test('the transactions still running come in column 4 of the first row', () => {
    assert.deepEqual(
      parseRunning({ tag: 'SELECT 1', fields: [], rows: [['16384', '[["public", "p"]]', null, '[901]']] }),
      new Set([901]),
    );
    assert.deepEqual(
      parseRunning({ tag: 'SELECT 1', fields: [], rows: [['16384', '[["public", "p"]]', null, null]] }),
      new Set(),
    );
  });

  test('pairs of [schema, table] per OID, NULL for a relation that is gone', () => {
    const found = parseLineage({
      tag: 'SELECT 2',
      fields: [],
      rows: [
        ['16384', '[["public", "p_1"], ["public", "p"]]'],
        ['16390', null],
      ],
    });
    assert.deepEqual(found.get(16384), lineage('public.p_1', 'public.p'));
    assert.equal(found.get(16390), null);
  });
});

// Skipping keys once a table's rows folded (contract R24) changes nothing a consumer sees: for any run of
// INSERT, UPDATE (with and without an old key) and DELETE rows over two tables, with batches taken at any
// point, the pgoutput decoder, the lineage resolver and the engine yield exactly the same batches whether
// the decoder asks rowsFolded or reads every key. maxKeys is small, so batches fold often.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { createPgoutputDecoder, type PgoutputSink } from '../../../src/decode/pgoutput.js';
import { BatchEngine } from '../../../src/feed/batch-engine.js';
import { Batch } from '../../../src/feed/items.js';
import { LineageResolver } from '../../../src/feed/relation-lineage.js';
import { ManualClock } from '../../support/manual-clock.js';
import * as m from '../../support/pgoutput-bytes.js';

const settings = { seed: 20261205, numRuns: Number(process.env.PGNUDGE_FUZZ_RUNS ?? 200) };

const TABLES: m.RelationSpec[] = [16_600, 16_601].map((oid) => ({
  oid,
  schema: 'public',
  table: `t${oid}`,
  columns: [
    { name: 'id', key: true, typeOid: 25 },
    { name: 'note', typeOid: 25 },
  ],
}));

type Step =
  | { kind: 'insert' | 'delete' | 'update'; table: number; id: number }
  | { kind: 'move'; table: number; from: number; to: number }
  | { kind: 'take' };

const id = fc.integer({ min: 1, max: 5 });
const table = fc.integer({ min: 0, max: 1 });
const step: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      kind: fc.constantFrom<'insert' | 'delete' | 'update'>('insert', 'delete', 'update'),
      table,
      id,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('move' as const), table, from: id, to: id }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('take' as const) }) },
);

function message(s: Exclude<Step, { kind: 'take' }>): Uint8Array {
  const oid = TABLES[s.table]!.oid;
  switch (s.kind) {
    case 'insert':
      return m.insert(oid, [String(s.id), 'n']);
    case 'delete':
      return m.remove(oid, 'K', [String(s.id), null]);
    case 'update':
      return m.update(oid, [String(s.id), 'n']);
    case 'move':
      return m.update(oid, [String(s.to), 'n'], { kind: 'K', values: [String(s.from), null] });
  }
}

/** What a consumer sees of `steps`, the decoder asking rowsFolded or not; and how many rows skipped their key. */
async function batches(
  steps: readonly Step[],
  maxKeys: number,
  skipFolded: boolean,
): Promise<{ seen: string[][]; skipped: number }> {
  const clock = new ManualClock();
  const engine = new BatchEngine({
    clock,
    debounceMs: 10,
    maxBatchWaitMs: 100,
    maxPending: 100,
    maxKeys,
    failsafeMs: null,
    onReadable: () => undefined,
  });
  const resolver = new LineageResolver({
    lookup: async (oids) => ({
      lineages: new Map(oids.map((oid) => [oid, [{ schema: 'public', table: `t${oid}` }]])),
      keys: new Map(oids.map((oid) => [oid, ['id']])),
      running: new Set(),
    }),
    committedXid: () => 0,
    later: () => assert.fail('every look-up sees its transaction'),
    emit: (payload, count, firstSeenMs) => engine.change(payload, count, firstSeenMs),
    emitRow: (payload, key, count, firstSeenMs) => engine.changeRow(payload, key, count, firstSeenMs),
    rowsFolded: (payload) => engine.rowsFolded(payload),
    maxKeys,
    resync: (why) => assert.fail(why),
    fail: (error) => assert.fail(String(error)),
    filter: null,
    naming: 'root',
    now: () => clock.now(),
    maxParked: 10,
  });
  const sink: PgoutputSink = {
    change: (relation, _op, count) => resolver.change(relation, count),
    keyColumns: (relation) => resolver.keyColumns(relation),
    row: (relation, key, count) => resolver.changeRow(relation, key, count),
    overflow: () => assert.fail('nothing is held'),
  };
  let skipped = 0;
  if (skipFolded) {
    sink.rowsFolded = (relation) => {
      const folded = resolver.rowsFolded(relation);
      if (folded) skipped += 1;
      return folded;
    };
  }
  const decoder = createPgoutputDecoder();
  decoder.decode(m.begin(700), sink);
  for (const spec of TABLES) decoder.decode(m.relation(spec), sink);
  // Place both tables before the run: rows of a placed table are what may skip their keys.
  for (const spec of TABLES) decoder.decode(m.insert(spec.oid, ['0', 'n']), sink);
  await new Promise((resolve) => setImmediate(resolve));
  const seen: string[][] = [];
  const take = () => {
    clock.advance(100);
    const item = engine.take();
    if (item instanceof Batch) seen.push(item.events.map((e) => `${e.payload} ×${e.count}`));
  };
  take();
  for (const s of steps) {
    if (s.kind === 'take') take();
    else decoder.decode(message(s), sink);
  }
  take();
  engine.close();
  return { seen, skipped };
}

test('asking rowsFolded yields the same batches as reading every key', async () => {
  let skipped = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 3 }),
      fc.array(step, { maxLength: 60 }),
      async (maxKeys, steps) => {
        const asked = await batches(steps, maxKeys, true);
        skipped += asked.skipped;
        assert.deepEqual(asked.seen, (await batches(steps, maxKeys, false)).seen);
      },
    ),
    settings,
  );
  assert.ok(skipped > 0, 'some rows skipped their key');
});

test('past maxKeys rows of a table in a batch, its INSERTs skip their key', async () => {
  const steps: Step[] = [1, 2, 3, 4].map((n) => ({ kind: 'insert', table: 0, id: n }));
  const { seen, skipped } = await batches(steps, 2, true);
  assert.deepEqual(seen, [['public.t16600:0 ×1', 'public.t16601:0 ×1'], ['public.t16600 ×4']]);
  assert.equal(skipped, 1, 'the fourth: the third folded the batch');
});

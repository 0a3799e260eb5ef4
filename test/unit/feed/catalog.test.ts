// RelationCatalog (contract R20): routing by catalog facts, held changes and their release, the re-check
// policy (one query at a time, at most one re-check per interval, a Resync when an answer contradicts
// the cache), and the bounds.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type CatalogQuery, type PartitionNaming, RelationCatalog } from '../../../src/feed/catalog.js';
import type { RelationFacts } from '../../../src/feed/catalog-query.js';
import { TableFilter, type TableName } from '../../../src/feed/tables.js';

const n = (schema: string, table: string): TableName => ({ schema, table });
/** Facts for a relation whose lineage is `names` (itself first, root last). */
const facts = (...names: [string, string][]): RelationFacts => ({
  lineage: names.map(([schema, table]) => n(schema, table)),
  partitioned: false,
  key: null,
});
const LEAF = facts(['public', 'ev_eu_low'], ['public', 'ev_eu'], ['public', 'ev']);
const PLAIN = facts(['public', 'plain']);
const INTERVAL = 1000;

function catalog(
  options: { naming?: PartitionNaming; filter?: string[][]; maxHeld?: number } = {},
): RelationCatalog {
  return new RelationCatalog({
    naming: options.naming ?? 'root',
    filter: options.filter ? new TableFilter(options.filter.map(([s, t]) => n(s!, t!))) : null,
    maxHeld: options.maxHeld ?? 100,
    refreshIntervalMs: INTERVAL,
  });
}

/** Answers `query` from `known` (a relation not in it is absent). */
function answerFrom(c: RelationCatalog, query: CatalogQuery, known: Record<string, RelationFacts>) {
  return c.answer(
    query,
    query.relations.map((name) => known[`${name.schema}.${name.table}`] ?? null),
  );
}

describe('RelationCatalog routing (contract R20)', () => {
  test('a partition at any depth is reported under its root; a table of its own under itself', () => {
    const c = catalog();
    c.learn(n('public', 'ev_eu_low'), LEAF);
    c.learn(n('public', 'plain'), PLAIN);
    assert.equal(c.entry('public', 'ev_eu_low')?.payload, 'public.ev');
    assert.equal(c.entry('public', 'plain')?.payload, 'public.plain');
  });

  test("partitions 'leaf' keeps the relation's own name", () => {
    const c = catalog({ naming: 'leaf' });
    c.learn(n('public', 'ev_eu_low'), LEAF);
    assert.equal(c.entry('public', 'ev_eu_low')?.payload, 'public.ev_eu_low');
  });

  test('a filter entry matches the relation or any ancestor: root, mid-level, the leaf itself', () => {
    for (const [entry, expected] of [
      [['public', 'ev'], 'public.ev'],
      [['public', 'ev_eu'], 'public.ev'],
      [['public', 'ev_eu_low'], 'public.ev'],
      [['public', 'other'], null],
    ] as const) {
      const c = catalog({ filter: [[...entry]] });
      c.learn(n('public', 'ev_eu_low'), LEAF);
      assert.equal(c.entry('public', 'ev_eu_low')?.payload, expected, entry.join('.'));
    }
  });

  test('names are matched by identity, never by payload text', () => {
    const c = catalog({ filter: [['a.b', 'c']] });
    c.learn(n('a', 'b.c'), facts(['a', 'b.c']));
    assert.equal(c.entry('a', 'b.c')?.payload, null);
  });

  test('learn() skips an absent relation: its first change is looked up', () => {
    const c = catalog();
    c.learn(n('public', 'gone'), null);
    assert.equal(c.entry('public', 'gone'), undefined);
  });
});

describe('RelationCatalog held changes', () => {
  test('changes to an unknown relation are held, counted, then released under its payload', () => {
    const c = catalog();
    assert.equal(c.hold('public', 'ev_eu_low', 1, 10), true);
    assert.equal(c.hold('public', 'ev_eu_low', 2, 20), true);
    assert.equal(c.heldRelations, 1);
    const query = c.nextQuery(30)!;
    assert.deepEqual(query.relations, [n('public', 'ev_eu_low')]);
    assert.equal(query.lookups, 1);
    // Held while the lookup is in flight: counted with the others.
    c.hold('public', 'ev_eu_low', 4, 40);
    assert.equal(c.nextQuery(41), null, 'nothing new to ask');
    const outcome = answerFrom(c, query, { 'public.ev_eu_low': LEAF });
    assert.deepEqual(outcome, {
      releases: [{ payload: 'public.ev', count: 7, firstSeenMs: 10 }],
      resync: false,
    });
    assert.equal(c.heldRelations, 0);
    const entry = c.entry('public', 'ev_eu_low')!;
    assert.equal(entry.payload, 'public.ev');
    assert.equal(
      entry.seen,
      true,
      'changes held after the query was sent may predate its answer: re-checked',
    );
    assert.deepEqual(c.nextQuery(50)?.rechecks, [entry]);
  });

  test('an answer that postdates every held change needs no re-check', () => {
    const c = catalog();
    c.hold('public', 'plain', 1, 0);
    answerFrom(c, c.nextQuery(0)!, { 'public.plain': PLAIN });
    assert.equal(c.entry('public', 'plain')?.seen, false);
    assert.equal(c.nextQuery(10_000), null);
  });

  test('held changes the filter drops are released to nowhere', () => {
    const c = catalog({ filter: [['public', 'watched']] });
    c.hold('public', 'plain', 3, 0);
    const query = c.nextQuery(0)!;
    assert.deepEqual(answerFrom(c, query, { 'public.plain': PLAIN }), { releases: [], resync: false });
    assert.equal(c.entry('public', 'plain')?.payload, null);
  });

  test('a relation the catalog no longer holds cannot be placed: Resync', () => {
    const c = catalog();
    c.hold('public', 'dropped', 1, 0);
    c.hold('public', 'plain', 1, 0);
    const query = c.nextQuery(0)!;
    assert.deepEqual(answerFrom(c, query, { 'public.plain': PLAIN }), {
      releases: [{ payload: 'public.plain', count: 1, firstSeenMs: 0 }],
      resync: true,
    });
    assert.equal(c.entry('public', 'dropped'), undefined);
  });

  test('past maxHeld distinct relations hold() refuses; dropHeld() forgets, and a late answer only fills the cache', () => {
    const c = catalog({ maxHeld: 2 });
    assert.equal(c.hold('s', 'a', 1, 0), true);
    const inFlight = c.nextQuery(0)!;
    assert.equal(c.hold('s', 'b', 1, 0), true);
    assert.equal(c.hold('s', 'a', 1, 0), true, 'a relation already held is only counted');
    assert.equal(c.hold('s', 'c', 1, 0), false);
    c.dropHeld();
    assert.equal(c.heldRelations, 0);
    assert.equal(c.nextQuery(0), null, 'nothing held is asked about');
    assert.deepEqual(answerFrom(c, inFlight, { 's.a': facts(['s', 'a']) }), { releases: [], resync: false });
    assert.equal(c.entry('s', 'a')?.payload, 's.a');
  });

  test('a relation held again after dropHeld() is asked about again, even with an older lookup in flight', () => {
    const c = catalog();
    c.hold('s', 'a', 1, 0);
    const first = c.nextQuery(0)!;
    c.dropHeld();
    c.hold('s', 'a', 5, 1);
    const second = c.nextQuery(1)!;
    assert.deepEqual(answerFrom(c, first, { 's.a': facts(['s', 'a']) }).releases, []);
    assert.deepEqual(answerFrom(c, second, { 's.a': facts(['s', 'a']) }).releases, [
      { payload: 's.a', count: 5, firstSeenMs: 1 },
    ]);
  });
});

describe('RelationCatalog re-checks', () => {
  test('nothing is asked while no change uses the cache: no polling', () => {
    const c = catalog();
    c.learn(n('public', 'plain'), PLAIN);
    assert.equal(c.nextQuery(0), null);
    assert.equal(c.nextQueryAtMs(), null);
    assert.equal(c.nextQuery(1_000_000), null);
  });

  test('a used entry is re-checked at once, then at most once per interval', () => {
    const c = catalog();
    c.learn(n('public', 'plain'), PLAIN);
    const entry = c.entry('public', 'plain')!;
    assert.equal(c.use(entry), true, 'a re-check became wanted');
    assert.equal(entry.seen, true);
    assert.equal(c.use(entry), false, 'already seen');
    const first = c.nextQuery(5000)!;
    assert.deepEqual(first.relations, [n('public', 'plain')]);
    assert.deepEqual([first.lookups, first.rechecks], [0, [entry]]);
    assert.equal(entry.seen, false, 'a change after the query was sent is checked by the next one');
    assert.deepEqual(answerFrom(c, first, { 'public.plain': PLAIN }), { releases: [], resync: false });
    assert.equal(c.use(entry), true);
    assert.equal(c.nextQuery(5000 + INTERVAL - 1), null, 'too soon');
    assert.equal(c.nextQueryAtMs(), 5000 + INTERVAL);
    assert.equal(c.nextQuery(5000 + INTERVAL)?.rechecks.length, 1);
  });

  test('lookups are never deferred, and carry the re-checks that are due', () => {
    const c = catalog();
    c.learn(n('public', 'plain'), PLAIN);
    c.use(c.entry('public', 'plain')!);
    c.nextQuery(0);
    c.use(c.entry('public', 'plain')!);
    c.hold('public', 'new', 1, 10);
    assert.equal(c.nextQueryAtMs(), Number.NEGATIVE_INFINITY);
    const early = c.nextQuery(10)!;
    assert.deepEqual([early.relations, early.rechecks.length], [[n('public', 'new')], 0]);
    c.hold('public', 'newer', 1, INTERVAL);
    const due = c.nextQuery(INTERVAL)!;
    assert.deepEqual(due.relations, [n('public', 'newer'), n('public', 'plain')]);
    assert.equal(due.lookups, 1);
  });

  test('an attach, a detach or a rename seen by a re-check replaces the entry and resyncs', () => {
    const cases: [RelationFacts, RelationFacts, string][] = [
      [PLAIN, facts(['public', 'plain'], ['public', 'ev']), 'public.ev'],
      [LEAF, facts(['public', 'ev_eu_low']), 'public.ev_eu_low'],
      [
        LEAF,
        facts(['public', 'ev_eu_low'], ['public', 'ev_eu'], ['public', 'ev renamed']),
        'public.ev renamed',
      ],
    ];
    for (const [before, now, payload] of cases) {
      const c = catalog();
      const name = before.lineage[0]!;
      c.learn(name, before);
      const entry = c.entry(name.schema, name.table)!;
      c.use(entry);
      const query = c.nextQuery(0)!;
      assert.deepEqual(c.answer(query, [now]), { releases: [], resync: true });
      assert.equal(entry.payload, payload, 'updated in place, where the hot path holds it');
      assert.equal(c.entry(name.schema, name.table), entry);
    }
  });

  test('an entry whose relation is gone leaves the cache and resyncs', () => {
    const c = catalog();
    c.learn(n('public', 'plain'), PLAIN);
    const entry = c.entry('public', 'plain')!;
    c.use(entry);
    assert.deepEqual(c.answer(c.nextQuery(0)!, [null]), { releases: [], resync: true });
    assert.equal(entry.cached, false);
    assert.equal(c.entry('public', 'plain'), undefined);
    assert.equal(c.use(entry), false, 'an evicted entry is never re-checked');
  });

  test('a filtered-out entry is re-checked too: an attach can bring it under a watched root', () => {
    const c = catalog({ filter: [['public', 'ev']] });
    c.learn(n('public', 'side'), facts(['public', 'side']));
    const entry = c.entry('public', 'side')!;
    assert.equal(entry.payload, null);
    c.use(entry);
    const outcome = c.answer(c.nextQuery(0)!, [facts(['public', 'side'], ['public', 'ev'])]);
    assert.equal(outcome.resync, true);
    assert.equal(entry.payload, 'public.ev');
  });
});

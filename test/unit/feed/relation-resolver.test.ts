// RelationResolver without a server: which releases need a lookup and which nudge at once, retries until
// the commit is visible, TRUNCATE (and rewrites) found from the files a commit created and dropped, names
// read again after a commit that changed them, WAL order kept across lookups, and the bound on the queue.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { GateRelease } from '../../../src/decode/wal/commit-gate.js';
import { NAMES_CHANGED } from '../../../src/feed/physical-stream.js';
import { type LookupAnswer, RelationCache, type RelationRow } from '../../../src/feed/relation-names.js';
import { type LookupRequest, RelationResolver, retryDelayMs } from '../../../src/feed/relation-resolver.js';

const SPC = 1663;
const DB = 5;
const file = (relNumber: number) => ({ spcOid: SPC, dbOid: DB, relNumber });

function release(
  xid: number,
  relations: [number, number][],
  files: { created?: number[]; dropped?: number[] } = {},
): GateRelease {
  return {
    type: 'release',
    xid,
    endLsn: 0n,
    relations: relations.map(([relNumber, count]) => ({ ...file(relNumber), count })),
    createdRelFiles: (files.created ?? []).map(file),
    droppedRelFiles: (files.dropped ?? []).map(file),
  };
}

const row = (oid: number, name: string, extra: Partial<RelationRow> = {}): RelationRow => ({
  oid,
  schema: 'public',
  name,
  kind: 'r',
  persistence: 'p',
  chain: null,
  ...extra,
});

/** A resolver whose output is recorded; `catalog` answers lookups by file number or OID. */
function harness(
  catalog: { files: Map<number, RelationRow>; oids?: Map<number, RelationRow> },
  maxHeld?: number,
) {
  const out: string[] = [];
  /** Each holding() the resolver said, in order. */
  const said: boolean[] = [];
  const resolver = new RelationResolver(
    new RelationCache(),
    { filter: null, partitions: 'root', ...(maxHeld === undefined ? {} : { maxHeld }), maxAttempts: 3 },
    {
      change: (payload, count) => out.push(`${payload} ${count}`),
      resync: (why) => out.push(`resync: ${why}`),
      holding: (held) => said.push(held),
    },
  );
  resolver.start();
  const answer = (request: LookupRequest, visible = true): LookupAnswer => ({
    snapshot: visible
      ? { xmin: 1, xmax: 1_000_000, xip: [] }
      : { xmin: 1, xmax: 1_000_000, xip: [request.xid] },
    rows: request.items.map((item) =>
      item.by === 'file'
        ? (catalog.files.get(item.relNumber) ?? null)
        : (catalog.oids?.get(item.oid) ?? null),
    ),
  });
  /** Answers every lookup the resolver asks for, visible at once; returns how many it ran. */
  const settle = () => {
    let runs = 0;
    for (let request = resolver.request(); request !== undefined; runs++) {
      request = resolver.answer(request, answer(request)) ?? resolver.request();
    }
    return runs;
  };
  return { out, said, resolver, answer, settle };
}

describe('RelationResolver', () => {
  test('a file looked up once nudges at once afterwards; counts per relation', () => {
    const { out, resolver, settle } = harness({ files: new Map([[20000, row(16400, 'orders')]]) });
    resolver.release(release(10, [[20000, 3]]));
    assert.deepEqual(out, [], 'waits for its lookup');
    assert.equal(settle(), 1);
    resolver.release(release(11, [[20000, 2]]));
    assert.equal(resolver.request(), undefined, 'no second lookup');
    assert.deepEqual(out, ['public.orders 3', 'public.orders 2']);
  });

  test('nothing comes out before start(): the session first queues its Resync', () => {
    const out: string[] = [];
    const resolver = new RelationResolver(
      new RelationCache(),
      { filter: null, partitions: 'root' },
      {
        change: (payload) => out.push(payload),
        resync: (why) => out.push(why),
      },
    );
    resolver.resync('early');
    assert.equal(resolver.request(), undefined);
    assert.deepEqual(out, []);
    resolver.start();
    assert.deepEqual(out, ['early']);
  });

  test('a lookup that does not see the commit yet is retried, with growing delays, then becomes a Resync', () => {
    const { out, resolver, answer } = harness({ files: new Map([[20000, row(16400, 'orders')]]) });
    resolver.release(release(10, [[20000, 1]]));
    const first = resolver.request()!;
    assert.equal(first.attempt, 0);
    const second = resolver.answer(first, answer(first, false))!;
    assert.equal(second.attempt, 1);
    assert.deepEqual(out, []);
    const third = resolver.answer(second, answer(second, false))!;
    assert.equal(resolver.answer(third, answer(third, false)), undefined);
    assert.deepEqual(out, [
      'resync: transaction 10 committed in the WAL but stayed invisible to 3 catalog lookups',
    ]);
    assert.deepEqual([0, 1, 2, 3, 6, 9].map(retryDelayMs), [0, 5, 10, 20, 160, 200]);
  });

  test('a stale answer (the queue moved on) is ignored', () => {
    const { out, resolver, answer } = harness({ files: new Map([[20000, row(16400, 'orders')]]) }, 3);
    resolver.release(release(10, [[20000, 1]]));
    const request = resolver.request()!;
    resolver.release(
      release(11, [
        [20001, 1],
        [20002, 1],
      ]),
    );
    assert.match(out[0]!, /^resync: more than 3 relations waited/);
    assert.equal(resolver.answer(request, answer(request)), undefined);
    assert.equal(out.length, 1);
  });

  test('WAL order holds: a release behind a lookup waits for it, a Resync too', () => {
    const files = new Map([
      [20000, row(16400, 'a')],
      [20001, row(16401, 'b')],
    ]);
    const { out, resolver, settle } = harness({ files });
    resolver.release(release(10, [[20000, 1]]));
    resolver.resync('in between');
    resolver.release(release(11, [[20000, 1]]));
    assert.deepEqual(out, []);
    settle();
    assert.deepEqual(out, ['public.a 1', 'resync: in between', 'public.a 1']);
  });

  test('TRUNCATE: the new file names the table, count 1, the old file is forgotten; CREATE and DROP alone are silent', () => {
    const files = new Map([
      [20000, row(16400, 'swap')],
      [20010, row(16400, 'swap')],
      [20020, row(16410, 'fresh')],
      [20030, row(16400, 'swap_pkey', { kind: 'i' })],
    ]);
    const { out, resolver, settle } = harness({ files });
    resolver.release(release(10, [[20000, 4]]));
    settle();
    // TRUNCATE swap: its table file and its index file replaced.
    resolver.release(release(11, [], { created: [20010, 20030], dropped: [20000, 20001] }));
    settle();
    resolver.release(release(12, [], { created: [20020] }));
    settle();
    resolver.release(release(13, [], { dropped: [20010] }));
    settle();
    assert.deepEqual(out, ['public.swap 4', 'public.swap 1']);
  });

  test('a file the cache knew as another relation, dropped with a CREATE: no nudge for the new table', () => {
    const files = new Map([
      [20000, row(16400, 'old')],
      [20020, row(16410, 'fresh')],
    ]);
    const { out, resolver, settle } = harness({ files });
    resolver.release(release(10, [[20000, 1]]));
    settle();
    resolver.release(release(11, [], { created: [20020], dropped: [20000] }));
    settle();
    assert.deepEqual(out, ['public.old 1']);
    // ...but when the dropped file was never seen, it cannot tell: coarser, never wrong.
    resolver.release(release(12, [], { created: [20021], dropped: [29999] }));
    files.set(20021, row(16420, 'other'));
    settle();
    assert.deepEqual(out, ['public.old 1', 'public.other 1']);
  });

  test('rows written to a file the same transaction then dropped still count (INSERT, then TRUNCATE)', () => {
    const files = new Map([
      [20000, row(16400, 't')],
      [20010, row(16400, 't')],
    ]);
    const { out, resolver, settle } = harness({ files });
    resolver.release(release(10, [[20000, 5]], { created: [20010], dropped: [20000] }));
    settle();
    assert.deepEqual(out, ['public.t 5', 'public.t 1']);
  });

  test('a file created and dropped by one transaction is not looked up', () => {
    const { out, resolver } = harness({ files: new Map() });
    resolver.release(release(10, [], { created: [20000], dropped: [20000] }));
    assert.equal(resolver.request(), undefined);
    assert.deepEqual(out, []);
  });

  test('a row file nobody owns once the commit is visible becomes a Resync', () => {
    const { out, resolver, settle } = harness({ files: new Map() });
    resolver.release(release(10, [[20000, 1]]));
    settle();
    assert.match(out[0]!, /^resync: no relation owns file 1663\/20000 once transaction 10 is visible/);
  });

  test('a commit that changed names starts a generation: cached names are read again, by OID', () => {
    const files = new Map([[20000, row(16400, 'before')]]);
    const oids = new Map([[16400, row(16400, 'after')]]);
    const { out, resolver, settle } = harness({ files, oids });
    resolver.release(release(10, [[20000, 1]]));
    settle();
    resolver.release({
      ...release(11, []),
      relations: [{ ...NAMES_CHANGED, dbOid: DB, count: 1 }],
    });
    assert.equal(resolver.generation, 1);
    resolver.release(release(12, [[20000, 1]]));
    const request = resolver.request()!;
    assert.deepEqual(request.items, [{ by: 'oid', oid: 16400 }]);
    settle();
    assert.deepEqual(out, ['public.before 1', 'public.after 1']);
  });

  test('a lookup that finds a name catalog tells the shell where it lives now', () => {
    const found: string[] = [];
    const resolver = new RelationResolver(
      new RelationCache(),
      { filter: null, partitions: 'root' },
      {
        change: () => {},
        resync: () => {},
        nameCatalogFound: (name, kind, where) => found.push(`${name} ${kind} ${where.relNumber}`),
      },
    );
    resolver.start();
    resolver.release(release(10, [], { created: [30000], dropped: [1259] }));
    const request = resolver.request()!;
    resolver.answer(request, {
      snapshot: { xmin: 1, xmax: 100, xip: [] },
      rows: [row(1259, 'pg_class', { schema: 'pg_catalog' })],
    });
    assert.deepEqual(found, ['pg_class renames 30000']);
  });

  test('it says it holds transactions while one waits for a lookup, once per change, not per transaction', () => {
    const { out, said, resolver, settle } = harness({
      files: new Map([
        [20000, row(16400, 'a')],
        [20001, row(16401, 'b')],
      ]),
    });
    resolver.release(release(10, [[20000, 1]]));
    resolver.release(release(11, [[20000, 1]]));
    assert.deepEqual(said, [true]);
    settle();
    assert.deepEqual(out, ['public.a 1', 'public.a 1']);
    assert.deepEqual(said, [true, false]);
    resolver.release(release(12, [[20000, 5]]));
    assert.deepEqual(said, [true, false], 'a known file nudges at once: nothing held');
    resolver.release(release(13, [[20001, 1]]));
    assert.deepEqual(said, [true, false, true]);
  });

  test('the queue is bounded: past maxHeld it is dropped for one Resync, and every name is read again', () => {
    const { out, said, resolver, settle } = harness({ files: new Map([[20000, row(16400, 'a')]]) }, 4);
    resolver.release(release(9, [[20000, 1]]));
    settle();
    const generation = resolver.generation;
    resolver.release(release(10, [[20001, 1]]));
    resolver.release(release(11, [[20002, 1]]));
    resolver.release(release(12, [[20003, 1]]));
    assert.equal(out.filter((line) => line.startsWith('resync: more than 4')).length, 1);
    assert.equal(resolver.held, 0);
    assert.equal(said.at(-1), false, 'nothing held once the queue is dropped');
    assert.equal(resolver.request(), undefined);
    assert.equal(resolver.generation, generation + 1);
  });
});

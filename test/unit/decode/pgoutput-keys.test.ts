// Row keys from the pgoutput decoder (contract R22, R23, R25): on hand-built messages (only the key
// columns are read; an UPDATE that changes the key gives both; 'u' takes the old key's value or falls
// back to table-level; null or binary key values are table-level; held streamed keys are released at
// commit, dropped with their subtransaction, and collapse past their caps), on every major's golden
// bytes (test/fixtures/pgoutput, the workload's keys written by hand), and a property: any key text
// written into a tuple is read back exactly.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { ChangeOp } from '../../../src/decode/change.js';
import {
  createPgoutputDecoder,
  type PgoutputDecoder,
  type PgoutputDecoderLimits,
  type PgoutputRelation,
  type PgoutputSink,
} from '../../../src/decode/pgoutput.js';
import { DecodeError } from '../../../src/errors.js';
import { formatKey, parseKey } from '../../../src/feed/row-key.js';
import * as m from '../../support/pgoutput-bytes.js';
import { fixtureMajors, loadFixtures } from '../../support/pgoutput-capture.js';
import { expectedChanges } from '../../support/pgoutput-workload.js';

/** Keys by the flagged columns of DEFAULT and USING INDEX relations; FULL and NOTHING table-level. */
function flagged(relation: PgoutputRelation): readonly number[] | null {
  if (relation.replicaIdentity !== 'd' && relation.replicaIdentity !== 'i') return null;
  const indexes = relation.columns.flatMap((column, i) => (column.key ? [i] : []));
  return indexes.length === 0 ? null : indexes;
}

/** Records `[table, key text | null, count]` for rows and `[table, op, count]` for table-level changes. */
class KeySink implements PgoutputSink {
  readonly rows: [string, string | null, number][] = [];
  readonly tables: [string, ChangeOp, number][] = [];
  overflows = 0;
  keyColumns = flagged;

  change(relation: PgoutputRelation, op: ChangeOp, count: number): void {
    this.tables.push([`${relation.schema}.${relation.table}`, op, count]);
  }

  row(relation: PgoutputRelation, key: readonly string[] | null, count: number): void {
    this.rows.push([`${relation.schema}.${relation.table}`, key === null ? null : formatKey(key), count]);
  }

  overflow(): void {
    this.overflows += 1;
  }

  /** Row counts per key text, for `table`. */
  keys(table: string): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const [name, key, count] of this.rows) {
      if (name === table) counts[String(key)] = (counts[String(key)] ?? 0) + count;
    }
    return counts;
  }

  /** Table-level counts of `table`, summed. */
  tableLevel(table: string): number {
    return this.tables.reduce((n, [name, , count]) => n + (name === table ? count : 0), 0);
  }
}

function feed(decoder: PgoutputDecoder, messages: readonly Uint8Array[], sink = new KeySink()): KeySink {
  for (const message of messages) decoder.decode(message, sink);
  return sink;
}

const decoder = (limits: PgoutputDecoderLimits = {}) => createPgoutputDecoder(limits);

// The key (region, code) sits around other columns, so only columns 1 and 3 are read.
const LINES: m.RelationSpec = {
  oid: 16_500,
  schema: 'public',
  table: 'lines',
  columns: [
    { name: 'note', typeOid: 25 },
    { name: 'region', key: true, typeOid: 25 },
    { name: 'body', typeOid: 25 },
    { name: 'code', key: true, typeOid: 25 },
  ],
};
const BARE: m.RelationSpec = { oid: 16_501, schema: 'public', table: 'bare', columns: [{ name: 'id' }] };
const FULL: m.RelationSpec = {
  oid: 16_502,
  schema: 'public',
  table: 'full',
  identity: 'f',
  columns: [
    { name: 'id', key: true },
    { name: 'note', key: true, typeOid: 25 },
  ],
};

describe('keys in ordinary transactions', () => {
  test('INSERT names the new key, DELETE the old one, UPDATE the new one; other columns are never read', () => {
    const sink = feed(decoder(), [
      m.begin(700),
      m.relation(LINES),
      // Non-key columns hold bytes that are not UTF-8: reading them would be a table-level fallback.
      m.insert(LINES.oid, [new Uint8Array([0xff]), 'eu', 'x', 'c1']),
      m.update(LINES.oid, [null, 'eu', new Uint8Array([0xfe]), 'c1']),
      m.remove(LINES.oid, 'K', [null, 'eu', null, 'c1']),
      m.commit(),
    ]);
    assert.deepEqual(sink.rows, [
      ['public.lines', 'eu,c1', 1],
      ['public.lines', 'eu,c1', 1],
      ['public.lines', 'eu,c1', 1],
    ]);
    assert.deepEqual(sink.tables, []);
  });

  test('an UPDATE that changes the key names the old key, then the new one; one that keeps it, once', () => {
    const sink = feed(decoder(), [
      m.begin(700),
      m.relation(LINES),
      m.update(LINES.oid, ['n', 'eu', 'b', 'c2'], { kind: 'K', values: [null, 'eu', null, 'c1'] }),
      m.update(LINES.oid, ['n', 'eu', 'b', 'c2'], { kind: 'K', values: [null, 'eu', null, 'c2'] }),
      m.commit(),
    ]);
    assert.deepEqual(sink.rows, [
      ['public.lines', 'eu,c1', 1],
      ['public.lines', 'eu,c2', 1],
      ['public.lines', 'eu,c2', 1],
    ]);
  });

  test("an unchanged TOASTed key column ('u') takes the old key's value; without an old key, table-level", () => {
    const sink = feed(decoder(), [
      m.begin(700),
      m.relation(LINES),
      // The key changed in code, while region is an unchanged TOASTed value: (eu, c9).
      m.update(LINES.oid, ['n', 'unchanged', 'b', 'c9'], { kind: 'K', values: [null, 'eu', null, 'c1'] }),
      m.update(LINES.oid, ['n', 'unchanged', 'b', 'c9']),
      m.commit(),
    ]);
    assert.deepEqual(sink.rows, [
      ['public.lines', 'eu,c1', 1],
      ['public.lines', 'eu,c9', 1],
    ]);
    assert.deepEqual(sink.tables, [['public.lines', 'update', 1]]);
  });

  test('a null or binary key value, a keyless relation, FULL without a key from the sink, and TRUNCATE are table-level', () => {
    const sink = feed(decoder(), [
      m.begin(700),
      m.relation(LINES),
      m.relation(BARE),
      m.relation(FULL),
      m.insert(LINES.oid, ['n', null, 'b', 'c1']),
      m.insert(LINES.oid, ['n', 'eu', 'b', new Uint8Array([0x31])]),
      m.remove(LINES.oid, 'K', [null, 'eu', null, 'unchanged']),
      m.insert(BARE.oid, ['1']),
      m.update(FULL.oid, ['1', 'b'], { kind: 'O', values: ['1', 'a'] }),
      m.truncate([LINES.oid]),
      m.commit(),
    ]);
    assert.deepEqual(sink.rows, []);
    assert.deepEqual(sink.tables, [
      ['public.lines', 'insert', 1],
      ['public.lines', 'insert', 1],
      ['public.lines', 'delete', 1],
      ['public.bare', 'insert', 1],
      ['public.full', 'update', 1],
      ['public.lines', 'truncate', 1],
    ]);
  });

  test("FULL keys by the columns the sink names (the primary key), from the 'O' tuple and the new row", () => {
    const sink = new KeySink();
    sink.keyColumns = (relation) => (relation.replicaIdentity === 'f' ? [0] : flagged(relation));
    feed(
      decoder(),
      [
        m.begin(700),
        m.relation(FULL),
        m.update(FULL.oid, ['1', 'b'], { kind: 'O', values: ['1', 'a'] }),
        m.update(FULL.oid, ['2', 'b'], { kind: 'O', values: ['1', 'b'] }),
        m.remove(FULL.oid, 'O', ['2', 'b']),
        m.commit(),
      ],
      sink,
    );
    assert.deepEqual(sink.keys('public.full'), { 1: 2, 2: 2 });
  });

  test('a malformed row change with keys on throws DecodeError and reports nothing', () => {
    const d = decoder();
    const sink = feed(d, [m.begin(700), m.relation(LINES)]);
    const good = m.insert(LINES.oid, ['n', 'eu', 'b', 'c1']);
    for (const bad of [good.subarray(0, good.length - 1), Uint8Array.from([...good, 0])]) {
      assert.throws(() => d.decode(bad, sink), DecodeError);
    }
    assert.throws(() => d.decode(m.insert(LINES.oid, ['n', 'eu', 'c1']), sink), /3 columns .* with 4/);
    assert.deepEqual([sink.rows, sink.tables], [[], []]);
  });
});

describe('keys of a table whose rows folded in the pending batch (rowsFolded)', () => {
  /** A KeySink whose batch has folded `public.lines`, counting how often the decoder asked. */
  function foldedSink(): KeySink & { asked: number } {
    const sink = Object.assign(new KeySink(), { asked: 0 });
    (sink as PgoutputSink).rowsFolded = (relation) => {
      sink.asked += 1;
      return relation.table === 'lines';
    };
    return sink;
  }

  test('an INSERT, a DELETE and an UPDATE without an old key count table-level, their keys unread', () => {
    const sink = feed(
      decoder(),
      [
        m.begin(700),
        m.relation(LINES),
        m.insert(LINES.oid, ['n', 'eu', 'b', 'c1']),
        m.update(LINES.oid, ['n', 'eu', 'b', 'c1']),
        m.remove(LINES.oid, 'K', [null, 'eu', null, 'c1']),
        m.commit(),
      ],
      foldedSink(),
    );
    assert.deepEqual(sink.tables, [
      ['public.lines', 'insert', 1],
      ['public.lines', 'update', 1],
      ['public.lines', 'delete', 1],
    ]);
    assert.deepEqual(sink.rows, []);
  });

  test('an UPDATE with an old key is still read: a changed key counts twice, as before the fold', () => {
    const sink = feed(
      decoder(),
      [
        m.begin(700),
        m.relation(LINES),
        m.update(LINES.oid, ['n', 'eu', 'b', 'c2'], { kind: 'K', values: [null, 'eu', null, 'c1'] }),
        m.commit(),
      ],
      foldedSink(),
    );
    assert.deepEqual(sink.rows, [
      ['public.lines', 'eu,c1', 1],
      ['public.lines', 'eu,c2', 1],
    ]);
  });

  test('a transaction streamed in progress keeps its keys: it counts at its commit, into a later batch', () => {
    const sink = foldedSink();
    feed(
      decoder(),
      [
        m.streamStart(900, true),
        m.relation(LINES, 900),
        m.insert(LINES.oid, ['n', 'eu', 'b', 'c1'], 900),
        m.streamStop(),
        m.streamCommit(900),
      ],
      sink,
    );
    assert.equal(sink.asked, 0);
    assert.deepEqual(sink.rows, [['public.lines', 'eu,c1', 1]]);
  });
});

describe('keys of transactions streamed in progress', () => {
  const XID = 900;
  const SUB = 901;

  test('held keys are released at Stream Commit with their counts; an aborted subtransaction drops its own', () => {
    const d = decoder();
    const sink = feed(d, [
      m.streamStart(XID, true),
      m.relation(LINES, XID),
      m.insert(LINES.oid, ['n', 'eu', 'b', 'c1'], XID),
      m.update(LINES.oid, ['n', 'eu', 'b', 'c1'], undefined, XID),
      m.insert(LINES.oid, ['n', 'us', 'b', 'gone'], SUB),
      m.streamStop(),
      m.streamAbort(XID, SUB),
    ]);
    assert.deepEqual([sink.rows, sink.tables], [[], []], 'nothing before the commit');
    assert.equal(d.heldKeys, 1);
    feed(d, [m.streamCommit(XID)], sink);
    assert.deepEqual(sink.rows, [['public.lines', 'eu,c1', 2]]);
    assert.equal(d.heldKeys, 0);
  });

  test('an aborted streamed transaction releases no key', () => {
    const d = decoder();
    const sink = feed(d, [
      m.streamStart(XID, true),
      m.relation(LINES, XID),
      m.insert(LINES.oid, ['n', 'eu', 'b', 'c1'], XID),
      m.streamStop(),
      m.streamAbort(XID, XID),
    ]);
    assert.deepEqual([sink.rows, sink.tables, d.heldKeys], [[], [], 0]);
  });

  test('past maxHeldKeysPerRelation, or maxHeldKeys overall, an entry collapses into one keyless count', () => {
    for (const limits of [{ maxHeldKeysPerRelation: 3 }, { maxHeldKeys: 3 }]) {
      const d = decoder(limits);
      const rows = Array.from({ length: 5 }, (_, i) => m.insert(LINES.oid, ['n', 'eu', 'b', `c${i}`], XID));
      const sink = feed(d, [m.streamStart(XID, true), m.relation(LINES, XID), ...rows, m.streamStop()]);
      assert.equal(d.heldKeys, 0, JSON.stringify(limits));
      feed(d, [m.streamCommit(XID)], sink);
      assert.deepEqual(sink.rows, [['public.lines', null, 5]], JSON.stringify(limits));
      assert.equal(sink.overflows, 0);
    }
  });
});

describe('golden bytes of every major', () => {
  for (const major of fixtureMajors()) {
    test(`PostgreSQL ${major}: the workload's committed keys, text values only`, () => {
      const { messages } = loadFixtures(major);
      const sink = feed(decoder({ maxHeldKeysPerRelation: 100_000 }), messages.get('stream')!);
      // orders: 1-4 inserted, then 1 updated, 2 re-keyed to 10 (old and new key), 3 deleted; then 20 (origin), 21 (message),
      // 101 (a released savepoint of a streamed transaction; 100 rolled back, 200 aborted), 300 and 301
      // (COMMIT PREPARED decoded as an ordinary transaction; 302 rolled back).
      assert.deepEqual(sink.keys('public.orders'), {
        1: 2,
        2: 2,
        3: 2,
        4: 1,
        10: 1,
        20: 1,
        21: 1,
        101: 1,
        300: 1,
        301: 1,
      });
      assert.deepEqual(sink.keys('public.idx_t'), { k1: 3, k2: 2 }, 'USING INDEX: by code');
      // The UPDATE leaves the TOASTed body alone; the key id is sent as text all the same.
      assert.deepEqual(sink.keys('public.toasty'), { 1: 2 });
      // Every big row keyed once: the streamed ones were held per key and released at their commit.
      const big = sink.keys('public.big');
      assert.equal(sink.tableLevel('public.big'), 0);
      assert.equal(Object.keys(big).length, expectedChanges('all')['public.big']!.insert);
      assert.ok(Object.values(big).every((count) => count === 1));
      assert.equal(sink.tableLevel('public.nothing_t') > 0, true, 'NOTHING: table-level');
      assert.equal(
        Object.keys(sink.keys('public.full_t')).length,
        0,
        'FULL without a primary key: table-level',
      );
      assert.equal(sink.overflows, 0);
    });

    test(`PostgreSQL ${major}: binary values (the key-only capture) are never written as keys`, () => {
      const { messages } = loadFixtures(major);
      const sink = feed(decoder(), messages.get('keys')!);
      assert.deepEqual(sink.rows, []);
      assert.ok(sink.tableLevel('public.orders') > 0);
    });
  }
});

test('property: any key text written into a tuple is read back exactly, and its payload parses back to it', () => {
  // PostgreSQL text never holds NUL; everything else may appear in a key, in one to four columns.
  const text = fc.string({ unit: 'grapheme', maxLength: 12 }).filter((value) => !value.includes('\0'));
  fc.assert(
    fc.property(
      fc.array(text, { minLength: 1, maxLength: 4 }),
      fc.array(fc.option(text, { nil: null }), { maxLength: 3 }),
      (key, others) => {
        const columns: m.ColumnSpec[] = [];
        const values: m.Value[] = [];
        key.forEach((value, i) => {
          columns.push({ name: `k${i}`, key: true, typeOid: 25 });
          values.push(value);
          const other = others[i];
          if (other !== undefined) {
            columns.push({ name: `o${i}`, typeOid: 25 });
            values.push(other);
          }
        });
        const spec: m.RelationSpec = { oid: 17_000, schema: 's', table: 't', columns };
        const sink = feed(decoder(), [m.begin(1), m.relation(spec), m.insert(spec.oid, values), m.commit()]);
        assert.equal(sink.rows.length, 1);
        const written = sink.rows[0]![1]!;
        assert.deepEqual(parseKey(written), key);
      },
    ),
    { numRuns: 300 },
  );
});

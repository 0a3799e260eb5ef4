// The pgoutput decoder on hand-built messages (test/support/pgoutput-bytes.ts, from the documented
// formats): when a change may nudge, what streamed, aborted and prepared transactions do, the caps
// and what happens past them, and the protocol violations that must be DecodeErrors.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createPgoutputDecoder, type PgoutputDecoder } from '../../../src/decode/pgoutput.js';
import { DecodeError } from '../../../src/errors.js';
import * as m from '../../support/pgoutput-bytes.js';
import { RecordingSink } from '../../support/pgoutput-record.js';

const ORDERS: m.RelationSpec = {
  oid: 16_384,
  schema: 'public',
  table: 'orders',
  columns: [
    { name: 'id', key: true },
    { name: 'note', typeOid: 25 },
  ],
};
const ITEMS: m.RelationSpec = {
  oid: 16_390,
  schema: 'shop',
  table: 'items',
  columns: [{ name: 'id', key: true }],
};
const THIRD: m.RelationSpec = {
  oid: 16_400,
  schema: 'public',
  table: 'third',
  columns: [{ name: 'id', key: true }],
};

/** Feeds `messages` through `decoder`, one sink for all; returns the sink. */
function feed(
  decoder: PgoutputDecoder,
  messages: readonly Uint8Array[],
  sink = new RecordingSink(),
): RecordingSink {
  for (const message of messages) decoder.decode(message, sink);
  return sink;
}

function decodeError(fn: () => void, pattern: RegExp): DecodeError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof DecodeError, `expected a DecodeError, got ${String(caught)}`);
  assert.equal(caught.code, 'PGNUDGE_ERR_DECODE');
  assert.equal(caught.plugin, 'pgoutput');
  assert.match(caught.message, pattern);
  return caught;
}

/** A stream block of `xid` with the given changes, described relations first. */
function block(xid: number, first: boolean, ...messages: Uint8Array[]): Uint8Array[] {
  return [m.streamStart(xid, first), ...messages, m.streamStop()];
}

describe('ordinary transactions', () => {
  test('each row change is passed on as it arrives: the server sends a transaction only once committed', () => {
    const decoder = createPgoutputDecoder();
    const sink = feed(decoder, [m.begin(700), m.relation(ORDERS), m.insert(ORDERS.oid, ['1', 'a'])]);
    assert.deepEqual(sink.changes, [['public.orders', 'insert', 1]]);
    feed(
      decoder,
      [
        m.update(ORDERS.oid, ['2', 'b'], { kind: 'K', values: ['1', null] }),
        m.update(ORDERS.oid, ['2', 'unchanged']),
        m.remove(ORDERS.oid, 'K', ['2', null]),
        m.commit(),
      ],
      sink,
    );
    assert.deepEqual(sink.changes, [
      ['public.orders', 'insert', 1],
      ['public.orders', 'update', 1],
      ['public.orders', 'update', 1],
      ['public.orders', 'delete', 1],
    ]);
  });

  test('binary values, REPLICA IDENTITY FULL old rows and nulls are skipped alike', () => {
    const full: m.RelationSpec = {
      ...ORDERS,
      identity: 'f',
      columns: ORDERS.columns.map((c) => ({ ...c, key: true })),
    };
    const sink = feed(createPgoutputDecoder(), [
      m.begin(1),
      m.relation(full),
      m.insert(full.oid, [Uint8Array.of(0, 0, 0, 1), null]),
      m.update(full.oid, ['1', 'new'], { kind: 'O', values: ['1', 'old'] }),
      m.remove(full.oid, 'O', [Uint8Array.of(0, 0, 0, 1), 'new']),
      m.commit(),
    ]);
    assert.deepEqual(
      sink.changes.map(([, op]) => op),
      ['insert', 'update', 'delete'],
    );
  });

  test('a TRUNCATE of several tables counts 1 per table, in the order named', () => {
    const sink = feed(createPgoutputDecoder(), [
      m.begin(1),
      m.relation(ORDERS),
      m.relation(ITEMS),
      m.truncate([ITEMS.oid, ORDERS.oid], undefined, 3),
      m.commit(),
    ]);
    assert.deepEqual(sink.changes, [
      ['shop.items', 'truncate', 1],
      ['public.orders', 'truncate', 1],
    ]);
  });

  test('a Relation message again for the same OID replaces it (ALTER TABLE, a rename)', () => {
    const decoder = createPgoutputDecoder();
    const sink = feed(decoder, [
      m.begin(1),
      m.relation(ORDERS),
      m.insert(ORDERS.oid, ['1', 'a']),
      m.relation({ ...ORDERS, table: 'orders_v2', columns: [...ORDERS.columns, { name: 'extra' }] }),
      m.insert(ORDERS.oid, ['2', 'b', 'c']),
      m.commit(),
    ]);
    assert.deepEqual(sink.changes, [
      ['public.orders', 'insert', 1],
      ['public.orders_v2', 'insert', 1],
    ]);
    assert.deepEqual(
      decoder.relation(ORDERS.oid)?.columns.map((c) => c.name),
      ['id', 'note', 'extra'],
    );
  });

  test('the Relation message exposes what a key extractor needs; pg_catalog travels as an empty name', () => {
    const decoder = createPgoutputDecoder();
    feed(decoder, [
      m.relation({
        oid: 5,
        schema: 'pg_catalog',
        table: 't',
        identity: 'i',
        columns: [
          { name: 'a', typeOid: 1043, typeModifier: 68 },
          { name: 'b', key: true, typeOid: 20 },
        ],
      }),
    ]);
    assert.deepEqual(decoder.relation(5), {
      oid: 5,
      schema: 'pg_catalog',
      table: 't',
      replicaIdentity: 'i',
      columns: [
        { name: 'a', key: false, typeOid: 1043, typeModifier: 68 },
        { name: 'b', key: true, typeOid: 20, typeModifier: -1 },
      ],
    });
  });

  test('Type, Origin and logical Message messages nudge nothing', () => {
    const sink = feed(createPgoutputDecoder(), [
      m.message(false, 'app', 'outside a transaction'),
      m.begin(1),
      m.origin('upstream'),
      m.type(70_000, 'public', 'mood'),
      m.message(true, 'app', 'inside'),
      m.commit(),
      ...block(9, true, m.type(70_000, 'public', 'mood', 9), m.message(true, 'p', 'x', 9)),
      m.streamCommit(9),
    ]);
    assert.deepEqual(sink.changes, []);
  });
});

describe('streamed transactions', () => {
  test('changes are held until Stream Commit, then released summed per relation and op', () => {
    const decoder = createPgoutputDecoder();
    const sink = feed(decoder, [
      ...block(
        800,
        true,
        m.relation(ORDERS, 800),
        m.insert(ORDERS.oid, ['1', 'a'], 800),
        m.insert(ORDERS.oid, ['2', 'a'], 800),
        m.relation(ITEMS, 800),
        m.remove(ITEMS.oid, 'K', ['1'], 800),
      ),
      ...block(800, false, m.insert(ORDERS.oid, ['3', 'a'], 800), m.truncate([ITEMS.oid, ORDERS.oid], 800)),
    ]);
    assert.deepEqual(sink.changes, []);
    assert.equal(decoder.heldTransactions, 1);
    feed(decoder, [m.streamCommit(800)], sink);
    assert.deepEqual(sink.changes, [
      ['public.orders', 'insert', 3],
      ['public.orders', 'truncate', 1],
      ['shop.items', 'delete', 1],
      ['shop.items', 'truncate', 1],
    ]);
    assert.equal(decoder.heldTransactions, 0);
    assert.equal(decoder.heldEntries, 0);
  });

  test('Stream Abort of a subtransaction drops only its changes; of the top-level xid, everything', () => {
    const decoder = createPgoutputDecoder();
    const sink = feed(decoder, [
      ...block(
        800,
        true,
        m.relation(ORDERS, 800),
        m.insert(ORDERS.oid, ['1', 'top'], 800),
        m.insert(ORDERS.oid, ['2', 'kept savepoint'], 801),
        m.insert(ORDERS.oid, ['3', 'rolled back'], 802),
        m.relation(ITEMS, 802),
        m.insert(ITEMS.oid, ['1'], 802),
      ),
      m.streamAbort(800, 802),
      ...block(800, false, m.insert(ORDERS.oid, ['4', 'after'], 800)),
      m.streamCommit(800),
      ...block(900, true, m.relation(ITEMS, 900), m.insert(ITEMS.oid, ['9'], 900)),
      m.streamAbort(900, 900),
    ]);
    assert.deepEqual(sink.changes, [['public.orders', 'insert', 3]]);
    assert.equal(decoder.heldTransactions, 0);
  });

  test('interleaved streamed transactions are held apart; parallel Stream Abort carries 16 more bytes', () => {
    const sink = feed(createPgoutputDecoder(), [
      ...block(1, true, m.relation(ORDERS, 1), m.insert(ORDERS.oid, ['1', 'a'], 1)),
      ...block(2, true, m.relation(ITEMS, 2), m.insert(ITEMS.oid, ['1'], 2)),
      m.begin(3),
      m.relation(THIRD),
      m.insert(THIRD.oid, ['1']),
      m.commit(),
      ...block(1, false, m.insert(ORDERS.oid, ['2', 'a'], 1)),
      m.streamAbort(2, 2, true),
      m.streamCommit(1),
    ]);
    assert.deepEqual(sink.changes, [
      ['public.third', 'insert', 1],
      ['public.orders', 'insert', 2],
    ]);
  });

  test('a relation described inside a stream block stays with that transaction until it commits', () => {
    const renamed: m.RelationSpec = { ...ORDERS, table: 'renamed' };
    const decoder = createPgoutputDecoder();
    const sink = feed(decoder, [
      m.begin(1),
      m.relation(ORDERS),
      m.insert(ORDERS.oid, ['1', 'a']),
      m.commit(),
      ...block(5, true, m.relation(renamed, 5), m.insert(ORDERS.oid, ['2', 'b'], 5)),
      // An ordinary transaction in between still sees the relation as it was described outside.
      m.begin(6),
      m.insert(ORDERS.oid, ['3', 'c']),
      m.commit(),
    ]);
    assert.equal(decoder.relation(ORDERS.oid)?.table, 'orders');
    feed(decoder, [m.streamCommit(5)], sink);
    assert.deepEqual(sink.changes, [
      ['public.orders', 'insert', 1],
      ['public.orders', 'insert', 1],
      ['public.renamed', 'insert', 1],
    ]);
    // Committed: from now on it is the relation's description.
    assert.equal(decoder.relation(ORDERS.oid)?.table, 'renamed');
    feed(decoder, [...block(7, true, m.relation(ORDERS, 7)), m.streamAbort(7, 7)], sink);
    assert.equal(decoder.relation(ORDERS.oid)?.table, 'renamed');
  });
});

describe('two-phase transactions', () => {
  test('a transaction decoded at PREPARE is held until COMMIT PREPARED, dropped at ROLLBACK PREPARED', () => {
    const decoder = createPgoutputDecoder();
    const sink = feed(decoder, [
      m.relation(ORDERS),
      m.beginPrepare(10, 'p1'),
      m.insert(ORDERS.oid, ['1', 'a']),
      m.prepare(10, 'p1'),
      m.beginPrepare(11, 'p2'),
      m.insert(ORDERS.oid, ['2', 'a']),
      m.prepare(11, 'p2'),
      m.begin(12),
      m.insert(ORDERS.oid, ['3', 'between']),
      m.commit(),
    ]);
    assert.deepEqual(sink.changes, [['public.orders', 'insert', 1]]);
    assert.equal(decoder.heldTransactions, 2);
    feed(decoder, [m.rollbackPrepared(11, 'p2'), m.commitPrepared(10, 'p1')], sink);
    assert.deepEqual(sink.changes, [
      ['public.orders', 'insert', 1],
      ['public.orders', 'insert', 1],
    ]);
    assert.equal(decoder.heldTransactions, 0);
  });

  test('a streamed transaction ending in Stream Prepare waits for COMMIT PREPARED', () => {
    const decoder = createPgoutputDecoder();
    const sink = feed(decoder, [
      ...block(
        20,
        true,
        m.relation(ITEMS, 20),
        m.insert(ITEMS.oid, ['1'], 20),
        m.insert(ITEMS.oid, ['2'], 20),
      ),
      m.streamPrepare(20, 'big'),
      ...block(21, true, m.relation(ITEMS, 21), m.insert(ITEMS.oid, ['3'], 21)),
      m.streamPrepare(21, 'big2'),
    ]);
    assert.deepEqual(sink.changes, []);
    // Once prepared, what the blocks described applies to everyone: only the counts stay held.
    assert.equal(decoder.relation(ITEMS.oid)?.table, 'items');
    assert.equal(decoder.heldEntries, 2);
    feed(decoder, [m.commitPrepared(20, 'big'), m.rollbackPrepared(21, 'big2')], sink);
    assert.deepEqual(sink.changes, [['shop.items', 'insert', 2]]);
    decodeError(() => feed(decoder, [m.streamStart(20, false)]), /never started/);
  });

  test('COMMIT PREPARED of a transaction this session never saw prepared nudges nothing', () => {
    const sink = feed(createPgoutputDecoder(), [m.commitPrepared(30, 'old'), m.rollbackPrepared(31, 'old2')]);
    assert.deepEqual([sink.changes, sink.overflows], [[], 0]);
  });
});

describe('caps', () => {
  test('past maxHeldTransactions the new transaction is not held, and its commit is an overflow', () => {
    const decoder = createPgoutputDecoder({ maxHeldTransactions: 1 });
    const sink = feed(decoder, [
      ...block(1, true, m.relation(ORDERS, 1), m.insert(ORDERS.oid, ['1', 'a'], 1)),
      ...block(2, true, m.relation(ITEMS, 2), m.insert(ITEMS.oid, ['1'], 2)),
      ...block(2, false, m.insert(ITEMS.oid, ['2'], 2)),
      ...block(3, true, m.insert(ITEMS.oid, ['3'], 3)),
    ]);
    assert.equal(decoder.heldTransactions, 1);
    feed(decoder, [m.streamAbort(3, 3), m.streamCommit(1), m.streamCommit(2)], sink);
    // The held one exactly; the dropped one that aborted: nothing; the dropped one that committed: overflow.
    assert.deepEqual(sink.changes, [['public.orders', 'insert', 1]]);
    assert.equal(sink.overflows, 1);
  });

  test('past maxHeldEntries the transaction that grows is dropped; the others stay exact', () => {
    const decoder = createPgoutputDecoder({ maxHeldEntries: 3 });
    const sink = feed(decoder, [
      ...block(1, true, m.relation(ORDERS, 1), m.insert(ORDERS.oid, ['1', 'a'], 1)),
      ...block(
        2,
        true,
        m.relation(ITEMS, 2),
        m.insert(ITEMS.oid, ['1'], 2),
        m.insert(ITEMS.oid, ['2'], 20),
        m.insert(ITEMS.oid, ['3'], 21),
      ),
    ]);
    assert.ok(decoder.heldEntries <= 3);
    assert.equal(decoder.heldTransactions, 1);
    feed(decoder, [m.streamCommit(2), m.streamCommit(1)], sink);
    assert.deepEqual(sink.changes, [['public.orders', 'insert', 1]]);
    assert.equal(sink.overflows, 1);
  });

  test('what a dropped streamed transaction described still applies: after its commit the server relies on it', () => {
    // Found by the model property: the server marks relations described in a committed stream as
    // sent, so the next ordinary transaction changes them without a Relation message.
    const decoder = createPgoutputDecoder({ maxHeldEntries: 1 });
    const sink = feed(decoder, [
      ...block(1, true, m.relation(ORDERS, 1), m.insert(ORDERS.oid, ['1', 'a'], 1)),
      ...block(1, false, m.relation(ITEMS, 1), m.insert(ITEMS.oid, ['1'], 1)),
      m.streamCommit(1),
      m.begin(2),
      m.insert(ORDERS.oid, ['2', 'b']),
      m.insert(ITEMS.oid, ['2']),
      m.commit(),
    ]);
    assert.deepEqual(sink.changes, [
      ['public.orders', 'insert', 1],
      ['shop.items', 'insert', 1],
    ]);
    assert.equal(sink.overflows, 1);
  });

  test('a prepared transaction dropped by a cap is an overflow at COMMIT PREPARED, nothing at ROLLBACK PREPARED', () => {
    const decoder = createPgoutputDecoder({ maxHeldTransactions: 1 });
    const sink = feed(decoder, [
      m.relation(ORDERS),
      m.beginPrepare(1, 'a'),
      m.insert(ORDERS.oid, ['1', 'a']),
      m.prepare(1, 'a'),
      m.beginPrepare(2, 'b'),
      m.insert(ORDERS.oid, ['2', 'b']),
      m.prepare(2, 'b'),
      m.beginPrepare(3, 'c'),
      m.prepare(3, 'c'),
      m.commitPrepared(2, 'b'),
      m.rollbackPrepared(3, 'c'),
      m.commitPrepared(1, 'a'),
    ]);
    assert.deepEqual(sink.changes, [['public.orders', 'insert', 1]]);
    assert.equal(sink.overflows, 1);
  });

  test('past maxRelations the relation described longest ago is forgotten; a change to it is a DecodeError', () => {
    const decoder = createPgoutputDecoder({ maxRelations: 2 });
    feed(decoder, [m.relation(ORDERS), m.relation(ITEMS), m.relation(ORDERS), m.relation(THIRD)]);
    assert.equal(decoder.relationCount, 2);
    assert.equal(decoder.relation(ITEMS.oid), undefined);
    feed(decoder, [m.begin(1), m.insert(ORDERS.oid, ['1', 'a'])]);
    decodeError(() => decoder.decode(m.insert(ITEMS.oid, ['1']), new RecordingSink()), /16390.*no Relation/);
  });

  test('limits must be positive integers', () => {
    for (const limits of [{ maxHeldTransactions: 0 }, { maxHeldEntries: 1.5 }, { maxRelations: -1 }]) {
      assert.throws(() => createPgoutputDecoder(limits), RangeError);
    }
  });
});

describe('protocol violations are DecodeErrors that change nothing', () => {
  test('a change to an OID no Relation message described', () => {
    const decoder = createPgoutputDecoder();
    feed(decoder, [m.begin(1)]);
    const error = decodeError(
      () => decoder.decode(m.insert(77, ['1']), new RecordingSink()),
      /relation OID 77/,
    );
    assert.equal(error.offset, 1);
  });

  test('a TRUNCATE naming one unknown OID reports none of the others', () => {
    const decoder = createPgoutputDecoder();
    const sink = feed(decoder, [m.begin(1), m.relation(ORDERS)]);
    decodeError(() => decoder.decode(m.truncate([ORDERS.oid, 99]), sink), /relation OID 99/);
    assert.deepEqual(sink.changes, []);
  });

  test('messages out of place', () => {
    const cases: [string, Uint8Array[], RegExp][] = [
      [
        'a row outside a transaction',
        [m.relation(ORDERS), m.insert(ORDERS.oid, ['1', 'a'])],
        /outside a transaction/,
      ],
      ['Begin inside Begin', [m.begin(1), m.begin(2)], /Begin inside a transaction/],
      ['Commit without Begin', [m.commit()], /Commit outside a transaction/],
      ['Stream Stop without Stream Start', [m.streamStop()], /Stream Stop outside a stream block/],
      ['Stream Start inside a transaction', [m.begin(1), m.streamStart(2, true)], /Stream Start inside/],
      ['Stream Commit inside a stream block', [m.streamStart(2, true), m.streamCommit(2)], /inside a stream/],
      ['a later block of a transaction never started', [m.streamStart(5, false)], /never started/],
      ['a first block twice', [...block(5, true), m.streamStart(5, true)], /first block twice/],
      ['Stream Commit of a transaction never streamed', [m.streamCommit(6)], /never streamed/],
      [
        'Prepare of another transaction',
        [m.beginPrepare(1, 'a'), m.prepare(2, 'a')],
        /inside Begin Prepare of 1/,
      ],
      [
        'Commit Prepared of a streaming transaction',
        [...block(3, true), m.commitPrepared(3, 'x')],
        /never prepared/,
      ],
      [
        'Stream Start for a prepared transaction',
        [...block(3, true), m.streamPrepare(3, 'x'), m.streamStart(3, false)],
        /prepared already/,
      ],
    ];
    for (const [what, messages, pattern] of cases) {
      const decoder = createPgoutputDecoder();
      const last = messages.pop()!;
      feed(decoder, messages);
      assert.throws(() => decoder.decode(last, new RecordingSink()), pattern, what);
    }
  });

  test('malformed bytes', () => {
    const withRelation = () => {
      const decoder = createPgoutputDecoder();
      feed(decoder, [m.begin(1), m.relation(ORDERS)]);
      return decoder;
    };
    const insert = m.insert(ORDERS.oid, ['1', 'a']);
    const cases: [string, Uint8Array, RegExp][] = [
      ['an empty message', new Uint8Array(0), /empty message/],
      ['an unknown type', Uint8Array.of(0x5a), /unknown message type 90/],
      ['a trailing byte', Uint8Array.from([...insert, 0]), /1 unexpected bytes after an Insert message/],
      ['a tuple with the wrong column count', m.insert(ORDERS.oid, ['1']), /1 columns for a relation with 2/],
      [
        'an unknown column kind',
        Uint8Array.from([...insert.subarray(0, 8), 0x78]),
        /unknown tuple column kind/,
      ],
      [
        'a negative value length',
        Uint8Array.of(...insert.subarray(0, 8), 0x74, 0xff, 0xff, 0xff, 0xff),
        /negative/,
      ],
      [
        'a value longer than the message',
        Uint8Array.of(...insert.subarray(0, 8), 0x74, 0, 0, 0, 9, 0x31),
        /truncated tuple value/,
      ],
      [
        'an update without a new tuple',
        m.remove(ORDERS.oid, 'K', ['1', null]).map((b, i) => (i === 0 ? 0x55 : b)),
        /truncated tuple kind/,
      ],
      [
        'a delete with a new tuple',
        m.insert(ORDERS.oid, ['1', 'a']).map((b, i) => (i === 0 ? 0x44 : b)),
        /'K' or 'O'/,
      ],
      ['a Truncate of no relation', m.truncate([]), /names no relation/],
      [
        'a Truncate longer than its count',
        Uint8Array.from([...m.truncate([ORDERS.oid]), 0, 0, 0, 1]),
        /wrong length for 1/,
      ],
      ['a Begin inside', m.begin(2), /Begin inside/],
    ];
    for (const [what, bytes, pattern] of cases) {
      const decoder = withRelation();
      const sink = new RecordingSink();
      decodeError(() => decoder.decode(bytes, sink), pattern);
      assert.deepEqual(sink.changes, [], what);
      // Nothing changed: the transaction is still open and the relation still known.
      decoder.decode(insert, sink);
      assert.deepEqual(sink.changes, [['public.orders', 'insert', 1]], what);
    }
    const outside: [Uint8Array, RegExp][] = [
      [Uint8Array.from([...m.commit()].map((b, i) => (i === 1 ? 1 : b))), /unknown Commit flags 1/],
      [m.streamAbort(1, 1).subarray(0, 8), /Stream Abort message of 8 bytes/],
      [Uint8Array.of(0x53, 0, 0, 0, 5, 2), /unknown first-segment flag 2/],
      [m.relation({ ...ORDERS, identity: 'x' as 'd' }), /unknown replica identity 120/],
      [
        Uint8Array.from([...m.relation(ORDERS)].map((b, i, a) => (i === a.length - 12 ? 0xff : b))),
        /invalid UTF-8 in column name/,
      ],
    ];
    for (const [bytes, pattern] of outside)
      decodeError(() => createPgoutputDecoder().decode(bytes, new RecordingSink()), pattern);
  });
});

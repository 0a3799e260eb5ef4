// Seeded properties for the pgoutput decoder, against a model of a pgoutput session: random
// transactions (ordinary, streamed in interleaved blocks with subtransactions that roll back, prepared,
// streamed then prepared; committed or not) over relations with odd names, encoded from the
// documented formats (test/support/pgoutput-bytes.ts), with what they commit known by construction.
// PGNUDGE_FUZZ_RUNS / PGNUDGE_FUZZ_SEED as in test/support/fuzz.ts; a failure prints how to keep it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { ChangeOp } from '../../src/decode/change.js';
import {
  createPgoutputDecoder,
  type PgoutputDecoderLimits,
  type PgoutputRelation,
} from '../../src/decode/pgoutput.js';
import { DecodeError } from '../../src/errors.js';
import { assertProperty, fuzzParams } from '../support/fuzz.js';
import * as m from '../support/pgoutput-bytes.js';
import { RecordingSink, sortTotals } from '../support/pgoutput-record.js';
import { addTotal, type Totals } from '../support/pgoutput-workload.js';

const settings = fuzzParams(2_000);
const bytesSettings = fuzzParams(10_000);
console.log(
  `# pgoutput fuzz seed ${settings.seed}, ${settings.numRuns} sessions and ${bytesSettings.numRuns} byte strings per property (replay with PGNUDGE_FUZZ_SEED=${settings.seed})`,
);

const OPS: readonly ChangeOp[] = ['insert', 'update', 'delete', 'truncate'];
const OIDS = [16_384, 16_385, 0x0100_4000, 0xffff_fff0];

const name = fc.oneof(
  fc.stringMatching(/^[a-z_][a-z0-9_]{0,8}$/),
  fc.string({
    unit: fc.constantFrom('"', '.', ',', ' ', 'A', 'é', '✓', '😀', '\\', "'"),
    minLength: 1,
    maxLength: 6,
  }),
);
const relationArb = fc.record({
  schema: name,
  table: name,
  identity: fc.constantFrom<'d' | 'n' | 'f' | 'i'>('d', 'n', 'f', 'i'),
  keys: fc.array(fc.boolean(), { minLength: 1, maxLength: 4 }),
});
const value = fc.oneof(
  fc.constant(null),
  fc.constant<'unchanged'>('unchanged'),
  fc.string({ maxLength: 6 }),
  fc.uint8Array({ maxLength: 6 }),
);
const change = fc.record({
  relation: fc.nat(3),
  op: fc.nat(3),
  sub: fc.nat(2),
  old: fc.constantFrom<'K' | 'O' | undefined>('K', 'O', undefined),
  values: fc.array(value, { maxLength: 6 }),
  also: fc.array(fc.nat(3), { maxLength: 2 }),
});
const transaction = fc.record({
  kind: fc.constantFrom('plain', 'stream', 'prepared', 'streamPrepared'),
  commit: fc.boolean(),
  changes: fc.array(change, { maxLength: 6 }),
  blocks: fc.integer({ min: 1, max: 3 }),
  abortedSubs: fc.tuple(fc.boolean(), fc.boolean()),
  describeAgain: fc.boolean(),
});
const sessionArb = fc.record({
  relations: fc.array(relationArb, { minLength: 4, maxLength: 4 }),
  transactions: fc.array(transaction, { maxLength: 6 }),
  order: fc.array(fc.nat(), { maxLength: 60 }),
  parallel: fc.boolean(),
});
type Session = typeof sessionArb extends fc.Arbitrary<infer T> ? T : never;

interface Built {
  messages: Uint8Array[];
  expected: Totals;
}

/**
 * Encodes a session as a server would send it, and what it commits. Ordinary and prepared
 * transactions describe a relation unless the server described it outside streams already (or a
 * streamed transaction that described it committed); streamed ones describe each relation at its
 * first use in the transaction, as pgoutput does; `describeAgain` describes at every use. Blocks of
 * different transactions interleave as `order` picks; a rolled-back subtransaction's Stream Abort
 * follows the block of its last change. (Schema changes are left to the golden bytes and the unit
 * tests: the locks they take rule out most interleavings, which this model does not know.)
 */
function build(session: Session, xidBase = 1_000): Built {
  const specs = session.relations.map((r, i) => ({
    oid: OIDS[i]!,
    schema: r.schema,
    table: r.table,
    identity: r.identity,
    columns: r.keys.map((key, c) => ({ name: `c${c}`, key })),
  }));
  const payload = (i: number) => `${specs[i]!.schema}.${specs[i]!.table}`;
  // The relations the server considers described outside streams (pgoutput's schema_sent).
  const described = new Set<number>();
  const expected: Totals = {};
  const parallel = session.parallel;

  type Unit = () => Uint8Array[];
  const queues: Unit[][] = session.transactions.map((txn, t) => {
    const xid = xidBase + t * 10;
    const subxid = (sub: number) => (sub === 0 ? xid : xid + sub);
    const streamed = txn.kind === 'stream' || txn.kind === 'streamPrepared';
    const aborted = (sub: number) => streamed && sub > 0 && txn.abortedSubs[sub - 1] === true;
    // The messages for one change; `describe` emits what must precede it.
    const encode = (
      c: Session['transactions'][number]['changes'][number],
      describe: (i: number) => Uint8Array[],
    ) => {
      const x = streamed ? subxid(c.sub) : undefined;
      const out: Uint8Array[] = [];
      const op = c.op;
      if (op === 3) {
        const named = [...new Set([c.relation, ...c.also])];
        for (const i of named) out.push(...describe(i));
        out.push(
          m.truncate(
            named.map((i) => specs[i]!.oid),
            x,
          ),
        );
        return { out, touched: named };
      }
      out.push(...describe(c.relation));
      const columns = specs[c.relation]!.columns.length;
      const values = Array.from({ length: columns }, (_, i) => c.values[i] ?? null);
      const oid = specs[c.relation]!.oid;
      if (op === 0) out.push(m.insert(oid, values, x));
      else if (op === 1)
        out.push(m.update(oid, values, c.old === undefined ? undefined : { kind: c.old, values }, x));
      else out.push(m.remove(oid, c.old ?? 'K', values, x));
      return { out, touched: [c.relation] };
    };
    const commitEffects = () => {
      for (const c of txn.changes) {
        if (aborted(c.sub)) continue;
        const named = c.op === 3 ? [...new Set([c.relation, ...c.also])] : [c.relation];
        for (const i of named) addTotal(expected, payload(i), OPS[c.op]!, 1);
      }
    };
    // After its commit the server takes what a streamed transaction described as described.
    const mergeOverlay = (used: Set<number>) => {
      for (const i of used) described.add(i);
    };

    if (!streamed) {
      const body = (): Uint8Array[] => {
        const out: Uint8Array[] = [];
        const describe = (i: number) => {
          if (described.has(i) && !txn.describeAgain) return [];
          described.add(i);
          return [m.relation(specs[i]!)];
        };
        for (const c of txn.changes) out.push(...encode(c, describe).out);
        return out;
      };
      if (txn.kind === 'plain') {
        return [
          () => {
            // An ordinary transaction reaches the client only if it committed, and only if it changed something.
            if (!txn.commit || txn.changes.length === 0) return [];
            commitEffects();
            return [m.begin(xid), ...body(), m.commit()];
          },
        ];
      }
      return [
        () => [m.beginPrepare(xid, `g${t}`), ...body(), m.prepare(xid, `g${t}`)],
        () => {
          if (txn.commit) commitEffects();
          return [txn.commit ? m.commitPrepared(xid, `g${t}`) : m.rollbackPrepared(xid, `g${t}`)];
        },
      ];
    }

    const used = new Set<number>();
    const size = Math.ceil(txn.changes.length / txn.blocks) || 1;
    const units: Unit[] = [];
    for (let b = 0; b * size < Math.max(txn.changes.length, 1); b++) {
      const chunk = txn.changes.slice(b * size, (b + 1) * size);
      const later = txn.changes.slice((b + 1) * size);
      units.push(() => {
        const out: Uint8Array[] = [m.streamStart(xid, b === 0)];
        for (const c of chunk) {
          const describe = (i: number) => {
            if (used.has(i) && !txn.describeAgain) return [];
            used.add(i);
            return [m.relation(specs[i]!, subxid(c.sub))];
          };
          out.push(...encode(c, describe).out);
        }
        out.push(m.streamStop());
        // A subtransaction that rolls back, once its last change was streamed.
        for (const sub of [1, 2]) {
          if (aborted(sub) && chunk.some((c) => c.sub === sub) && !later.some((c) => c.sub === sub)) {
            out.push(m.streamAbort(xid, subxid(sub), parallel));
          }
        }
        return out;
      });
    }
    if (txn.kind === 'stream') {
      units.push(() => {
        if (!txn.commit) return [m.streamAbort(xid, xid, parallel)];
        commitEffects();
        mergeOverlay(used);
        return [m.streamCommit(xid)];
      });
    } else {
      units.push(() => {
        mergeOverlay(used);
        return [m.streamPrepare(xid, `g${t}`)];
      });
      units.push(() => {
        if (txn.commit) commitEffects();
        return [txn.commit ? m.commitPrepared(xid, `g${t}`) : m.rollbackPrepared(xid, `g${t}`)];
      });
    }
    return units;
  });

  const messages: Uint8Array[] = [];
  let choice = 0;
  for (;;) {
    const open = queues.filter((queue) => queue.length > 0);
    if (open.length === 0) break;
    const pick = session.order[choice++] ?? 0;
    messages.push(...open[pick % open.length]!.shift()!());
  }
  return { messages, expected: sortTotals(expected) };
}

/**
 * A RecordingSink with row keys on (the flagged columns of DEFAULT and USING INDEX relations): each row
 * event is recorded as one change `update` of its table, so totals count events, not ops.
 */
class KeyedSink extends RecordingSink {
  keyColumns(relation: PgoutputRelation): readonly number[] | null {
    if (relation.replicaIdentity !== 'd' && relation.replicaIdentity !== 'i') return null;
    const indexes = relation.columns.flatMap((column, i) => (column.key ? [i] : []));
    return indexes.length === 0 ? null : indexes;
  }

  row(relation: PgoutputRelation, key: readonly string[] | null, count: number): void {
    if (key !== null) assert.ok(key.length > 0 && key.every((value) => typeof value === 'string'));
    this.change(relation, 'update', count);
  }
}

function decodeAll(messages: readonly Uint8Array[], limits: PgoutputDecoderLimits = {}, keyed = false) {
  const decoder = createPgoutputDecoder(limits);
  const sink = keyed ? new KeyedSink() : new RecordingSink();
  for (const message of messages) decoder.decode(message, sink);
  return { decoder, sink };
}

/** Only DecodeError may escape; anything else is a bug. */
function onlyDecodeErrors(
  messages: readonly Uint8Array[],
  limits: PgoutputDecoderLimits = {},
  keyed = false,
): void {
  try {
    decodeAll(messages, limits, keyed);
  } catch (error) {
    if (!(error instanceof DecodeError)) throw error;
  }
}

/** Per table: every committed change, summed over ops, and its UPDATEs (which may name two keys). */
function bounds(expected: Totals): Map<string, { all: number; updates: number }> {
  const out = new Map<string, { all: number; updates: number }>();
  for (const [table, ops] of Object.entries(expected)) {
    const all = Object.values(ops).reduce((n, count) => n + (count ?? 0), 0);
    out.set(table, { all, updates: ops.update ?? 0 });
  }
  return out;
}

const toFixture = (messages: Uint8Array[]) => ({ target: 'pgoutput' as const, inputs: messages });

describe('pgoutput decoder properties', () => {
  test('a session decodes to exactly what it committed, with nothing left held', () => {
    assertProperty(
      fc.property(sessionArb, (session) => {
        const { messages, expected } = build(session);
        const { decoder, sink } = decodeAll(messages);
        assert.deepEqual(sink.totals(), expected);
        assert.equal(sink.overflows, 0);
        assert.equal(decoder.heldTransactions, 0);
        assert.equal(decoder.heldEntries, 0);
      }),
      settings,
      ([session]) => toFixture(build(session).messages),
    );
  });

  test('under tiny caps memory stays within them, and the output is coarser, never wrong', () => {
    const limits = fc.record({
      maxHeldTransactions: fc.integer({ min: 1, max: 3 }),
      maxHeldEntries: fc.integer({ min: 1, max: 6 }),
    });
    assertProperty(
      fc.property(sessionArb, limits, (session, caps) => {
        const { messages, expected } = build(session);
        const decoder = createPgoutputDecoder(caps);
        const sink = new RecordingSink();
        for (const message of messages) {
          decoder.decode(message, sink);
          assert.ok(decoder.heldTransactions <= caps.maxHeldTransactions);
          assert.ok(decoder.heldEntries <= caps.maxHeldEntries);
        }
        const got = sink.totals();
        let missing = false;
        for (const [table, ops] of Object.entries(got)) {
          for (const [op, count] of Object.entries(ops)) {
            // Never a change that did not commit, never more than committed.
            assert.ok(count <= (expected[table]?.[op as ChangeOp] ?? 0), `${table} ${op}: ${count}`);
          }
        }
        for (const [table, ops] of Object.entries(expected)) {
          for (const [op, count] of Object.entries(ops)) {
            if ((got[table]?.[op as ChangeOp] ?? 0) < count) missing = true;
          }
        }
        // Whatever a cap made the decoder miss, it said so.
        if (missing) assert.ok(sink.overflows > 0, 'changes went missing without an overflow');
      }),
      settings,
      ([session]) => toFixture(build(session).messages),
    );
  });

  test('with row keys on, every committed change is one event, an UPDATE at most two, and nothing stays held', () => {
    assertProperty(
      fc.property(sessionArb, (session) => {
        const { messages, expected } = build(session);
        const { decoder, sink } = decodeAll(messages, {}, true);
        const want = bounds(expected);
        for (const [table, ops] of Object.entries(sink.totals())) {
          const got = Object.values(ops).reduce((n, count) => n + (count ?? 0), 0);
          const { all, updates } = want.get(table) ?? { all: 0, updates: 0 };
          assert.ok(got >= all && got <= all + updates, `${table}: ${got} events for ${all} changes`);
          want.delete(table);
        }
        assert.deepEqual(
          [...want.values()].filter(({ all }) => all > 0),
          [],
          'a committed change went missing',
        );
        assert.equal(sink.overflows, 0);
        assert.deepEqual([decoder.heldTransactions, decoder.heldEntries, decoder.heldKeys], [0, 0, 0]);
      }),
      settings,
      ([session]) => toFixture(build(session).messages),
    );
  });

  test('with row keys on and tiny key caps, held keys stay within them and no change is lost', () => {
    const limits = fc.record({
      maxHeldKeysPerRelation: fc.integer({ min: 1, max: 2 }),
      maxHeldKeys: fc.integer({ min: 1, max: 3 }),
    });
    assertProperty(
      fc.property(sessionArb, limits, (session, caps) => {
        const { messages, expected } = build(session);
        const decoder = createPgoutputDecoder(caps);
        const sink = new KeyedSink();
        for (const message of messages) {
          decoder.decode(message, sink);
          assert.ok(decoder.heldKeys <= caps.maxHeldKeys);
        }
        const want = bounds(expected);
        for (const [table, ops] of Object.entries(sink.totals())) {
          const got = Object.values(ops).reduce((n, count) => n + (count ?? 0), 0);
          const { all, updates } = want.get(table) ?? { all: 0, updates: 0 };
          assert.ok(got >= all && got <= all + updates, `${table}: ${got} events for ${all} changes`);
        }
      }),
      settings,
      ([session]) => toFixture(build(session).messages),
    );
  });

  test('a decoder that lived through another session decodes the next one as a fresh one does', () => {
    assertProperty(
      fc.property(sessionArb, sessionArb, (first, second) => {
        const warm = decodeAll(build(first).messages).decoder;
        const next = build(second, 500_000).messages;
        const sink = new RecordingSink();
        for (const message of next) warm.decode(message, sink);
        assert.deepEqual(sink.changes, decodeAll(next).sink.changes);
      }),
      settings,
      ([first, second]) => toFixture([...build(first).messages, ...build(second, 500_000).messages]),
    );
  });

  test('a session with one message mutated or cut raises only DecodeError', () => {
    const mutation = fc.record({
      message: fc.nat(),
      at: fc.nat(),
      kind: fc.constantFrom('replace', 'insert', 'delete', 'cut'),
      byte: fc.oneof(
        fc.constantFrom(0x00, 0x01, 0xff, 0x4e, 0x4b, 0x4f, 0x74, 0x62, 0x6e, 0x75),
        fc.nat(255),
      ),
    });
    const mutate = (
      messages: Uint8Array[],
      mutations: { message: number; at: number; kind: string; byte: number }[],
    ) => {
      const out = messages.map((message) => Array.from(message));
      for (const { message, at, kind, byte } of mutations) {
        if (out.length === 0) break;
        const bytes = out[message % out.length]!;
        const i = bytes.length === 0 ? 0 : at % bytes.length;
        if (kind === 'replace') bytes[i] = byte;
        else if (kind === 'insert') bytes.splice(i, 0, byte);
        else if (kind === 'delete') bytes.splice(i, 1);
        else bytes.length = i;
      }
      return out.map((bytes) => Uint8Array.from(bytes));
    };
    assertProperty(
      fc.property(sessionArb, fc.array(mutation, { minLength: 1, maxLength: 3 }), (session, mutations) => {
        const mutated = mutate(build(session).messages, mutations);
        onlyDecodeErrors(mutated);
        onlyDecodeErrors(mutated, { maxHeldTransactions: 1, maxHeldEntries: 2, maxRelations: 1 });
        onlyDecodeErrors(mutated, {}, true);
        onlyDecodeErrors(mutated, { maxHeldKeysPerRelation: 1, maxHeldKeys: 1 }, true);
      }),
      settings,
      ([session, mutations]) => toFixture(mutate(build(session).messages, mutations)),
    );
  });

  test('arbitrary bytes raise only DecodeError, in every kind of block', () => {
    const lead = fc.constantFrom<Uint8Array[]>(
      [],
      [m.begin(1)],
      [m.streamStart(2, true)],
      [m.beginPrepare(3, 'g')],
      [m.relation({ oid: 0x4e00_0000, schema: 's', table: 't', columns: [{ name: 'a' }] }), m.begin(1)],
    );
    assertProperty(
      fc.property(lead, fc.uint8Array({ maxLength: 64 }), fc.boolean(), (prefix, data, keyed) =>
        onlyDecodeErrors([...prefix, data], {}, keyed),
      ),
      bytesSettings,
      ([prefix, data]) => toFixture([...prefix, data]),
    );
  });
});

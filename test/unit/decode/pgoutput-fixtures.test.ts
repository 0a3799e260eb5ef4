// Replays the pgoutput golden bytes of every major (test/fixtures/pgoutput, recorded by
// scripts/capture-pgoutput.mjs from the workload in test/support/pgoutput-workload.ts) and checks the
// decoder against what the workload commits, written by hand from its SQL: per-table counts, nothing
// from rolled-back work, streamed changes released only at their commit, and the protocol each major
// speaks.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  createPgoutputDecoder,
  type PgoutputDecoder,
  type PgoutputRelation,
  type PgoutputSink,
} from '../../../src/decode/pgoutput.js';
import { DecodeError } from '../../../src/errors.js';
import { SUPPORTED_MAJORS } from '../../support/cluster.js';
import {
  CAPTURES,
  type Capture,
  captureOptions,
  fixtureMajors,
  loadFixtures,
  protoVersionOf,
} from '../../support/pgoutput-capture.js';
import { RecordingSink, sortTotals } from '../../support/pgoutput-record.js';
import { expectedChanges, LARGE, ODD_PAYLOAD } from '../../support/pgoutput-workload.js';

const STREAM_TYPES = 'SEcA';
const TWO_PHASE_TYPES = 'bPKrp';

/** Decodes every message; records which message type each sink call came from. */
function replay(messages: readonly Uint8Array[], decoder: PgoutputDecoder = createPgoutputDecoder()) {
  const sink = new RecordingSink();
  const relations = new Map<string, PgoutputRelation>();
  const during: string[] = [];
  let current = '';
  let inStream = false;
  const emittedInStream: string[] = [];
  const spy: PgoutputSink = {
    change(relation, op, count) {
      relations.set(`${relation.schema}.${relation.table}`, relation);
      during.push(current);
      if (inStream) emittedInStream.push(current);
      sink.change(relation, op, count);
    },
    overflow() {
      sink.overflow();
    },
  };
  for (const message of messages) {
    current = String.fromCharCode(message[0]!);
    decoder.decode(message, spy);
    if (current === 'S') inStream = true;
    if (current === 'E') inStream = false;
  }
  return { sink, relations, during, emittedInStream, decoder };
}

function census(messages: readonly Uint8Array[]): Map<string, Uint8Array[]> {
  const byType = new Map<string, Uint8Array[]>();
  for (const message of messages) {
    const type = String.fromCharCode(message[0]!);
    byType.set(type, [...(byType.get(type) ?? []), message]);
  }
  return byType;
}

const u32 = (bytes: Uint8Array, at: number) => Buffer.from(bytes).readUInt32BE(at);

test('every supported major has golden bytes for every capture, recorded with the current options', () => {
  assert.deepEqual(fixtureMajors(), [...SUPPORTED_MAJORS]);
  for (const major of fixtureMajors()) {
    const { manifest } = loadFixtures(major);
    assert.match(manifest.server_version, new RegExp(`^${major}\\.`));
    const expected = CAPTURES.filter((capture) => major >= capture.since);
    assert.deepEqual(Object.keys(manifest.captures).sort(), expected.map((c) => c.name).sort());
    for (const capture of expected) {
      assert.deepEqual(
        manifest.captures[capture.name]!.options,
        captureOptions(capture, major),
        capture.name,
      );
    }
  }
});

for (const major of fixtureMajors()) {
  const { messages } = loadFixtures(major);
  describe(`pgoutput golden bytes from PostgreSQL ${major}`, () => {
    for (const [name, captured] of messages) {
      const capture = CAPTURES.find((c) => c.name === name) as Capture;
      const label = `${name} (proto_version ${protoVersionOf(capture, major)}, publication ${capture.publication}, streaming ${capture.streaming}${capture.binary ? ', binary' : ''}${capture.twoPhase ? ', two_phase' : ''})`;

      test(`${label}: the committed changes per table, nothing rolled back, nothing left held`, () => {
        const { sink, decoder, during, emittedInStream } = replay(captured);
        assert.deepEqual(sink.totals(), sortTotals(expectedChanges(capture.publication)));
        assert.equal(sink.overflows, 0);
        assert.equal(decoder.heldTransactions, 0);
        assert.equal(decoder.heldEntries, 0);
        // Changes pass on as rows of an ordinary transaction, or at a commit; never mid-stream.
        assert.deepEqual(emittedInStream, []);
        assert.deepEqual(
          [...new Set(during)].filter((type) => !'IUDTcK'.includes(type)),
          [],
        );
      });

      test(`${label}: the messages this major sends for it`, () => {
        const types = census(captured);
        const has = (letters: string) => [...letters].filter((letter) => types.has(letter));
        if (capture.streaming === 'off') {
          assert.deepEqual(has(STREAM_TYPES + TWO_PHASE_TYPES), []);
        } else {
          assert.deepEqual(has('SEc'), ['S', 'E', 'c']);
          // Every major streams the rolled-back savepoint before it rolls back: a subtransaction abort.
          const aborts = types.get('A') ?? [];
          assert.ok(
            aborts.some((abort) => u32(abort, 1) !== u32(abort, 5)),
            'a Stream Abort of a subtransaction',
          );
          // Only 'parallel' adds the abort LSN and time.
          const length = capture.streaming === 'parallel' ? 25 : 9;
          assert.deepEqual([...new Set(aborts.map((abort) => abort.length))], [length]);
        }
        assert.deepEqual(has(TWO_PHASE_TYPES), capture.twoPhase ? [...TWO_PHASE_TYPES] : []);
        assert.equal(types.has('M'), capture.messages);
        // Type (the enum column) and Origin are sent whenever the publication covers their tables.
        assert.equal(types.has('Y'), capture.publication !== 'keys');
        assert.ok(types.has('O'));
      });
    }

    test('the decoder emits held changes only at Stream Commit or Commit Prepared', () => {
      const { during, sink } = replay(messages.get('twophase')!);
      const released = sink.changes.filter((_, i) => during[i] === 'c' || during[i] === 'K');
      // The committed large prepared transaction is released whole at its COMMIT PREPARED.
      assert.ok(
        released.some(
          ([payload, op, count]) => payload === 'public.big' && op === 'insert' && count === LARGE,
        ),
        JSON.stringify(released),
      );
      assert.ok(sink.changes.filter((_, i) => during[i] === 'K').length > 0);
    });

    test('Relation messages: replica identity and key flags per table, a column list, the odd name', () => {
      const all = replay(messages.get('stream')!).relations;
      const keys = (payload: string) =>
        all
          .get(payload)!
          .columns.filter((c) => c.key)
          .map((c) => c.name);
      assert.equal(all.get('public.orders')!.replicaIdentity, 'd');
      assert.deepEqual(keys('public.orders'), ['id']);
      assert.equal(all.get('public.full_t')!.replicaIdentity, 'f');
      assert.deepEqual(keys('public.full_t'), ['id', 'note']);
      assert.equal(all.get('public.idx_t')!.replicaIdentity, 'i');
      assert.deepEqual(keys('public.idx_t'), ['code']);
      assert.equal(all.get('public.nothing_t')!.replicaIdentity, 'n');
      assert.deepEqual(keys('public.nothing_t'), []);
      assert.deepEqual(
        all.get('public.orders')!.columns.map((c) => [c.name, c.typeOid, c.typeModifier]),
        [
          ['id', 23, -1],
          ['note', 25, -1],
        ],
      );
      const odd = all.get(ODD_PAYLOAD)!;
      assert.deepEqual([odd.schema, odd.table], ['Odd Schema', 'Tab.le ✓ "q"']);
      // The ALTER TABLE inside the streamed transaction added a column: the latest description wins.
      assert.deepEqual(
        all.get('public.big')!.columns.map((c) => c.name),
        ['id', 'pad', 'tag'],
      );
      // The key-only publication describes only the listed column.
      const listed = replay(messages.get('keys')!).relations;
      assert.deepEqual([...listed.keys()].sort(), ['public.keyed', 'public.orders']);
      for (const relation of listed.values()) {
        assert.deepEqual(
          relation.columns.map((c) => [c.name, c.key]),
          [['id', true]],
        );
      }
    });

    test('a decoder warm from another session decodes a capture as a fresh one does', () => {
      const warm = replay(messages.get('v1')!).decoder;
      for (const [, captured] of messages) {
        assert.deepEqual(replay(captured, warm).sink.changes, replay(captured).sink.changes);
      }
    });

    test('every cut of a message raises DecodeError and changes nothing', () => {
      // Each message type's first few instances, cut at every length, fed in their place in the stream.
      const seen = new Map<number, number>();
      const decoder = createPgoutputDecoder();
      const sink = new RecordingSink();
      const captured = messages.get(major >= 16 ? 'parallel' : 'twophase')!;
      const reference = replay(captured).sink.changes;
      for (const message of captured) {
        const type = message[0]!;
        const n = seen.get(type) ?? 0;
        seen.set(type, n + 1);
        if (n < 4) {
          for (let length = 0; length < message.length; length++) {
            // A 25-byte Stream Abort cut to 9 bytes is a whole (non-parallel) Stream Abort.
            if (type === 0x41 && length === 9) continue;
            assert.throws(() => decoder.decode(message.subarray(0, length), sink), DecodeError);
          }
        }
        decoder.decode(message, sink);
      }
      assert.deepEqual(sink.changes, reference);
    });
  });
}

// Seeded properties of the WAL reader, interpreter and commit gate (PGNUDGE_FUZZ_RUNS / PGNUDGE_FUZZ_SEED
// as in test/support/fuzz.ts): any chunking of real WAL reads the same records and events; mutated real
// WAL, and records with hostile but correctly checksummed contents, raise only WalDecodeError, end, and
// keep memory bounded.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { CommitGate } from '../../src/decode/wal/commit-gate.js';
import { interpretRecord } from '../../src/decode/wal/interpret.js';
import { WalReader } from '../../src/decode/wal/reader.js';
import { WalDecodeError } from '../../src/decode/wal/wal-error.js';
import { assertProperty, fuzzParams } from '../support/fuzz.js';
import { buildWal, type RecordSpec } from '../support/wal-builder.js';
import { comparableRecord, loadFixture, parseLsnText, RecordingSink } from '../support/wal-oracle.js';

const settings = fuzzParams(300);
console.log(
  `# WAL reader fuzz seed ${settings.seed}, ${settings.numRuns} runs per property (replay with PGNUDGE_FUZZ_SEED=${settings.seed})`,
);

const { fixture, bytes: fixtureBytes } = loadFixture(16, 'logical');
const start = parseLsnText(fixture.startLsn);
// The part before XLOG_SWITCH's zero-filled tail: every kind of record the workload writes.
const switchAt = parseLsnText(fixture.records.find((r) => r.type === 'SWITCH')!.lsn);
const real = fixtureBytes.subarray(0, Number(switchAt - start) + 24);

/** Splits `bytes` at the given cut points (any numbers, taken modulo the length). */
function chunksOf(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.byteLength + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, bytes.byteLength]) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  return out;
}

function splice(bytes: Uint8Array, at: number, remove: number, insert: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.byteLength - remove + insert.byteLength);
  out.set(bytes.subarray(0, at));
  out.set(insert, at);
  out.set(bytes.subarray(at + remove), at + insert.byteLength);
  return out;
}

/** Reads, interprets and gates `chunks`; the outcome is everything observable, or the typed error. */
function run(chunks: Uint8Array[], startLsn: bigint, segmentSize: number, maxMainDataLength?: number) {
  const reader = new WalReader({
    startLsn,
    segmentSize,
    ...(maxMainDataLength === undefined ? {} : { maxMainDataLength }),
  });
  const outputs: unknown[] = [];
  const gate = new CommitGate({ dbOid: fixture.dbOid, maxTransactions: 8, maxRelations: 16 }, (out) =>
    outputs.push(out),
  );
  const sink = new RecordingSink(gate);
  const records: unknown[] = [];
  let steps = 0;
  try {
    for (const chunk of chunks) {
      reader.push(chunk);
      for (let record = reader.next(); record !== undefined; record = reader.next()) {
        steps++;
        records.push(comparableRecord(record));
        sink.lsn = String(record.lsnLo);
        interpretRecord(record, reader.major!, sink);
      }
    }
  } catch (error) {
    if (!(error instanceof WalDecodeError)) throw error;
    return { records, events: sink.events, outputs, error: `${error.reason}: ${error.message}`, steps };
  }
  // Bounded: the gate never holds more than its limits, whatever it was fed.
  assert.ok(gate.transactions <= 8 && gate.relations <= 16);
  return { records, events: sink.events, outputs, error: null, steps };
}

const reference = run([real], start, fixture.segmentSize);

describe('WAL reader properties', () => {
  test('any chunking of real WAL gives the same records, events and gate outputs', () => {
    assert.equal(reference.error, null);
    assert.ok(reference.records.length > 150);
    assertProperty(
      fc.property(fc.array(fc.nat(), { maxLength: 60 }), (cuts) => {
        assert.deepEqual(run(chunksOf(real, cuts), start, fixture.segmentSize), reference);
      }),
      settings,
    );
  });

  test('mutated real WAL raises only WalDecodeError, in any chunking', () => {
    const mutation = fc.record({
      at: fc.nat(),
      kind: fc.constantFrom('replace', 'xor', 'insert', 'delete', 'cut'),
      byte: fc.integer({ min: 0, max: 255 }),
    });
    assertProperty(
      fc.property(
        fc.array(mutation, { minLength: 1, maxLength: 6 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (mutations, cuts) => {
          let bytes: Uint8Array = real.slice();
          for (const { at, kind, byte } of mutations) {
            const i = at % bytes.byteLength;
            if (kind === 'replace') bytes[i] = byte;
            else if (kind === 'xor') bytes[i] = bytes[i]! ^ (1 << (byte % 8));
            else if (kind === 'insert') bytes = splice(bytes, i, 0, Uint8Array.of(byte));
            else if (kind === 'delete') bytes = splice(bytes, i, 1, new Uint8Array(0));
            else bytes = bytes.slice(0, i);
          }
          const outcome = run(chunksOf(bytes, cuts), start, fixture.segmentSize);
          assert.deepEqual(
            run([bytes], start, fixture.segmentSize),
            outcome,
            'the chunking changed the outcome',
          );
        },
      ),
      settings,
    );
  });

  test('hostile record contents with a valid checksum raise only WalDecodeError', () => {
    const rmid = fc.constantFrom(0, 1, 2, 8, 9, 10, 11, 21);
    const block = fc.record({
      id: fc.integer({ min: 0, max: 40 }),
      fork: fc.integer({ min: 0, max: 15 }),
      sameRel: fc.boolean(),
      db: fc.constantFrom(fixture.dbOid, 0, 1),
      rel: fc.integer({ min: 0, max: 5 }),
      data: fc.uint8Array({ maxLength: 20 }),
      image: fc.option(
        fc.record({
          length: fc.integer({ min: 0, max: 8200 }),
          holeOffset: fc.integer({ min: 0, max: 8300 }),
          holeLength: fc.integer({ min: 0, max: 8300 }),
          info: fc.integer({ min: 0, max: 0x1f }),
        }),
        { nil: undefined },
      ),
    });
    const spec = fc.record({
      rmid,
      info: fc.integer({ min: 0, max: 255 }),
      xid: fc.integer({ min: 0, max: 20 }),
      blocks: fc.array(block, { maxLength: 4 }),
      main: fc.uint8Array({ maxLength: 300 }),
      topXid: fc.option(fc.nat(), { nil: undefined }),
      // Raw bodies too: headers that claim anything.
      body: fc.option(fc.uint8Array({ maxLength: 120 }), { nil: undefined }),
    });
    assertProperty(
      fc.property(
        fc.array(spec, { minLength: 1, maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (specs, cuts) => {
          const records = specs.map((s) => {
            const r: RecordSpec = { rmid: s.rmid, info: s.info, xid: s.xid, blocks: s.blocks, main: s.main };
            if (s.topXid !== undefined) r.topXid = s.topXid;
            if (s.body !== undefined) r.body = s.body;
            return r;
          });
          const startLsn = 1n << 24n;
          const { bytes } = buildWal(records, { startLsn, segmentSize: 1 << 20, major: 18 });
          const outcome = run(chunksOf(bytes, cuts), startLsn, 1 << 20, 1024);
          assert.deepEqual(run([bytes], startLsn, 1 << 20, 1024), outcome);
        },
      ),
      settings,
    );
  });
});

// Seeded property tests: chunking invariance, encode → decode round trips, hostile input.
// PGNUDGE_FUZZ_RUNS sets the number of runs, PGNUDGE_FUZZ_SEED replays another seed; a failure prints
// how to keep its counterexample as a fixture (test/fixtures/fuzz, replayed by test/fuzz/fixtures.test.ts).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PgnudgeError, ProtocolError } from '../../src/errors.js';
import { BackendCode, parseBackendMessage } from '../../src/protocol/backend.js';
import { parseErrorFields } from '../../src/protocol/error-fields.js';
import { type Frame, FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { encodeCopyData, encodeQuery, encodeSASLInitialResponse } from '../../src/protocol/frontend.js';
import { formatLsn, parseLsn } from '../../src/protocol/lsn.js';
import { QueryResponse } from '../../src/protocol/query-response.js';
import { encodeStandbyStatusUpdate, parseReplicationMessage } from '../../src/protocol/replication.js';
import { ScramClient, tlsServerEndPointHash } from '../../src/protocol/scram.js';
import { cstr, errorFieldsBody, frame, i16, i32, readFixture, toHex, xlogData } from '../support/bytes.js';
import { assertProperty, fuzzParams } from '../support/fuzz.js';
import { answerServerFirst } from '../support/scram.js';

const params = fuzzParams(5000);
console.log(
  `# fuzz seed ${params.seed}, ${params.numRuns} runs per property (replay with PGNUDGE_FUZZ_SEED=${params.seed})`,
);

/** Runs `fn`; any throw other than a PgnudgeError fails the property. */
function onlyPgnudgeErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof PgnudgeError)) {
      throw new Error(`leaked ${(error as Error)?.name}: ${(error as Error)?.message}`);
    }
  }
}

const codes = Object.values(BackendCode);
const anyFrame = fc.record({
  code: fc.constantFrom(...codes),
  body: fc.uint8Array({ maxLength: 300 }),
});

function decodeAll(chunks: Uint8Array[], maxFrameLength?: number): Frame[] {
  const decoder = new FrameDecoder(maxFrameLength === undefined ? {} : { maxFrameLength });
  const frames: Frame[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk);
    for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
      frames.push(f);
    }
  }
  return frames;
}

/** Cuts `body` to `cut` (modulo its length + 1), then overwrites bytes at the `flips` positions. */
function mutate(body: Uint8Array, cut: number, flips: [number, number][]): Buffer {
  const mutated = Buffer.from(body.subarray(0, cut % (body.byteLength + 1)));
  for (const [at, value] of flips) {
    if (mutated.byteLength > 0) {
      mutated[at % mutated.byteLength] = value;
    }
  }
  return mutated;
}

function splitAt(stream: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (stream.byteLength + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let last = 0;
  for (const p of [...points, stream.byteLength]) {
    chunks.push(stream.subarray(last, p));
    last = p;
  }
  return chunks;
}

describe('fuzz: FrameDecoder', () => {
  it('chunking invariance: any split of a valid stream gives the same frames', () => {
    assertProperty(
      fc.property(
        fc.array(anyFrame, { maxLength: 12 }),
        fc.array(fc.nat(), { maxLength: 40 }),
        (frames, cuts) => {
          const stream = Buffer.concat(frames.map((f) => frame(f.code, f.body)));
          const decoded = decodeAll(splitAt(stream, cuts));
          assert.deepEqual(
            decoded.map((f) => [f.code, toHex(f.body)]),
            frames.map((f) => [f.code, toHex(f.body)]),
          );
        },
      ),
      params,
      ([frames, cuts]) => ({
        target: 'frame-decoder',
        inputs: splitAt(Buffer.concat(frames.map((f) => frame(f.code, f.body))), cuts),
      }),
    );
  });

  it('random bytes: only ProtocolError, and nothing buffered beyond what was received', () => {
    assertProperty(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (bytes, cuts) => {
          const decoder = new FrameDecoder({ maxFrameLength: 4096 });
          let received = 0;
          try {
            for (const chunk of splitAt(bytes, cuts)) {
              decoder.push(chunk);
              received += chunk.byteLength;
              while (decoder.next() !== undefined) {}
              assert.ok(decoder.buffered <= received);
            }
          } catch (error) {
            assert.ok(error instanceof ProtocolError, String(error));
          }
        },
      ),
      params,
      ([bytes, cuts]) => ({ target: 'frame-decoder', inputs: splitAt(bytes, cuts) }),
    );
  });

  it('oversized lengths are refused at the header whatever follows', () => {
    assertProperty(
      fc.property(
        fc.integer({ min: 0x3fff_ffff + 1, max: 0x7fff_ffff }),
        fc.uint8Array({ maxLength: 50 }),
        (length, tail) => {
          const decoder = new FrameDecoder();
          assert.throws(
            () => decoder.push(Buffer.concat([Buffer.of(0x64), i32(length), tail])),
            ProtocolError,
          );
        },
      ),
      params,
      ([length, tail]) => ({
        target: 'frame-decoder',
        inputs: [Buffer.concat([Buffer.of(0x64), i32(length), tail])],
      }),
    );
  });
});

describe('fuzz: round trips', () => {
  it('frontend frames decode back to their code and body', () => {
    assertProperty(
      fc.property(fc.uint8Array({ maxLength: 500 }), fc.string({ maxLength: 100 }), (payload, sql) => {
        const clean = sql.replaceAll('\0', '');
        const [copy, query, sasl] = decodeAll([
          Buffer.concat([
            encodeCopyData(payload),
            encodeQuery(clean),
            encodeSASLInitialResponse('SCRAM-SHA-256', payload),
          ]),
        ]);
        assert.equal(toHex(copy!.body), toHex(payload));
        assert.equal(Buffer.from(query!.body).toString(), `${clean}\0`);
        assert.equal(
          toHex(sasl!.body),
          toHex(Buffer.concat([cstr('SCRAM-SHA-256'), i32(payload.byteLength), payload])),
        );
      }),
      params,
    );
  });

  const u64 = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
  const i64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });

  it('XLogData built to the documented layout parses back', () => {
    assertProperty(
      fc.property(u64, u64, i64, fc.uint8Array({ maxLength: 200 }), (walStart, walEnd, sendTime, data) => {
        const m = parseReplicationMessage(xlogData(walStart, walEnd, sendTime, data));
        assert.ok(m.type === 'XLogData');
        assert.deepEqual(
          [m.walStart, m.walEnd, m.sendTime, toHex(m.data)],
          [walStart, walEnd, sendTime, toHex(data)],
        );
      }),
      params,
    );
  });

  it('StandbyStatusUpdate encodes to the documented layout', () => {
    assertProperty(
      fc.property(u64, u64, u64, i64, fc.boolean(), (write, flush, apply, sendTime, replyRequested) => {
        const out = encodeStandbyStatusUpdate({ write, flush, apply, sendTime, replyRequested });
        const [f] = decodeAll([out]);
        const d = Buffer.from(f!.body);
        assert.equal(f!.code, 0x64);
        assert.deepEqual(
          [
            d[0],
            d.readBigUInt64BE(1),
            d.readBigUInt64BE(9),
            d.readBigUInt64BE(17),
            d.readBigInt64BE(25),
            d[33],
          ],
          [0x72, write, flush, apply, sendTime, replyRequested ? 1 : 0],
        );
      }),
      params,
    );
  });

  it('LSN format → parse', () => {
    assertProperty(
      fc.property(u64, (lsn) => {
        assert.equal(parseLsn(formatLsn(lsn)), lsn);
      }),
      params,
    );
  });

  it('DataRow, ParameterStatus and ErrorResponse built from values parse back', () => {
    const text = fc.string({ maxLength: 40 }).map((s) => s.replaceAll('\0', ''));
    assertProperty(
      fc.property(fc.array(fc.option(text), { maxLength: 10 }), text, text, (values, name, message) => {
        const row = Buffer.concat([
          i16(values.length),
          ...values.map((v) =>
            v === null ? i32(-1) : Buffer.concat([i32(Buffer.byteLength(v)), Buffer.from(v)]),
          ),
        ]);
        assert.deepEqual(parseBackendMessage(BackendCode.DataRow, row), { type: 'DataRow', values });
        assert.deepEqual(
          parseBackendMessage(BackendCode.ParameterStatus, Buffer.concat([cstr(name), cstr(message)])),
          {
            type: 'ParameterStatus',
            name,
            value: message,
          },
        );
        assert.deepEqual(parseErrorFields(errorFieldsBody({ S: 'ERROR', C: name, M: message })), {
          severity: 'ERROR',
          sqlState: name,
          message,
        });
      }),
      params,
    );
  });
});

describe('fuzz: hostile input raises only PgnudgeError subclasses', () => {
  it('parseBackendMessage on random bodies for every code (and unknown codes)', () => {
    assertProperty(
      fc.property(
        fc.oneof(fc.constantFrom(...codes), fc.integer({ min: 0, max: 255 })),
        fc.uint8Array({ maxLength: 300 }),
        (code, body) => {
          onlyPgnudgeErrors(() => parseBackendMessage(code, body));
        },
      ),
      params,
      ([code, body]) => ({ target: 'backend-message', inputs: [Buffer.concat([Buffer.of(code), body])] }),
    );
  });

  it('parseBackendMessage on mutated and truncated valid bodies', () => {
    const valid: [number, Buffer][] = [
      [BackendCode.Authentication, Buffer.concat([i32(10), cstr('SCRAM-SHA-256'), Buffer.of(0)])],
      [BackendCode.RowDescription, Buffer.concat([i16(1), cstr('a'), Buffer.alloc(18)])],
      [BackendCode.DataRow, Buffer.concat([i16(2), i32(1), Buffer.from('x'), i32(-1)])],
      [BackendCode.ErrorResponse, errorFieldsBody({ S: 'ERROR', C: '42P01', M: 'no' })],
      [BackendCode.CopyBothResponse, Buffer.concat([Buffer.of(0), i16(1), i16(0)])],
      [BackendCode.NegotiateProtocolVersion, Buffer.concat([i32(0), i32(1), cstr('_pq_.x')])],
      [BackendCode.BackendKeyData, Buffer.concat([i32(1), i32(2)])],
    ];
    assertProperty(
      fc.property(
        fc.constantFrom(...valid),
        fc.nat(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }),
        ([code, body], cut, flips) => {
          onlyPgnudgeErrors(() => parseBackendMessage(code, mutate(body, cut, flips)));
        },
      ),
      params,
      ([[code, body], cut, flips]) => ({
        target: 'backend-message',
        inputs: [Buffer.concat([Buffer.of(code), mutate(body, cut, flips)])],
      }),
    );
  });

  it('parseReplicationMessage on random payloads', () => {
    assertProperty(
      fc.property(fc.constantFrom(0x77, 0x6b, 0x72, 0x00), fc.uint8Array({ maxLength: 60 }), (code, rest) => {
        onlyPgnudgeErrors(() => parseReplicationMessage(Buffer.concat([Buffer.of(code), rest])));
      }),
      params,
      ([code, rest]) => ({ target: 'replication-message', inputs: [Buffer.concat([Buffer.of(code), rest])] }),
    );
  });

  it('parseLsn on random text', () => {
    assertProperty(
      fc.property(fc.string({ maxLength: 30 }), (text) => {
        onlyPgnudgeErrors(() => parseLsn(text));
      }),
      params,
    );
  });

  it('SCRAM server messages with random text', () => {
    const nonce = 'abcdef';
    const attr = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.constantFrom(`r=${nonce}xyz`, 's=QUJD', 'i=1', 'i=99999999999', 'v=QUJD', 'e=x', 's=', 'r=', ','),
    );
    assertProperty(
      fc.property(fc.array(attr, { maxLength: 5 }), fc.array(attr, { maxLength: 3 }), (first, final) => {
        const client = new ScramClient({
          password: 'p',
          mechanism: 'SCRAM-SHA-256',
          nonce,
          maxIterations: 10,
        });
        client.clientFirstMessage();
        onlyPgnudgeErrors(() => {
          answerServerFirst(client, Buffer.from(first.join(',')));
          client.receiveServerFinal(Buffer.from(final.join(',')));
        });
      }),
      params,
    );
  });

  it('tlsServerEndPointHash on mutated and truncated certificates', () => {
    const cert = readFixture('tls-server-end-point/ecdsa-sha384.der');
    assertProperty(
      fc.property(
        fc.nat(),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 3 }),
        (cut, flips) => {
          onlyPgnudgeErrors(() => tlsServerEndPointHash(mutate(cert, cut, flips)));
        },
      ),
      params,
    );
  });
});

describe('fuzz: QueryResponse on any sequence of answer messages', () => {
  const text = fc.string({ maxLength: 12 }).map((s) => s.replaceAll('\0', ''));
  const copyResponse = Buffer.concat([Buffer.of(0), i16(0)]);
  const m = (code: number, ...body: Buffer[]): [number, Buffer] => [code, Buffer.concat(body)];
  const rowDescription = (names: string[]) =>
    m(
      BackendCode.RowDescription,
      i16(names.length),
      ...names.map((name) => Buffer.concat([cstr(name), Buffer.alloc(18)])),
    );
  const dataRow = (values: (string | null)[]) =>
    m(
      BackendCode.DataRow,
      i16(values.length),
      ...values.map((v) =>
        v === null ? i32(-1) : Buffer.concat([i32(Buffer.byteLength(v)), Buffer.from(v)]),
      ),
    );
  // Messages a server could put in a query's answer, valid ones and ones that have no place there.
  const message: fc.Arbitrary<[number, Buffer]> = fc.oneof(
    fc.array(text, { maxLength: 4 }).map(rowDescription),
    fc.array(fc.option(text, { nil: null }), { maxLength: 4 }).map(dataRow),
    text.map((tag) => m(BackendCode.CommandComplete, cstr(tag))),
    fc.constant(m(BackendCode.EmptyQueryResponse)),
    text.map((message) =>
      m(BackendCode.ErrorResponse, errorFieldsBody({ S: 'ERROR', C: '42000', M: message })),
    ),
    fc.constant(m(BackendCode.ReadyForQuery, Buffer.from('I'))),
    fc.constant(m(BackendCode.CopyBothResponse, copyResponse)),
    fc
      .constantFrom(BackendCode.CopyInResponse, BackendCode.CopyOutResponse)
      .map((code) => m(code, copyResponse)),
    fc.constant(m(BackendCode.BackendKeyData, i32(1), i32(2))),
    fc.constant(m(BackendCode.NoData)),
  );

  it('only ProtocolError; rows held within the cap and matching their fields; one outcome, then nothing', () => {
    assertProperty(
      fc.property(
        fc.array(message, { maxLength: 25 }),
        fc.integer({ min: 0, max: 200 }),
        fc.boolean(),
        (messages, maxResultBytes, startsReplication) => {
          const response = new QueryResponse({ maxResultBytes, startsReplication });
          let completes = 0;
          let errors = 0;
          let ended = false;
          for (const [code, body] of messages) {
            const parsed = parseBackendMessage(code, body);
            if (ended) {
              assert.throws(() => response.receive(parsed, code, body.byteLength), ProtocolError);
              continue;
            }
            try {
              const outcome = response.receive(parsed, code, body.byteLength);
              if (parsed.type === 'CommandComplete') completes += 1;
              if (parsed.type === 'ErrorResponse') errors += 1;
              assert.ok(response.heldBytes <= maxResultBytes);
              if (outcome === undefined) continue;
              ended = true;
              if (outcome.type === 'results') {
                assert.equal(errors, 0);
                assert.equal(outcome.results.length, completes);
                for (const result of outcome.results) {
                  for (const row of result.rows) assert.equal(row.length, result.fields.length);
                }
                assert.ok(!startsReplication);
              } else if (outcome.type === 'error') {
                assert.ok(errors > 0);
                assert.equal(outcome.error, response.error);
              } else {
                assert.ok(startsReplication);
              }
            } catch (error) {
              if (error instanceof assert.AssertionError) throw error;
              assert.ok(error instanceof ProtocolError, String(error));
              ended = true;
            }
          }
        },
      ),
      params,
    );
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ProtocolError } from '../../../src/errors.js';
import {
  DEFAULT_MAX_FRAME_LENGTH,
  type Frame,
  FrameDecoder,
  MAX_SHORT_MESSAGE_LENGTH,
} from '../../../src/protocol/frame-decoder.js';
import { cstr, frame, hex, i32, toHex } from '../../support/bytes.js';

function drain(decoder: FrameDecoder): Frame[] {
  const frames: Frame[] = [];
  for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
    frames.push(f);
  }
  return frames;
}

function summary(frames: Frame[]): string[] {
  return frames.map((f) => `${String.fromCharCode(f.code)}:${toHex(f.body)}`);
}

const stream = Buffer.concat([
  frame('R', i32(0)),
  frame('S', cstr('client_encoding'), cstr('UTF8')),
  frame('I'),
  frame('d', Buffer.alloc(40, 0xab)),
  frame('Z', Buffer.from('I')),
]);
const expected = summary(drain(withChunks([stream])));

function withChunks(chunks: Uint8Array[], options?: { maxFrameLength?: number }): FrameDecoder {
  const decoder = new FrameDecoder(options);
  for (const chunk of chunks) {
    decoder.push(chunk);
  }
  return decoder;
}

describe('FrameDecoder', () => {
  it('splits a stream into frames', () => {
    assert.deepEqual(expected, [
      'R:00000000',
      `S:${toHex(cstr('client_encoding'))}${toHex(cstr('UTF8'))}`,
      'I:',
      `d:${'ab'.repeat(40)}`,
      'Z:49',
    ]);
  });

  it('gives the same frames for every single cut point', () => {
    for (let cut = 0; cut <= stream.byteLength; cut++) {
      const decoder = new FrameDecoder();
      const frames: Frame[] = [];
      decoder.push(stream.subarray(0, cut));
      frames.push(...drain(decoder));
      decoder.push(stream.subarray(cut));
      frames.push(...drain(decoder));
      assert.deepEqual(summary(frames), expected, `cut at ${cut}`);
      assert.equal(decoder.buffered, 0);
    }
  });

  it('gives the same frames for every pair of cut points', () => {
    for (let a = 0; a <= stream.byteLength; a++) {
      for (let b = a; b <= stream.byteLength; b++) {
        const decoder = new FrameDecoder();
        const frames: Frame[] = [];
        for (const part of [stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]) {
          decoder.push(part);
          frames.push(...drain(decoder));
        }
        assert.deepEqual(summary(frames), expected, `cuts at ${a}, ${b}`);
      }
    }
  });

  it('handles one byte at a time', () => {
    const decoder = new FrameDecoder();
    const frames: Frame[] = [];
    for (const byte of stream) {
      decoder.push(Uint8Array.of(byte));
      frames.push(...drain(decoder));
    }
    assert.deepEqual(summary(frames), expected);
  });

  it('returns a zero-copy view when a frame lies inside one chunk', () => {
    const chunk = frame('d', hex('01020304'));
    const decoder = withChunks([chunk]);
    const f = decoder.next()!;
    assert.equal(f.body.buffer, chunk.buffer);
    assert.equal(f.body.byteOffset, chunk.byteOffset + 5);
  });

  it('never mutates memory already handed out', () => {
    const decoder = new FrameDecoder();
    const whole = frame('d', hex('aabbccdd'));
    decoder.push(whole.subarray(0, 3));
    decoder.push(whole.subarray(3, 7));
    decoder.push(Buffer.concat([whole.subarray(7), frame('d', hex('11'))]));
    const first = decoder.next()!;
    const snapshot = toHex(first.body);
    decoder.push(frame('d', hex('2222')));
    drain(decoder);
    assert.equal(toHex(first.body), snapshot);
    assert.equal(snapshot, 'aabbccdd');
  });

  it('tracks buffered bytes and waits for the whole frame', () => {
    const decoder = new FrameDecoder();
    const f = frame('d', Buffer.alloc(10));
    decoder.push(f.subarray(0, 7));
    assert.equal(decoder.next(), undefined);
    assert.equal(decoder.buffered, 7);
    decoder.push(f.subarray(7));
    assert.equal(decoder.next()!.body.byteLength, 10);
    assert.equal(decoder.buffered, 0);
  });

  it('rejects a length below 4 as soon as the header is in', () => {
    const decoder = new FrameDecoder();
    assert.throws(
      () => decoder.push(hex('64 00000003')),
      (e: unknown) => e instanceof ProtocolError && /less than 4/.test(e.message) && e.messageType === 'd',
    );
  });

  it('rejects an oversized length before buffering the body', () => {
    const decoder = new FrameDecoder({ maxFrameLength: 1000 });
    decoder.push(hex('64 0000'));
    assert.throws(
      () => decoder.push(hex('03e9')),
      (e: unknown) => e instanceof ProtocolError && /more than the limit of 1000/.test(e.message),
    );
  });

  it('rejects a hostile 2 GiB length under the default limit', () => {
    assert.equal(DEFAULT_MAX_FRAME_LENGTH, 2 ** 30 - 1);
    const decoder = new FrameDecoder();
    assert.throws(() => decoder.push(hex('44 7fffffff')), ProtocolError);
    assert.throws(() => new FrameDecoder().push(hex('44 40000000')), ProtocolError);
  });

  it('accepts a frame of exactly maxFrameLength', () => {
    const decoder = withChunks([frame('d', Buffer.alloc(6))], { maxFrameLength: 10 });
    assert.equal(decoder.next()!.body.byteLength, 6);
  });

  it('checks a header that follows a complete frame when next() reaches it', () => {
    const decoder = withChunks([Buffer.concat([frame('I'), hex('45 00000001')])]);
    assert.equal(decoder.next()!.code, 0x49);
    assert.throws(() => decoder.next(), ProtocolError);
  });

  it('refuses a maxFrameLength outside [4, 1 GiB − 1]', () => {
    assert.throws(() => new FrameDecoder({ maxFrameLength: 3 }), RangeError);
    assert.throws(() => new FrameDecoder({ maxFrameLength: 2 ** 30 }), RangeError);
  });

  it('joins a large frame pushed in 1-byte chunks in linear time', () => {
    const big = frame('d', Buffer.alloc(200_000, 5));
    const decoder = new FrameDecoder();
    const started = performance.now();
    for (let i = 0; i < big.byteLength; i++) {
      decoder.push(big.subarray(i, i + 1));
      if (i < big.byteLength - 1) {
        assert.equal(decoder.next(), undefined);
      }
    }
    const body = decoder.next()!.body;
    assert.equal(body.byteLength, 200_000);
    assert.ok(body.every((b) => b === 5));
    // Generous bound: a quadratic join would take minutes here.
    assert.ok(performance.now() - started < 10_000);
  });

  describe("libpq's 30000-byte bound on short message types", () => {
    const LONG = 'TDdVENA';
    // Every backend message code pgnudge can receive, long types included.
    const CODES = [...'RSKZCIGHWc123nstv', ...LONG];

    it('matches libpq', () => {
      assert.equal(MAX_SHORT_MESSAGE_LENGTH, 30_000);
    });

    for (const code of CODES) {
      const long = LONG.includes(code);
      it(`'${code}' of exactly 30000 bytes is accepted`, () => {
        const decoder = withChunks([frame(code, Buffer.alloc(MAX_SHORT_MESSAGE_LENGTH - 4))]);
        assert.equal(decoder.next()!.body.byteLength, MAX_SHORT_MESSAGE_LENGTH - 4);
      });
      it(`'${code}' of 30001 bytes is ${long ? 'accepted' : 'refused from the header alone'}`, () => {
        const header = Buffer.concat([Buffer.from(code), i32(MAX_SHORT_MESSAGE_LENGTH + 1)]);
        const decoder = new FrameDecoder();
        if (!long) {
          assert.throws(
            () => decoder.push(header),
            (e: unknown) =>
              e instanceof ProtocolError &&
              e.messageType === code &&
              /declares 30001 bytes, more than the limit of 30000 for its type/.test(e.message),
          );
          assert.equal(decoder.buffered, header.byteLength, 'no body was asked for');
          return;
        }
        decoder.push(header);
        decoder.push(Buffer.alloc(MAX_SHORT_MESSAGE_LENGTH + 1 - 4));
        assert.equal(decoder.next()!.body.byteLength, MAX_SHORT_MESSAGE_LENGTH - 3);
      });
    }

    it('keeps maxFrameLength as the bound for long types', () => {
      const decoder = new FrameDecoder({ maxFrameLength: 40_000 });
      assert.throws(() => decoder.push(hex('44 00009c41')), /more than the limit of 40000/);
    });

    it('refuses a long non-long-type header however it is cut', () => {
      const header = Buffer.concat([Buffer.from('S'), i32(0x0100_0000)]);
      for (let cut = 0; cut <= header.byteLength; cut++) {
        const decoder = new FrameDecoder();
        assert.throws(() => {
          decoder.push(header.subarray(0, cut));
          decoder.push(header.subarray(cut));
          decoder.next();
        }, /for its type/);
      }
    });
  });
});

describe('FrameDecoder.advance', () => {
  it('describes the frame in place: a frame inside one chunk is the chunk itself, with offsets', () => {
    const decoder = withChunks([stream]);
    assert.equal(decoder.advance(), true);
    assert.equal(decoder.code, 'R'.charCodeAt(0));
    assert.equal(decoder.bytes, stream, 'no copy and no view: the received chunk');
    assert.deepEqual([decoder.start, decoder.end], [5, 9]);
  });

  it('property: advance() yields what next() yields, however the stream is cut', () => {
    const frames = fc.array(
      fc.record({
        code: fc.constantFrom(...'dDRSkZ'),
        body: fc.uint8Array({ maxLength: 64 }),
      }),
      { maxLength: 12 },
    );
    fc.assert(
      fc.property(frames, fc.array(fc.nat(), { maxLength: 8 }), (list, cuts) => {
        const bytes = Buffer.concat(list.map((f) => frame(f.code, Buffer.from(f.body))));
        const points = [...new Set(cuts.map((c) => c % (bytes.byteLength + 1)))].sort((a, b) => a - b);
        const chunks: Uint8Array[] = [];
        let at = 0;
        for (const point of [...points, bytes.byteLength]) {
          chunks.push(Buffer.from(bytes.subarray(at, point)));
          at = point;
        }
        const byNext = new FrameDecoder();
        const byAdvance = new FrameDecoder();
        const viaNext: string[] = [];
        const viaAdvance: string[] = [];
        for (const chunk of chunks) {
          byNext.push(chunk);
          viaNext.push(...summary(drain(byNext)));
          byAdvance.push(chunk);
          while (byAdvance.advance()) {
            const body = byAdvance.bytes.subarray(byAdvance.start, byAdvance.end);
            viaAdvance.push(`${String.fromCharCode(byAdvance.code)}:${toHex(body)}`);
          }
        }
        assert.deepEqual(viaAdvance, viaNext);
        assert.equal(viaAdvance.length, list.length);
      }),
      { seed: 20261204, numRuns: Number(process.env.PGNUDGE_FUZZ_RUNS ?? 300) },
    );
  });
});

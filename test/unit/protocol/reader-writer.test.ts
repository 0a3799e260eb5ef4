import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError } from '../../../src/errors.js';
import { ByteReader } from '../../../src/protocol/reader.js';
import { ByteWriter } from '../../../src/protocol/writer.js';
import { hex, toHex } from '../../support/bytes.js';

describe('ByteReader', () => {
  it('reads every wire type big-endian', () => {
    const r = new ByteReader(
      hex('ff | fffe | fffffffd | fffffffd | fffffffffffffffc | fffffffffffffffc | 6869 00 | 0102'),
    );
    assert.equal(r.u8(), 255);
    assert.equal(r.i16(), -2);
    assert.equal(r.i32(), -3);
    assert.equal(r.u32(), 0xfffffffd);
    assert.equal(r.i64(), -4n);
    assert.equal(r.u64(), 0xfffffffffffffffcn);
    assert.equal(r.cstring(), 'hi');
    assert.equal(r.offset, 30);
    assert.equal(r.remaining, 2);
    assert.equal(toHex(r.rest()), '0102');
    assert.equal(r.remaining, 0);
  });

  it('returns views, not copies, for bytes() and rest()', () => {
    const buf = hex('00010203');
    const r = new ByteReader(buf.subarray(1));
    const view = r.bytes(2);
    assert.equal(view.buffer, buf.buffer);
    assert.equal(view.byteOffset, buf.byteOffset + 1);
    assert.equal(r.rest().byteOffset, buf.byteOffset + 3);
  });

  it('decodes UTF-8 strings', () => {
    assert.equal(new ByteReader(Buffer.from('héllo ✓\0', 'utf8')).cstring(), 'héllo ✓');
  });

  for (const [name, read] of [
    ['u8', (r: ByteReader) => r.u8()],
    ['i16', (r: ByteReader) => r.i16()],
    ['i32', (r: ByteReader) => r.i32()],
    ['u32', (r: ByteReader) => r.u32()],
    ['i64', (r: ByteReader) => r.i64()],
    ['u64', (r: ByteReader) => r.u64()],
    ['bytes(2)', (r: ByteReader) => r.bytes(2)],
    ['bytes(-1)', (r: ByteReader) => r.bytes(-1)],
    ['cstring', (r: ByteReader) => r.cstring()],
  ] as const) {
    it(`${name} past the end throws ProtocolError with type and offset`, () => {
      const r = new ByteReader(hex('41'), 'Test');
      r.u8();
      assert.throws(
        () => read(r),
        (error: unknown) =>
          error instanceof ProtocolError &&
          error.messageType === 'Test' &&
          error.offset === 1 &&
          /Test/.test(error.message),
      );
    });
  }

  it('an unterminated string throws ProtocolError', () => {
    assert.throws(() => new ByteReader(hex('4142'), 'X').cstring(), ProtocolError);
  });
});

describe('ByteWriter', () => {
  it('patches the length (counting itself, not the code byte)', () => {
    const out = new ByteWriter(0x51).cstring('select 1').finish();
    assert.equal(toHex(out), `51 0000000d ${Buffer.from('select 1').toString('hex')} 00`.replace(/ /g, ''));
  });

  it('writes an untyped message (StartupMessage shape)', () => {
    assert.equal(toHex(new ByteWriter().i32(80877103).finish()), '0000000804d2162f');
  });

  it('writes every type and grows past its initial capacity', () => {
    const big = new Uint8Array(300).fill(7);
    const out = new ByteWriter(0x64)
      .u8(1)
      .i16(-2)
      .i32(-3)
      .u32(0xfffffffd)
      .i64(-4n)
      .u64(0xfffffffffffffffcn)
      .string('ab')
      .bytes(big)
      .finish();
    assert.equal(out.byteLength, 1 + 4 + 1 + 2 + 4 + 4 + 8 + 8 + 2 + 300);
    assert.equal(out.readInt32BE(1), out.byteLength - 1);
    assert.equal(toHex(out.subarray(5, 34)), '01fffefffffffdfffffffdfffffffffffffffcfffffffffffffffc6162');
    assert.ok(out.subarray(34).every((b) => b === 7));
  });

  it('refuses use after finish()', () => {
    const w = new ByteWriter(0x58);
    w.finish();
    assert.throws(() => w.u8(1));
    assert.throws(() => w.finish());
  });
});

// Byte-level test helpers: hex literals, frame builders for backend messages, fixture lookup.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Bytes from a hex literal; whitespace and `|` separators are ignored. */
export function hex(text: string): Buffer {
  const clean = text.replace(/[\s|]/g, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new Error(`bad hex literal: ${text}`);
  }
  return Buffer.from(clean, 'hex');
}

/** Lower-case hex of some bytes. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** UTF-8 text followed by NUL. */
export function cstr(text: string): Buffer {
  return Buffer.concat([Buffer.from(text, 'utf8'), Buffer.of(0)]);
}

/** Big-endian Int16. */
export function i16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(value);
  return b;
}

/** Big-endian Int32. */
export function i32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(value);
  return b;
}

/** Big-endian unsigned Int64. */
export function u64(value: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(value);
  return b;
}

/** Big-endian signed Int64. */
export function i64(value: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(value);
  return b;
}

/** A whole backend/frontend frame: code byte (a letter or number), Int32 length, body parts. */
export function frame(code: string | number, ...body: Uint8Array[]): Buffer {
  const payload = Buffer.concat(body);
  const c = typeof code === 'string' ? code.charCodeAt(0) : code;
  return Buffer.concat([Buffer.of(c), i32(payload.byteLength + 4), payload]);
}

/** An ErrorResponse/NoticeResponse body from field code → value pairs. */
export function errorFieldsBody(fields: Record<string, string>): Buffer {
  const parts = Object.entries(fields).map(([code, value]) =>
    Buffer.concat([Buffer.from(code), cstr(value)]),
  );
  return Buffer.concat([...parts, Buffer.of(0)]);
}

/** An XLogData CopyData payload ('w'). */
export function xlogData(walStart: bigint, walEnd: bigint, sendTime: bigint, data: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from('w'), u64(walStart), u64(walEnd), i64(sendTime), data]);
}

/** A PrimaryKeepalive CopyData payload ('k'). */
export function primaryKeepalive(walEnd: bigint, sendTime: bigint, replyRequested: boolean): Buffer {
  return Buffer.concat([Buffer.from('k'), u64(walEnd), i64(sendTime), Buffer.of(replyRequested ? 1 : 0)]);
}

/**
 * Reads a file from test/fixtures. The tests run from tsc output (inside the repo or in /tmp), so the
 * directory is found relative to the compiled file first, then to the working directory.
 */
export function readFixture(relativePath: string): Buffer {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const candidates = [
    join(here, '../../../test/fixtures'),
    join(here, '../fixtures'),
    join(process.cwd(), 'test/fixtures'),
  ];
  for (const dir of candidates) {
    const path = join(dir, relativePath);
    if (existsSync(path)) {
      return readFileSync(path);
    }
  }
  throw new Error(`fixture ${relativePath} not found (looked in ${candidates.join(', ')})`);
}

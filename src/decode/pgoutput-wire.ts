// Byte-level reading for the pgoutput decoder (PostgreSQL "Logical Replication Message Formats"):
// big-endian integers, NUL-terminated strings and TupleData, all bounds-checked in place, no copies.
// Every failure is a DecodeError naming what was being read and the byte offset.

import { DecodeError } from '../errors.js';
import { decodeUtf8 } from './text.js';

/** Throws the DecodeError every pgoutput parse failure becomes. */
export function fail(what: string, offset: number): never {
  throw new DecodeError('pgoutput', `${what} (byte ${offset})`, offset);
}

/** Fails unless `data` holds `count` more bytes from `at`. */
export function need(data: Uint8Array, at: number, count: number, what: string): void {
  if (at + count > data.length) fail(`truncated ${what}`, Math.min(at, data.length));
}

/** The unsigned 32-bit integer at `at` (an OID or a transaction id); the caller checked the bounds. */
export function u32(data: Uint8Array, at: number): number {
  return ((data[at]! << 24) | (data[at + 1]! << 16) | (data[at + 2]! << 8) | data[at + 3]!) >>> 0;
}

/** Reads a 32-bit unsigned integer at `at`, checking the bounds. */
export function readU32(data: Uint8Array, at: number, what: string): number {
  need(data, at, 4, what);
  return u32(data, at);
}

/** Index of the NUL ending the string that starts at `at`. */
export function stringEnd(data: Uint8Array, at: number, what: string): number {
  const end = data.indexOf(0, at);
  if (end === -1) fail(`unterminated ${what}`, at);
  return end;
}

/** The NUL-terminated UTF-8 string at `at` and the index just past its NUL. */
export function readString(data: Uint8Array, at: number, what: string): [string, number] {
  const end = stringEnd(data, at, what);
  const text = decodeUtf8(data, at, end);
  if (text === undefined) fail(`invalid UTF-8 in ${what}`, at);
  return [text, end + 1];
}

/** Fails unless the message ends exactly at `at`: every message has a fixed layout, so extra bytes mean a misparse. */
export function expectEnd(data: Uint8Array, at: number, what: string): void {
  if (at !== data.length) fail(`${data.length - at} unexpected bytes after ${what}`, at);
}

const COLUMN_NULL = 0x6e; // n
const COLUMN_UNCHANGED = 0x75; // u: an unchanged TOASTed value, not sent
const COLUMN_TEXT = 0x74; // t
const COLUMN_BINARY = 0x62; // b

/**
 * Skips the TupleData at `at` (Int16 column count, then per column a kind byte and, for text and
 * binary values, an Int32 length and the value) and returns the index just past it. When `columns`
 * is given, the tuple must have exactly that many: a tuple always carries every published column of
 * its relation, so a different count means the relation in the cache is not the one the server meant.
 */
export function skipTuple(data: Uint8Array, at: number, columns: number | undefined): number {
  const end = data.length;
  if (at + 2 > end) fail('truncated tuple column count', Math.min(at, end));
  const count = (data[at]! << 8) | data[at + 1]!;
  if (columns !== undefined && count !== columns) {
    fail(`a tuple with ${count} columns for a relation with ${columns}`, at);
  }
  // The hot loop of every row: bounds checked inline, lengths read in place.
  let i = at + 2;
  for (let column = 0; column < count; column++) {
    if (i >= end) fail('truncated tuple', i);
    const kind = data[i]!;
    if (kind === COLUMN_TEXT || kind === COLUMN_BINARY) {
      if (i + 5 > end) fail('truncated tuple value length', i + 1);
      const high = data[i + 1]!;
      // The server's lengths are int32; a set top bit is a negative length, never a value.
      if (high >= 0x80) fail('negative tuple value length', i + 1);
      i += 5 + ((high << 24) | (data[i + 2]! << 16) | (data[i + 3]! << 8) | data[i + 4]!);
      if (i > end) fail('truncated tuple value', end);
    } else if (kind === COLUMN_NULL || kind === COLUMN_UNCHANGED) {
      i += 1;
    } else {
      fail(`unknown tuple column kind ${kind}`, i);
    }
  }
  return i;
}

// Byte-level JSON scanning for the wal2json decoder and its row view: string bounds and unescaping,
// whitespace, numbers, and skipping a value whole, all in place over the message bytes. Pure.

import { DecodeError } from '../errors.js';
import { decodeUtf8 } from './text.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Index of the quote closing the string whose opening quote is at `start`. */
export function stringEnd(data: Uint8Array, start: number): number {
  let i = start + 1;
  for (;;) {
    if (i >= data.length) fail('unterminated string', start);
    const byte = data[i]!;
    if (byte === QUOTE) return i;
    if (byte === BACKSLASH) {
      i += 2;
      continue;
    }
    if (byte < 0x20) fail('control character inside a string', i);
    i++;
  }
}

/** Decodes the JSON string body `data[start, end)`: escapes as in RFC 8259, everything else raw UTF-8. */
export function unescapeJson(data: Uint8Array, start: number, end: number): string {
  let out = '';
  let run = start;
  let i = start;
  while (i < end) {
    if (data[i] !== BACKSLASH) {
      i++;
      continue;
    }
    out += utf8(data, run, i);
    const escaped = data[i + 1];
    let consumed = 2;
    switch (escaped) {
      case QUOTE:
        out += '"';
        break;
      case BACKSLASH:
        out += '\\';
        break;
      case 0x2f:
        out += '/';
        break;
      case 0x62:
        out += '\b';
        break;
      case 0x66:
        out += '\f';
        break;
      case 0x6e:
        out += '\n';
        break;
      case 0x72:
        out += '\r';
        break;
      case 0x74:
        out += '\t';
        break;
      case 0x75: {
        const unit = hex4(data, i + 2, end);
        consumed = 6;
        if (unit >= 0xdc00 && unit <= 0xdfff) fail('unpaired low surrogate escape', i);
        if (unit >= 0xd800 && unit <= 0xdbff) {
          // PostgreSQL names are valid UTF-8, so a high surrogate must be the first half of a pair.
          if (data[i + 6] !== BACKSLASH || data[i + 7] !== 0x75) fail('unpaired high surrogate escape', i);
          const low = hex4(data, i + 8, end);
          if (low < 0xdc00 || low > 0xdfff) fail('unpaired high surrogate escape', i);
          out += String.fromCharCode(unit, low);
          consumed = 12;
        } else {
          out += String.fromCharCode(unit);
        }
        break;
      }
      default:
        fail('invalid escape in a string', i);
    }
    i += consumed;
    run = i;
  }
  return out + utf8(data, run, end);
}

function hex4(data: Uint8Array, start: number, end: number): number {
  if (start + 4 > end) fail('truncated \\u escape', start);
  let value = 0;
  for (let i = start; i < start + 4; i++) {
    const byte = data[i]!;
    let digit: number;
    if (byte >= 0x30 && byte <= 0x39) digit = byte - 0x30;
    else if (byte >= 0x61 && byte <= 0x66) digit = byte - 0x57;
    else if (byte >= 0x41 && byte <= 0x46) digit = byte - 0x37;
    else fail('invalid hex digit in a \\u escape', i);
    value = value * 16 + digit;
  }
  return value;
}

function utf8(data: Uint8Array, start: number, end: number): string {
  const text = decodeUtf8(data, start, end);
  if (text === undefined) fail('invalid UTF-8 in a name', start);
  return text;
}

export function skipWhitespace(data: Uint8Array, start: number): number {
  let i = start;
  while (i < data.length && isWhitespace(data[i]!)) i++;
  return i;
}

export function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

export function isNumberByte(byte: number): boolean {
  return (
    (byte >= 0x30 && byte <= 0x39) ||
    byte === 0x2d ||
    byte === 0x2b ||
    byte === 0x2e ||
    (byte | 0x20) === 0x65
  );
}

// Compares in place: a subarray per key would cost more than the rest of the scan.
export function equalAt(data: Uint8Array, start: number, end: number, expected: Uint8Array): boolean {
  if (end - start !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (data[start + i] !== expected[i]) return false;
  return true;
}

/**
 * Index just past the JSON value starting at `start` (a string, number, literal, array or object), without
 * decoding it. Nesting is bounded by the message, which one frame holds.
 */
export function skipValue(data: Uint8Array, start: number): number {
  const first = data[start];
  if (first === QUOTE) return stringEnd(data, start) + 1;
  if (first !== 0x7b && first !== 0x5b) {
    let i = start;
    while (i < data.length && (isNumberByte(data[i]!) || (data[i]! >= 0x61 && data[i]! <= 0x7a))) i++;
    if (i === start) fail('expected a value', start);
    return i;
  }
  let depth = 0;
  let i = start;
  while (i < data.length) {
    const byte = data[i]!;
    if (byte === QUOTE) {
      i = stringEnd(data, i) + 1;
      continue;
    }
    if (byte === 0x7b || byte === 0x5b) depth++;
    else if (byte === 0x7d || byte === 0x5d) {
      depth--;
      if (depth === 0) return i + 1;
    }
    i++;
  }
  return fail('unterminated array or object', start);
}

export function fail(what: string, offset: number): never {
  throw new DecodeError('wal2json', `${what} (byte ${offset})`, offset);
}

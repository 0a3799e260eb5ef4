// The row images of one wal2json format-2 record, read on demand for the key columns only (contract R22,
// R23). After "schema" and "table" a record carries "columns" (the new row: INSERT, UPDATE) and "identity"
// (the replica identity before the change: UPDATE, DELETE; wal2json takes it from the new row when the old
// one was not logged), each an array of {"name": ..., "value": ...} objects. Values are JSON: a string
// holds the output function's text; integers, floats and numerics are bare numbers, except NaN and the
// infinities, which wal2json writes as null (unreadable here); booleans are true and false, printed by
// PostgreSQL as t and f.

import type { ChangeOp, KeyRead, RowImages } from './change.js';
import { equalAt, fail, skipValue, skipWhitespace, stringEnd, unescapeJson } from './json-scan.js';
import { decodeUtf8 } from './text.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

const KEY_COLUMNS = bytesOf('columns');
const KEY_IDENTITY = bytesOf('identity');
const KEY_NAME = bytesOf('name');
const KEY_VALUE = bytesOf('value');
const TRUE = bytesOf('true');
const FALSE = bytesOf('false');
const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

/** A reusable RowImages over one wal2json record; {@link reset} points it at the next change. */
export class Wal2jsonRows implements RowImages {
  #data: Uint8Array = EMPTY;
  #op: ChangeOp = 'insert';
  /** Index just past the "table" value: the keys that hold the row images follow. */
  #after = 0;
  readonly #encoded = new WeakMap<readonly string[], Uint8Array[]>();

  /** Points the view at the record in `data` whose "table" value ends just before `after`. */
  reset(data: Uint8Array, after: number, op: ChangeOp): this {
    this.#data = data;
    this.#after = after;
    this.#op = op;
    return this;
  }

  readKey(image: 'new' | 'old', columns: readonly string[], out: string[]): KeyRead {
    if (columns.length === 0 || columns.length > 32) throw new RangeError('a key has 1 to 32 columns');
    const op = this.#op;
    const carries = image === 'new' ? op === 'insert' || op === 'update' : op === 'update' || op === 'delete';
    if (!carries) return 'absent';
    const array = this.#array(image === 'new' ? KEY_COLUMNS : KEY_IDENTITY);
    if (array === -1) return image === 'new' ? 'unreadable' : 'absent';
    return this.#find(array, columns, out);
  }

  /** Index of the "[" of the top-level array under `key`, or -1 when the record has none. */
  #array(key: Uint8Array): number {
    const data = this.#data;
    let i = skipWhitespace(data, this.#after);
    while (data[i] === COMMA) {
      i = skipWhitespace(data, i + 1);
      if (data[i] !== QUOTE) fail('expected a key', i);
      const keyEnd = stringEnd(data, i);
      const match = equalAt(data, i + 1, keyEnd, key);
      i = skipWhitespace(data, keyEnd + 1);
      if (data[i] !== COLON) fail('expected ":" after a key', i);
      i = skipWhitespace(data, i + 1);
      if (match) {
        if (data[i] !== OPEN_BRACKET) fail('expected an array of columns', i);
        return i;
      }
      i = skipWhitespace(data, skipValue(data, i));
    }
    if (data[i] !== CLOSE_BRACE) fail('expected "," or "}"', i);
    return -1;
  }

  /** Fills `out` with the values of `columns` from the array of {"name", "value"} objects at `start`. */
  #find(start: number, columns: readonly string[], out: string[]): KeyRead {
    const data = this.#data;
    const names = this.#names(columns);
    let missing = columns.length;
    let filled = 0;
    let i = skipWhitespace(data, start + 1);
    if (data[i] === CLOSE_BRACKET) return 'unreadable';
    while (missing > 0) {
      if (data[i] !== OPEN_BRACE) fail('expected a column object', i);
      let nameStart = -1;
      let nameEnd = -1;
      let valueStart = -1;
      let valueEnd = -1;
      i = skipWhitespace(data, i + 1);
      while (data[i] !== CLOSE_BRACE) {
        if (data[i] !== QUOTE) fail('expected a key', i);
        const keyEnd = stringEnd(data, i);
        const isName = equalAt(data, i + 1, keyEnd, KEY_NAME);
        const isValue = !isName && equalAt(data, i + 1, keyEnd, KEY_VALUE);
        i = skipWhitespace(data, keyEnd + 1);
        if (data[i] !== COLON) fail('expected ":" after a key', i);
        i = skipWhitespace(data, i + 1);
        const end = skipValue(data, i);
        if (isName) {
          if (data[i] !== QUOTE) fail('expected a string for "name"', i);
          nameStart = i + 1;
          nameEnd = end - 1;
        } else if (isValue) {
          valueStart = i;
          valueEnd = end;
        }
        i = skipWhitespace(data, end);
        if (data[i] === COMMA) i = skipWhitespace(data, i + 1);
        else if (data[i] !== CLOSE_BRACE) fail('expected "," or "}"', i);
      }
      if (nameStart === -1 || valueStart === -1) fail('a column without "name" or "value"', i);
      for (let k = 0; k < names.length; k++) {
        if ((filled & (1 << k)) !== 0 || !sameName(data, nameStart, nameEnd, names[k]!, columns[k]!))
          continue;
        const text = valueText(data, valueStart, valueEnd);
        if (text === null) return 'unreadable';
        out[k] = text;
        filled |= 1 << k;
        missing--;
        break;
      }
      i = skipWhitespace(data, i + 1);
      if (data[i] === CLOSE_BRACKET) break;
      if (data[i] !== COMMA) fail('expected "," or "]"', i);
      i = skipWhitespace(data, i + 1);
    }
    return missing === 0 ? 'read' : 'unreadable';
  }

  #names(columns: readonly string[]): Uint8Array[] {
    let names = this.#encoded.get(columns);
    if (names === undefined) {
      names = columns.map((name) => encoder.encode(name));
      this.#encoded.set(columns, names);
    }
    return names;
  }
}

/** Whether the JSON string body `data[start, end)` is the name whose UTF-8 is `bytes` (`text` itself). */
function sameName(data: Uint8Array, start: number, end: number, bytes: Uint8Array, text: string): boolean {
  for (let i = start; i < end; i++) {
    // An escaped name is rare (a quote, a backslash or a control character in it): decode and compare.
    if (data[i] === BACKSLASH) return unescapeJson(data, start, end) === text;
  }
  return equalAt(data, start, end, bytes);
}

/** The output function's text for the JSON value at `data[start, end)`, or null when it cannot be known. */
function valueText(data: Uint8Array, start: number, end: number): string | null {
  const first = data[start]!;
  if (first === QUOTE) return unescapeJson(data, start + 1, end - 1);
  if (equalAt(data, start, end, TRUE)) return 't';
  if (equalAt(data, start, end, FALSE)) return 'f';
  // A number is printed as the output function wrote it; null (also NaN and the infinities) is unknown.
  if (first === 0x2d || (first >= 0x30 && first <= 0x39)) return decodeUtf8(data, start, end) ?? null;
  return null;
}

function bytesOf(ascii: string): Uint8Array {
  return Uint8Array.from(ascii, (c) => c.charCodeAt(0));
}

// The row images of one test_decoding line, read on demand for the key columns only (contract R22, R23).
// contrib/test_decoding prints a row as ` name[type]:value` per column: the name as quote_identifier
// gives it, the type as format_type_be gives it (which may hold `[]` or a quoted name), and the value as
// print_literal gives it: integers, floats and numerics bare; bit strings as B'...'; booleans as
// true/false; null as null; an unchanged TOASTed value as unchanged-toast-datum; everything else quoted
// with `'` doubled. An UPDATE prints ` old-key:` and the old key (or whole old row) first when it has
// one, then ` new-tuple:`; a row without data is ` (no-tuple-data)`. Values come back as PostgreSQL's
// output functions print them, so `true` is `t`.

import { DecodeError } from '../errors.js';
import type { ChangeOp, KeyRead, RowImages } from './change.js';
import { decodeUtf8 } from './text.js';

const SPACE = 0x20;
const QUOTE = 0x22;
const APOSTROPHE = 0x27;
const COLON = 0x3a;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

const OLD_KEY = bytesOf(' old-key:');
const NEW_TUPLE = bytesOf(' new-tuple:');
const NO_TUPLE = bytesOf(' (no-tuple-data)');
const NULL = bytesOf('null');
const TRUE = bytesOf('true');
const FALSE = bytesOf('false');
const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

/** A section of a line holding one row image: columns from `start` to the end or to ` new-tuple:`. */
const NONE = -1;

/** A reusable RowImages over one test_decoding line; {@link reset} points it at the next change. */
export class TestDecodingRows implements RowImages {
  #data: Uint8Array = EMPTY;
  #op: ChangeOp = 'insert';
  /** Index just past the op word (`INSERT:` ...): the row images follow. */
  #start = 0;
  /** Index where the new row's columns start once found, NONE when it has none, or -2 before looking. */
  #newStart = -2;
  // Set by #column: the bounds of the column just parsed (its name as printed, its value), and its end.
  #nameStart = 0;
  #nameEnd = 0;
  #valueStart = 0;
  #end = 0;
  // UTF-8 of each key column name, per names array (a relation's key columns keep their array).
  readonly #encoded = new WeakMap<readonly string[], Uint8Array[]>();

  /** Points the view at the change whose row images start at `data[start]`. */
  reset(data: Uint8Array, start: number, op: ChangeOp): this {
    this.#data = data;
    this.#start = start;
    this.#op = op;
    this.#newStart = -2;
    return this;
  }

  readKey(image: 'new' | 'old', columns: readonly string[], out: string[]): KeyRead {
    if (columns.length === 0 || columns.length > 32) throw new RangeError('a key has 1 to 32 columns');
    const start = image === 'new' ? this.#newImage() : this.#oldImage();
    if (start === NONE) return 'absent';
    return this.#find(start, this.#names(columns), out);
  }

  /** Where the old image's columns start, or NONE. */
  #oldImage(): number {
    const data = this.#data;
    const at = this.#start;
    if (this.#op === 'delete') return startsAt(data, at, NO_TUPLE) ? NONE : at;
    if (this.#op === 'update' && startsAt(data, at, OLD_KEY)) return at + OLD_KEY.length;
    return NONE;
  }

  /** Where the new image's columns start, or NONE (found once per change: an UPDATE's old key is skipped). */
  #newImage(): number {
    if (this.#newStart !== -2) return this.#newStart;
    const data = this.#data;
    let at = this.#start;
    if (this.#op === 'delete' || this.#op === 'truncate') at = NONE;
    else if (this.#op === 'update' && startsAt(data, at, OLD_KEY)) {
      at += OLD_KEY.length;
      while (!startsAt(data, at, NEW_TUPLE)) {
        if (data[at] !== SPACE) fail('expected " new-tuple:" after the old key', at);
        this.#column(at);
        at = this.#end;
      }
      at += NEW_TUPLE.length;
    }
    if (at !== NONE && startsAt(data, at, NO_TUPLE)) at = NONE;
    this.#newStart = at;
    return at;
  }

  /** Fills `out` with the values of the columns named `names` in the image starting at `start`. */
  #find(start: number, names: readonly Uint8Array[], out: string[]): KeyRead {
    const data = this.#data;
    let missing = names.length;
    let at = start;
    // A key has at most 32 columns (INDEX_MAX_KEYS), so one bit per column fits.
    let filled = 0;
    while (missing > 0 && data[at] === SPACE && !startsAt(data, at, NEW_TUPLE)) {
      this.#column(at);
      at = this.#end;
      for (let k = 0; k < names.length; k++) {
        if ((filled & (1 << k)) !== 0 || !sameName(data, this.#nameStart, this.#nameEnd, names[k]!)) continue;
        const text = valueText(data, this.#valueStart, at);
        if (text === null) return 'unreadable';
        out[k] = text;
        filled |= 1 << k;
        missing--;
        break;
      }
    }
    return missing === 0 ? 'read' : 'unreadable';
  }

  /**
   * Parses the column at `at` (its leading space) into #nameStart, #nameEnd, #valueStart and #end (just
   * past it). The name is kept as printed (quoted or bare); the type is skipped.
   */
  #column(at: number): void {
    const data = this.#data;
    const nameStart = at + 1;
    let i = nameStart;
    if (data[i] === QUOTE) {
      i = quotedEnd(data, i, QUOTE) + 1;
    } else {
      while (i < data.length && data[i] !== OPEN_BRACKET) i++;
    }
    const nameEnd = i;
    if (data[i] !== OPEN_BRACKET || nameEnd === nameStart) fail('expected "name[type]:" in a row', at);
    // The type ends at "]:" outside quotes; format_type_be quotes any name that holds one.
    i++;
    for (;;) {
      if (i >= data.length) fail('unterminated column type', nameEnd);
      const byte = data[i]!;
      if (byte === QUOTE) i = quotedEnd(data, i, QUOTE) + 1;
      else if (byte === CLOSE_BRACKET && data[i + 1] === COLON) break;
      else i++;
    }
    const valueStart = i + 2;
    i = valueStart;
    if (data[i] === APOSTROPHE) {
      i = quotedEnd(data, i, APOSTROPHE) + 1;
    } else if (data[i] === 0x42 && data[i + 1] === APOSTROPHE) {
      i = quotedEnd(data, i + 1, APOSTROPHE) + 1;
    } else {
      while (i < data.length && data[i] !== SPACE) i++;
      if (i === valueStart) fail('a column without a value', valueStart);
    }
    this.#nameStart = nameStart;
    this.#nameEnd = nameEnd;
    this.#valueStart = valueStart;
    this.#end = i;
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

/**
 * The text PostgreSQL's output function gave for the value printed at `data[start, end)`, or null for a
 * null or an unchanged TOAST value (which the line does not carry).
 */
function valueText(data: Uint8Array, start: number, end: number): string | null {
  const first = data[start];
  if (first === APOSTROPHE) return unquote(data, start + 1, end - 1);
  if (first === 0x42 && data[start + 1] === APOSTROPHE) return utf8(data, start + 2, end - 1);
  if (sameBytes(data, start, end, TRUE)) return 't';
  if (sameBytes(data, start, end, FALSE)) return 'f';
  if (sameBytes(data, start, end, NULL)) return null;
  // Numbers (NaN and Infinity too); "unchanged-toast-datum" starts with a letter no number does.
  if (first === 0x75) return null;
  return utf8(data, start, end);
}

/** The body of a '...' literal, `''` read as `'`. */
function unquote(data: Uint8Array, start: number, end: number): string {
  let doubled = false;
  for (let i = start; i < end; i++) {
    if (data[i] === APOSTROPHE) {
      doubled = true;
      break;
    }
  }
  const raw = utf8(data, start, end);
  return doubled ? raw.replaceAll("''", "'") : raw;
}

/** Index of the `mark` closing the quoted text opened at `start`; a doubled mark is part of the text. */
function quotedEnd(data: Uint8Array, start: number, mark: number): number {
  let i = start + 1;
  for (;;) {
    if (i >= data.length) fail('unterminated quoted text in a row', start);
    if (data[i] === mark) {
      if (data[i + 1] !== mark) return i;
      i += 2;
    } else {
      i++;
    }
  }
}

/** Whether the column name printed at `data[start, end)` (quoted or bare) is `name` (UTF-8). */
function sameName(data: Uint8Array, start: number, end: number, name: Uint8Array): boolean {
  if (data[start] !== QUOTE) return sameBytes(data, start, end, name);
  let k = 0;
  for (let i = start + 1; i < end - 1; i++) {
    if (k >= name.length || data[i] !== name[k]) return false;
    // `""` inside a quoted name stands for one `"`.
    if (data[i] === QUOTE) i++;
    k++;
  }
  return k === name.length;
}

function sameBytes(data: Uint8Array, start: number, end: number, expected: Uint8Array): boolean {
  if (end - start !== expected.length) return false;
  for (let i = 0; i < expected.length; i++) if (data[start + i] !== expected[i]) return false;
  return true;
}

function startsAt(data: Uint8Array, at: number, expected: Uint8Array): boolean {
  if (at + expected.length > data.length) return false;
  for (let i = 0; i < expected.length; i++) if (data[at + i] !== expected[i]) return false;
  return true;
}

function utf8(data: Uint8Array, start: number, end: number): string {
  // Most keys are short numbers: read them without the subarray and spread call decodeUtf8 makes.
  if (end - start <= 8) {
    const ascii = shortAscii(data, start, end);
    if (ascii !== undefined) return ascii;
  }
  const text = decodeUtf8(data, start, end);
  if (text === undefined) fail('invalid UTF-8 in a value', start);
  return text;
}

/** `data[start, end)` (at most 8 bytes) as text when it is all ASCII, else undefined. */
function shortAscii(data: Uint8Array, start: number, end: number): string | undefined {
  for (let i = start; i < end; i++) if (data[i]! >= 0x80) return undefined;
  const d = data;
  const s = start;
  // String.fromCharCode with a fixed argument count: no array, and several times faster than apply().
  switch (end - start) {
    case 0:
      return '';
    case 1:
      return String.fromCharCode(d[s]!);
    case 2:
      return String.fromCharCode(d[s]!, d[s + 1]!);
    case 3:
      return String.fromCharCode(d[s]!, d[s + 1]!, d[s + 2]!);
    case 4:
      return String.fromCharCode(d[s]!, d[s + 1]!, d[s + 2]!, d[s + 3]!);
    case 5:
      return String.fromCharCode(d[s]!, d[s + 1]!, d[s + 2]!, d[s + 3]!, d[s + 4]!);
    case 6:
      return String.fromCharCode(d[s]!, d[s + 1]!, d[s + 2]!, d[s + 3]!, d[s + 4]!, d[s + 5]!);
    case 7:
      return String.fromCharCode(d[s]!, d[s + 1]!, d[s + 2]!, d[s + 3]!, d[s + 4]!, d[s + 5]!, d[s + 6]!);
    default:
      return String.fromCharCode(
        d[s]!,
        d[s + 1]!,
        d[s + 2]!,
        d[s + 3]!,
        d[s + 4]!,
        d[s + 5]!,
        d[s + 6]!,
        d[s + 7]!,
      );
  }
}

function bytesOf(ascii: string): Uint8Array {
  return Uint8Array.from(ascii, (c) => c.charCodeAt(0));
}

function fail(what: string, offset: number): never {
  throw new DecodeError('test_decoding', `${what} (byte ${offset})`, offset);
}

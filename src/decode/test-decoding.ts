// Decodes test_decoding's text lines (contrib/test_decoding) into changes: the relation names and the
// op word only. Names arrive quoted by quote_qualified_identifier; column data is never looked at.

import { DecodeError } from '../errors.js';
import type { ChangeOp, ChangeSink, Decoder } from './change.js';
import { TestDecodingRows } from './test-decoding-row.js';
import { BytesCache, decodeUtf8 } from './text.js';

const QUOTE = 0x22;
const DOT = 0x2e;
const COLON = 0x3a;
const COMMA = 0x2c;
const SPACE = 0x20;

const TABLE_PREFIX = bytesOf('table ');
const BEGIN = bytesOf('BEGIN');
const COMMIT = bytesOf('COMMIT');
const MESSAGE = bytesOf('message: ');
const OPS: readonly (readonly [Uint8Array, ChangeOp])[] = [
  [bytesOf(' INSERT:'), 'insert'],
  [bytesOf(' UPDATE:'), 'update'],
  [bytesOf(' DELETE:'), 'delete'],
  [bytesOf(' TRUNCATE:'), 'truncate'],
];

const OP_WORD_LENGTH: Readonly<Record<ChangeOp, number>> = Object.fromEntries(
  OPS.map(([word, op]) => [op, word.length]),
) as Record<ChangeOp, number>;

interface Relation {
  readonly schema: string;
  readonly table: string;
}

/**
 * A decoder for test_decoding output started with skip-empty-xacts and include-xids off (xids and
 * commit timestamps are tolerated anyway). Lines are `table <rel>: INSERT|UPDATE|DELETE: ...` and
 * `table <rel>, <rel>...: TRUNCATE: <flags>`; BEGIN, COMMIT and `message:` lines are skipped, anything
 * else is a DecodeError. Each decoder caches recent relations, so give each connection its own.
 */
export function createTestDecodingDecoder(): Decoder {
  return new TestDecodingDecoder();
}

class TestDecodingDecoder implements Decoder {
  readonly plugin = 'test_decoding';
  // Keyed by the raw relation text up to its ':'. Sound because the parse of a relation never looks
  // past that ':' (see BytesCache.match): equal bytes before an equal terminator parse the same.
  readonly #relations = new BytesCache<Relation>(8);
  readonly #rows = new TestDecodingRows();

  decode(data: Uint8Array, sink: ChangeSink): void {
    if (startsWith(data, TABLE_PREFIX)) {
      this.#change(data, sink);
      return;
    }
    if (isWord(data, BEGIN) || isWord(data, COMMIT) || startsWith(data, MESSAGE)) return;
    fail('expected a "table", BEGIN, COMMIT or message line', 0);
  }

  #change(data: Uint8Array, sink: ChangeSink): void {
    const start = TABLE_PREFIX.length;
    const hit = this.#relations.match(data, start, COLON);
    if (hit !== undefined) {
      const at = start + hit.bytes.length;
      const op = opAt(data, at);
      if (op !== undefined) {
        sink(hit.value.schema, hit.value.table, op, this.#rows.reset(data, imagesAt(at, op), op));
        return;
      }
    }

    let relations: Relation[] | undefined;
    let relation: Relation;
    let i: number;
    [relation, i] = parseRelation(data, start);
    if (data[i] === COLON) {
      this.#relations.set(data, start, i, relation);
    } else {
      // Only TRUNCATE names several relations, as "a.b, c.d: TRUNCATE: ...".
      relations = [relation];
      while (data[i] === COMMA && data[i + 1] === SPACE) {
        [relation, i] = parseRelation(data, i + 2);
        relations.push(relation);
      }
    }

    const op = opAt(data, i);
    if (op === undefined) fail('expected ": INSERT:", ": UPDATE:", ": DELETE:" or ": TRUNCATE:"', i);
    if (relations === undefined) {
      sink(relation.schema, relation.table, op, this.#rows.reset(data, imagesAt(i, op), op));
      return;
    }
    if (op !== 'truncate') fail(`${op.toUpperCase()} names more than one relation`, i);
    for (const each of relations) sink(each.schema, each.table, op);
  }
}

/** Where the row images begin, for the op found at `i` (the ':' ending the relation list). */
function imagesAt(i: number, op: ChangeOp): number {
  return i + 1 + OP_WORD_LENGTH[op];
}

/** The op at `i` (which must be the ':' ending the relation list), or undefined. */
function opAt(data: Uint8Array, i: number): ChangeOp | undefined {
  if (data[i] !== COLON) return undefined;
  for (const [word, op] of OPS) {
    const end = i + 1 + word.length;
    if (end > data.length || data[i + 2] !== word[1]) continue;
    let same = true;
    for (let k = 0; k < word.length; k++) {
      if (data[i + 1 + k] !== word[k]) {
        same = false;
        break;
      }
    }
    // The op word ends the line or is followed by " " and the tuple or flags.
    if (same && (end === data.length || data[end] === SPACE)) return op;
  }
  return undefined;
}

/** Parses `schema.table` as printed by quote_qualified_identifier, from `start`. */
function parseRelation(data: Uint8Array, start: number): [Relation, number] {
  const [schema, dot] = parseIdentifier(data, start);
  if (data[dot] !== DOT) fail('expected "." between schema and table', dot);
  const [table, end] = parseIdentifier(data, dot + 1);
  return [{ schema, table }, end];
}

/** One identifier, quoted ("" stands for ") or bare; returns it and the index just past it. */
function parseIdentifier(data: Uint8Array, start: number): [string, number] {
  if (data[start] === QUOTE) {
    let doubled = false;
    let i = start + 1;
    for (;;) {
      if (i >= data.length) fail('unterminated quoted identifier', start);
      if (data[i] === QUOTE) {
        if (data[i + 1] !== QUOTE) break;
        doubled = true;
        i += 2;
      } else {
        i++;
      }
    }
    if (i === start + 1) fail('empty quoted identifier', start);
    const raw = utf8(data, start + 1, i);
    return [doubled ? raw.replaceAll('""', '"') : raw, i + 1];
  }
  // quote_identifier leaves only [a-z0-9_] bare; stopping at any delimiter is enough and lenient.
  let i = start;
  while (i < data.length) {
    const byte = data[i]!;
    if (byte <= SPACE || byte === DOT || byte === COLON || byte === COMMA || byte === QUOTE) break;
    i++;
  }
  if (i === start) fail('expected an identifier', start);
  return [utf8(data, start, i), i];
}

function utf8(data: Uint8Array, start: number, end: number): string {
  const text = decodeUtf8(data, start, end);
  if (text === undefined) fail('invalid UTF-8 in a name', start);
  return text;
}

function startsWith(data: Uint8Array, prefix: Uint8Array): boolean {
  if (data.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (data[i] !== prefix[i]) return false;
  return true;
}

/** `word` alone or followed by a space (BEGIN 1234, COMMIT 1234 (at ...)). */
function isWord(data: Uint8Array, word: Uint8Array): boolean {
  return startsWith(data, word) && (data.length === word.length || data[word.length] === SPACE);
}

function bytesOf(ascii: string): Uint8Array {
  return Uint8Array.from(ascii, (c) => c.charCodeAt(0));
}

function fail(what: string, offset: number): never {
  throw new DecodeError('test_decoding', `${what} (byte ${offset})`, offset);
}

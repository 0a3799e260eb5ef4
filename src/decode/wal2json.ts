// Decodes wal2json format-version 2 records (one JSON object per XLogData) into changes.
// Scans bytes for the leading keys only: "action", then "schema" and "table"; row data is never read.

import type { ChangeOp, ChangeSink, Decoder } from './change.js';
import {
  equalAt,
  fail,
  isNumberByte,
  isWhitespace,
  skipWhitespace,
  stringEnd,
  unescapeJson,
} from './json-scan.js';
import { BytesCache } from './text.js';
import { skippedChanges } from './wal2json-notice.js';
import { Wal2jsonRows } from './wal2json-row.js';

const QUOTE = 0x22;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

const KEY_ACTION = bytesOf('action');
const KEY_SCHEMA = bytesOf('schema');
const KEY_TABLE = bytesOf('table');

/**
 * A decoder for wal2json `"format-version" '2'` output. I/U/D/T records become insert/update/delete/
 * truncate (wal2json writes one T record per truncated table); M (logical message) and B/C (only sent
 * with include-transaction) are skipped. Optional keys before "schema" (xid, timestamp, origin, lsn)
 * are tolerated. Each decoder keeps a small cache of recent names, so give each connection its own.
 */
export function createWal2jsonDecoder(): Decoder {
  return new Wal2jsonDecoder();
}

class Wal2jsonDecoder implements Decoder {
  readonly plugin = 'wal2json';
  // Keyed by the escaped bytes between the quotes, so a hit needs no unescaping at all.
  readonly #names = new BytesCache<string>(16);
  // Keyed by the raw text from the end of "action" to the end of the "table" value; a record of a
  // recent table skips the key scan entirely. Sound because that text parses the same wherever it is
  // followed by the "," or "}" that ends the table value.
  readonly #relations = new BytesCache<{ readonly schema: string; readonly table: string }>(8);
  readonly #rows = new Wal2jsonRows();

  decode(data: Uint8Array, sink: ChangeSink): void {
    const length = data.length;
    let i = skipWhitespace(data, 0);
    if (data[i] !== OPEN_BRACE) fail('expected "{" to open the record', i);
    let last = length - 1;
    while (last > i && isWhitespace(data[last]!)) last--;
    // A cheap guard against a cut-off record, since the rest of it is never parsed.
    if (data[last] !== CLOSE_BRACE) fail('expected the record to end with "}"', last);

    let op: ChangeOp | undefined;
    let schema: string | undefined;
    let table: string | undefined;
    let relationStart = 0;
    i = skipWhitespace(data, i + 1);
    for (let first = true; ; first = false) {
      if (data[i] !== QUOTE) fail('expected a key', i);
      const keyStart = i + 1;
      const keyEnd = stringEnd(data, i);
      i = skipWhitespace(data, keyEnd + 1);
      if (data[i] !== COLON) fail('expected ":" after a key', i);
      i = skipWhitespace(data, i + 1);

      if (first) {
        if (!equalAt(data, keyStart, keyEnd, KEY_ACTION)) fail('expected "action" as the first key', keyEnd);
        if (data[i] !== QUOTE) fail('expected a string for "action"', i);
        const end = stringEnd(data, i);
        if (end !== i + 2) fail('expected a one-letter action', i);
        const action = data[i + 1];
        op = actionOp(action!);
        // B, C and M carry no table change; their remaining keys do not matter.
        if (op === undefined) {
          if (action === 0x42 || action === 0x43 || action === 0x4d) return;
          fail(`unknown action ${JSON.stringify(String.fromCharCode(action!))}`, i + 1);
        }
        i = end + 1;
        const hit = this.#relations.match(data, i, COMMA, CLOSE_BRACE);
        if (hit !== undefined) {
          sink(hit.value.schema, hit.value.table, op, this.#rows.reset(data, i + hit.bytes.length, op));
          return;
        }
        relationStart = i;
      } else if (equalAt(data, keyStart, keyEnd, KEY_SCHEMA)) {
        if (data[i] !== QUOTE) fail('expected a string for "schema"', i);
        const end = stringEnd(data, i);
        schema = this.#name(data, i + 1, end);
        i = end + 1;
      } else if (equalAt(data, keyStart, keyEnd, KEY_TABLE)) {
        if (data[i] !== QUOTE) fail('expected a string for "table"', i);
        const end = stringEnd(data, i);
        table = this.#name(data, i + 1, end);
        i = end + 1;
      } else if (equalAt(data, keyStart, keyEnd, KEY_ACTION)) {
        fail('"action" appears twice', keyEnd);
      } else {
        i = skipScalar(data, i);
      }

      if (schema !== undefined && table !== undefined) {
        this.#relations.set(data, relationStart, i, { schema, table });
        break;
      }
      i = skipWhitespace(data, i);
      if (data[i] !== COMMA) {
        fail(data[i] === CLOSE_BRACE ? 'the record has no "schema" and "table"' : 'expected ","', i);
      }
      i = skipWhitespace(data, i + 1);
    }
    sink(schema, table, op!, this.#rows.reset(data, i, op!));
  }

  /** wal2json's warning for an UPDATE or DELETE it could not write: see wal2json-notice.ts. */
  notice(message: string, sink: ChangeSink): void {
    for (const change of skippedChanges(message)) sink(change.schema, change.table, change.op);
  }

  #name(data: Uint8Array, start: number, end: number): string {
    const cached = this.#names.get(data, start, end);
    if (cached !== undefined) return cached;
    const name = unescapeJson(data, start, end);
    this.#names.set(data, start, end, name);
    return name;
  }
}

function actionOp(action: number): ChangeOp | undefined {
  switch (action) {
    case 0x49: // I
      return 'insert';
    case 0x55: // U
      return 'update';
    case 0x44: // D
      return 'delete';
    case 0x54: // T
      return 'truncate';
    default:
      return undefined;
  }
}

/** Skips a string, number, true, false or null (the only values wal2json puts before "table"). */
function skipScalar(data: Uint8Array, start: number): number {
  const byte = data[start];
  if (byte === QUOTE) return stringEnd(data, start) + 1;
  let i = start;
  if (byte === 0x6e || byte === 0x74 || byte === 0x66) {
    while (i < data.length && data[i]! >= 0x61 && data[i]! <= 0x7a) i++;
    const word = String.fromCharCode.apply(null, data.subarray(start, i) as unknown as number[]);
    if (word === 'null' || word === 'true' || word === 'false') return i;
    fail('unexpected value before "table"', start);
  }
  while (i < data.length && isNumberByte(data[i]!)) i++;
  if (i === start) fail('unexpected value before "table"', start);
  return i;
}

function bytesOf(ascii: string): Uint8Array {
  return Uint8Array.from(ascii, (c) => c.charCodeAt(0));
}

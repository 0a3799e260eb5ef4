// Reads a row key out of pgoutput TupleData (contract R22, R23): only the key columns' values are decoded,
// as the text their type's output function printed (pgnudge asks for text values when keys are on); every
// other column is skipped by its length, never copied or decoded.

import { fail } from './pgoutput-wire.js';
import { decodeUtf8 } from './text.js';

/** How reading a key from one tuple went. */
export type TupleKey =
  /** Every key column was a text value: the key is in `out`. */
  | 'read'
  /** A key column was an unchanged TOASTed value ('u'), not sent: the key is the old one, if known. */
  | 'unchanged'
  /** A key column was null, binary, or not valid UTF-8: the key cannot be written. */
  | 'unreadable';

const COLUMN_NULL = 0x6e; // n
const COLUMN_UNCHANGED = 0x75; // u
const COLUMN_TEXT = 0x74; // t
const COLUMN_BINARY = 0x62; // b

/** Reads keys from tuples; `end` tells where the tuple last read ended. */
export class TupleKeyReader {
  /** Index just past the tuple last read. */
  end = 0;
  /** Bit k set: key column k of the tuple last read was unchanged TOAST ('u'). A key has at most 32 columns. */
  unchanged = 0;

  /**
   * Reads the TupleData at `at`, which must hold `columns` columns, filling `out[k]` with the text of
   * column `keyColumns[k]` (ascending column indexes). Bounds and kinds are checked as in skipTuple.
   */
  read(
    data: Uint8Array,
    at: number,
    columns: number,
    keyColumns: readonly number[],
    out: string[],
  ): TupleKey {
    const end = data.length;
    if (at + 2 > end) fail('truncated tuple column count', Math.min(at, end));
    const count = (data[at]! << 8) | data[at + 1]!;
    if (count !== columns) fail(`a tuple with ${count} columns for a relation with ${columns}`, at);
    // INDEX_MAX_KEYS: a relation that claims a longer key is not one PostgreSQL described.
    if (keyColumns.length > 32) fail(`a key of ${keyColumns.length} columns (at most 32)`, at);
    let result: TupleKey = 'read';
    let unchanged = 0;
    let k = 0;
    let next = keyColumns[0] ?? -1;
    let i = at + 2;
    for (let column = 0; column < count; column++) {
      if (i >= end) fail('truncated tuple', i);
      const kind = data[i]!;
      const isKey = column === next;
      if (isKey) next = keyColumns[++k] ?? -1;
      if (kind === COLUMN_TEXT || kind === COLUMN_BINARY) {
        if (i + 5 > end) fail('truncated tuple value length', i + 1);
        const high = data[i + 1]!;
        if (high >= 0x80) fail('negative tuple value length', i + 1);
        const start = i + 5;
        i = start + ((high << 24) | (data[i + 2]! << 16) | (data[i + 3]! << 8) | data[i + 4]!);
        if (i > end) fail('truncated tuple value', end);
        if (isKey && result !== 'unreadable') {
          const text = kind === COLUMN_TEXT ? decodeUtf8(data, start, i) : undefined;
          if (text === undefined) result = 'unreadable';
          else out[k - 1] = text;
        }
      } else if (kind === COLUMN_NULL || kind === COLUMN_UNCHANGED) {
        i += 1;
        if (isKey && kind === COLUMN_UNCHANGED) unchanged |= 1 << (k - 1);
        // A key column is NOT NULL: a null one means the tuple is not the key it claims to be.
        if (isKey && result !== 'unreadable') result = kind === COLUMN_NULL ? 'unreadable' : 'unchanged';
      } else {
        fail(`unknown tuple column kind ${kind}`, i);
      }
    }
    if (k !== keyColumns.length)
      throw new RangeError('key columns must be ascending indexes of the relation');
    this.end = i;
    this.unchanged = unchanged;
    return result;
  }
}

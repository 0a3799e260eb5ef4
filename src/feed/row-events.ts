// What one decoded change becomes with row keys on (contract R22, R23): the row events of its key before and
// after, or one table-level event when the change names no row (TRUNCATE, a table without a key) or its
// key cannot be read. Pure: reads the decoder's row images and feeds the sink.

import type { ChangeOp, RowImages } from '../decode/change.js';
import type { FeedSink } from './feed.js';

/** Turns changes into row events, reusing two key arrays (the engine copies the keys it keeps). */
export class RowEvents {
  readonly #sink: Pick<FeedSink, 'change' | 'changeRow'>;
  readonly #before: string[] = [];
  readonly #after: string[] = [];

  constructor(sink: Pick<FeedSink, 'change' | 'changeRow'>) {
    this.#sink = sink;
  }

  /**
   * Records `op` on `table` (the payload's table part) whose key columns are `columns` (null: no key),
   * reading the keys from `rows`. An INSERT names its new row, a DELETE its old key, an UPDATE its new key
   * and, when it changed, its old key too. Anything unreadable falls back to one table-level change:
   * coarser, never wrong.
   */
  change(table: string, columns: readonly string[] | null, op: ChangeOp, rows: RowImages | undefined): void {
    const sink = this.#sink;
    if (columns === null || rows === undefined || op === 'truncate') {
      sink.change(table);
      return;
    }
    const before = this.#before;
    const after = this.#after;
    before.length = columns.length;
    after.length = columns.length;
    if (op === 'insert') {
      if (rows.readKey('new', columns, after) === 'read') sink.changeRow(table, after);
      else sink.change(table);
      return;
    }
    if (op === 'delete') {
      if (rows.readKey('old', columns, before) === 'read') sink.changeRow(table, before);
      else sink.change(table);
      return;
    }
    const old = rows.readKey('old', columns, before);
    if (old === 'unreadable' || rows.readKey('new', columns, after) !== 'read') {
      sink.change(table);
      return;
    }
    if (old === 'read' && !sameKey(before, after)) sink.changeRow(table, before);
    sink.changeRow(table, after);
  }
}

function sameKey(a: readonly string[], b: readonly string[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// What one decoded change becomes with row keys on (contract R22, R23): the row events of its key before and
// after, or one table-level event when the change names no row (TRUNCATE, a table without a key) or its
// key cannot be read. Pure: reads the decoder's row images and feeds the sink.

import type { ChangeOp, RowImages } from '../decode/change.js';
import type { FeedSink } from './feed.js';

/** Turns changes into row events, reusing two key arrays (the engine copies the keys it keeps). */
export class RowEvents {
  readonly #sink: Pick<FeedSink, 'change' | 'changeRow' | 'rowsFolded'>;
  readonly #before: string[] = [];
  readonly #after: string[] = [];

  constructor(sink: Pick<FeedSink, 'change' | 'changeRow' | 'rowsFolded'>) {
    this.#sink = sink;
  }

  /**
   * Records `op` on `table` (the payload's table part) whose key columns are `columns` (null: no key),
   * reading the keys from `rows`. An INSERT names its new row, a DELETE its old key, an UPDATE its new key
   * and, when it changed, its old key too. Anything unreadable falls back to one table-level change:
   * coarser, never wrong. `receivedMs` is the engine clock's reading for the socket read that brought the
   * change (default: the engine reads it), as in BatchEngine.change.
   *
   * Once the sink says the table's rows folded in its batch (past maxKeys), a row change counts exactly as
   * a table-level one, so only what decides the count is read: nothing for an INSERT or a DELETE (one
   * change, key or not), and for an UPDATE the new key only when an old key came with it (two changes
   * when they differ). A big transaction then reads at most maxKeys keys per table per batch.
   */
  change(
    table: string,
    columns: readonly string[] | null,
    op: ChangeOp,
    rows: RowImages | undefined,
    receivedMs?: number,
  ): void {
    const sink = this.#sink;
    if (columns === null || rows === undefined || op === 'truncate') {
      sink.change(table, 1, undefined, receivedMs);
      return;
    }
    const folded = sink.rowsFolded?.(table) === true;
    if (folded && op !== 'update') {
      sink.change(table, 1, undefined, receivedMs);
      return;
    }
    const before = this.#before;
    const after = this.#after;
    // Sized to the key, so a shorter key carries no stale value; most feeds' keys are all one size.
    if (before.length !== columns.length) {
      before.length = columns.length;
      after.length = columns.length;
    }
    if (op === 'insert') {
      if (rows.readKey('new', columns, after) === 'read')
        sink.changeRow(table, after, 1, undefined, receivedMs);
      else sink.change(table, 1, undefined, receivedMs);
      return;
    }
    if (op === 'delete') {
      if (rows.readKey('old', columns, before) === 'read')
        sink.changeRow(table, before, 1, undefined, receivedMs);
      else sink.change(table, 1, undefined, receivedMs);
      return;
    }
    const old = rows.readKey('old', columns, before);
    if (old === 'unreadable' || (folded && old === 'absent')) {
      sink.change(table, 1, undefined, receivedMs);
      return;
    }
    if (rows.readKey('new', columns, after) !== 'read') {
      sink.change(table, 1, undefined, receivedMs);
      return;
    }
    if (old === 'read' && !sameKey(before, after)) sink.changeRow(table, before, 1, undefined, receivedMs);
    sink.changeRow(table, after, 1, undefined, receivedMs);
  }
}

function sameKey(a: readonly string[], b: readonly string[]): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

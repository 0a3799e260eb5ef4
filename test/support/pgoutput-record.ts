// A PgoutputSink for tests: records every call, and sums them into per-table totals.
import type { ChangeOp } from '../../src/decode/change.js';
import type { PgoutputRelation, PgoutputSink } from '../../src/decode/pgoutput.js';
import { addTotal, type Totals } from './pgoutput-workload.js';

/** Records changes as `[payload, op, count]` (payload `schema.table`, contract R13) and counts overflows. */
export class RecordingSink implements PgoutputSink {
  readonly changes: [string, ChangeOp, number][] = [];
  overflows = 0;

  change(relation: PgoutputRelation, op: ChangeOp, count: number): void {
    this.changes.push([`${relation.schema}.${relation.table}`, op, count]);
  }

  overflow(): void {
    this.overflows += 1;
  }

  /** The recorded changes summed per table and op, keys sorted (so deepEqual ignores order). */
  totals(): Totals {
    return sortTotals(
      this.changes.reduce<Totals>((totals, [payload, op, count]) => {
        addTotal(totals, payload, op, count);
        return totals;
      }, {}),
    );
  }
}

/** `totals` with tables and ops in sorted order. */
export function sortTotals(totals: Totals): Totals {
  return Object.fromEntries(
    Object.keys(totals)
      .sort()
      .map((table) => [
        table,
        Object.fromEntries(Object.entries(totals[table]!).sort(([a], [b]) => a.localeCompare(b))),
      ]),
  );
}

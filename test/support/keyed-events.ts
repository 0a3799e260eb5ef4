// Reading a keyed feed's items in live tests (contract §8): the events of one table, their keys, counts
// per key, and a wait for an exact total. Shared by the row-key tests of every plugin.
import assert from 'node:assert/strict';
import type { NudgeEvent } from '../../src/index.js';
import type { FeedProbe } from './feed-probe.js';
import { waitFor } from './wait.js';

/** Every event for `table` at or after `from`, in arrival order. */
export function eventsOf(probe: FeedProbe, table: string, from = 0): NudgeEvent[] {
  return probe.items
    .slice(from)
    .flatMap((item) => (item.type === 'batch' ? item.events.filter((event) => event.table === table) : []));
}

/** Keys of the row events of `table` at or after `from` (null for a table-level event), in order. */
export const keysOf = (probe: FeedProbe, table: string, from = 0) =>
  eventsOf(probe, table, from).map((event) => event.key);

/** Counts per key text (formatKey's, `null` for table-level), over batches. */
export function countsByKey(events: readonly NudgeEvent[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const event of events) {
    const key = event.key === null ? 'null' : event.payload.slice(event.table.length + 1);
    counts[key] = (counts[key] ?? 0) + event.count;
  }
  return counts;
}

/** Waits until `table` has events whose counts sum to `total` at or after `from`, and asserts no more. */
export async function counted(probe: FeedProbe, table: string, total: number, from = 0): Promise<void> {
  const sum = () => eventsOf(probe, table, from).reduce((n, event) => n + event.count, 0);
  await waitFor(
    () => {
      if (probe.error) throw probe.error;
      return sum() >= total;
    },
    { what: () => `${total} changes to ${table} (have ${sum()}; ${probe.summary(from)})`, timeoutMs: 20_000 },
  );
  assert.equal(sum(), total, `exactly ${total} changes to ${table}`);
}

// How `pgnudge watch` prints items: one JSON object per line (--json), or one readable line. Pure.
import type { FeedItem } from '../feed/items.js';

const RESYNC_MEANING: Record<string, string> = {
  connected: 'stream is live: reload everything',
  reconnected: 'reconnected with a fresh slot: reload everything',
  overflow: 'too many distinct changes piled up: reload everything',
  failsafe: 'periodic failsafe: reload everything',
  bridge: 'the bridge resynced: reload everything',
};

/** The --json line for an item (without the newline): exactly the item's JSON shape. */
export function formatJsonLine(item: FeedItem): string {
  return JSON.stringify(item);
}

/** A human line: time, kind, and what it means or which tables moved. */
export function formatHumanLine(item: FeedItem, now: Date): string {
  const time = now.toISOString().slice(11, 23);
  if (item.type === 'resync') {
    return `${time} resync  ${item.reason} (${RESYNC_MEANING[item.reason] ?? 'reload everything'})`;
  }
  const events = item.events.map((event) => `${event.payload} ×${event.count}`).join(', ');
  return `${time} batch   ${events}`;
}

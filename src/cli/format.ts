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
  const events = item.events.map((event) => `${printable(event.payload)} ×${event.count}`).join(', ');
  return `${time} batch   ${events}`;
}

// Control characters, and the line and paragraph separators, in a table name would otherwise reach the
// terminal raw: a name holding an escape sequence could rewrite what the reader sees, and a newline could
// forge a line. They print as JavaScript escapes; everything else, quotes and non-ASCII included, as is.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** `payload` made safe for a terminal; identical to the payload when it holds nothing unprintable. */
function printable(payload: string): string {
  return payload.replace(UNPRINTABLE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

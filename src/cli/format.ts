// How `pgnudge watch` prints items: one JSON object per line (--json), or one readable line. Pure.
// Names are data (any text PostgreSQL can hold): both forms keep them exact, and neither lets one
// steer the terminal or forge a line.
import type { FeedItem } from '../feed/items.js';
import { printable } from '../logger.js';
import { type Palette, PLAIN } from './color.js';

const RESYNC_MEANING: Record<string, string> = {
  connected: 'stream is live: reload everything',
  reconnected: 'reconnected with a fresh slot: reload everything',
  overflow: 'too many distinct changes piled up: reload everything',
  failsafe: 'periodic failsafe: reload everything',
  bridge: 'the bridge resynced: reload everything',
};

// JSON.stringify escapes C0 controls, quotes, backslashes and lone surrogates, but leaves DEL, C1
// controls (U+009B is a one-byte CSI), format characters (bidi overrides) and U+2028/9 raw.
const RAW_IN_JSON = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu;

/**
 * The --json line for an item (without the newline): exactly the item's JSON shape. Characters a
 * terminal would act on are written as `\u` escapes, which JSON.parse reads back to the same text.
 */
export function formatJsonLine(item: FeedItem): string {
  return JSON.stringify(item).replace(RAW_IN_JSON, (char) => {
    let escaped = '';
    // An astral character is escaped as its UTF-16 pair, the only form JSON knows.
    for (let i = 0; i < char.length; i++) escaped += `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`;
    return escaped;
  });
}

/** A human line: time, kind, and what it means or which tables (or rows, by payload) moved; painted on a terminal. */
export function formatHumanLine(item: FeedItem, now: Date, paint: Palette = PLAIN): string {
  const time = paint.dim(now.toISOString().slice(11, 23));
  if (item.type === 'resync') {
    return `${time} ${paint.yellow('resync')}  ${item.reason} (${RESYNC_MEANING[item.reason] ?? 'reload everything'})`;
  }
  const events = item.events
    .map((event) => `${displayName(event.payload)} ${paint.bold(`×${event.count}`)}`)
    .join(', ');
  return `${time} ${paint.green('batch')}   ${events}`;
}

// White space (any Unicode space) and commas would blur where one name ends in `a b ×1, c ×2`; a
// leading or inner double quote would pass for the quoting itself.
const NEEDS_QUOTES = /[\s,"]/u;

/**
 * A payload as the human line shows it: as is when that is unambiguous, else in double quotes with
 * `"` and `\` backslash-escaped and every unprintable character escaped (see printable()).
 * `public.orders` stays `public.orders`; `Odd Schema.t` prints `"Odd Schema.t"`.
 */
export function displayName(name: string): string {
  const shown = printable(name);
  if (name !== '' && shown === name && !NEEDS_QUOTES.test(name)) return name;
  return `"${shown.replaceAll('"', '\\"')}"`;
}

// Server-Sent Events framing (HTML Living Standard, "Server-sent events", §9.2.5 the event stream format):
// items in, the exact bytes of the text/event-stream out. Pure: no clock, no timer, no socket.
import { ConfigError } from '../errors.js';
import type { FeedItem } from '../feed/items.js';

const encoder = new TextEncoder();

/**
 * `event:` and `data:` lines for one event, ending with the blank line that dispatches it. `data` may hold
 * line breaks: a parser splits lines on CRLF, CR or LF alike, so each piece gets its own `data:` line and
 * the client joins them with LF (a CRLF in `data` therefore arrives as LF, as the standard says).
 * The event name may hold no line break (it would end the field) and no leading space.
 */
export function formatSseEvent(event: string, data: string): string {
  if (/[\r\n]/.test(event) || event === '' || event.startsWith(' ')) {
    throw new ConfigError(
      `an SSE event name must be one line without a leading space; got ${JSON.stringify(event)}`,
    );
  }
  // One space after the colon always: the parser strips exactly one, so data starting with a space survives.
  return `event: ${event}\ndata: ${data.split(/\r\n|\r|\n/).join('\ndata: ')}\n\n`;
}

/** A comment line: parsers ignore it, but it keeps proxies and load balancers from closing an idle stream. */
export function formatSseComment(text: string): string {
  return `: ${text.split(/\r\n|\r|\n/).join('\n: ')}\n\n`;
}

/** The `retry:` field: how many milliseconds the client waits before it reconnects after a lost stream. */
export function formatSseRetry(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new ConfigError(`SSE retry must be a whole number of milliseconds; got ${ms}`);
  }
  return `retry: ${ms}\n\n`;
}

/** One item as its SSE event: `event: resync` or `event: batch`, `data:` its `--json` line. */
export function formatItemEvent(item: FeedItem): string {
  return formatSseEvent(item.type, JSON.stringify(item));
}

/** {@link formatItemEvent} as UTF-8 bytes, ready to write. */
export function encodeItemEvent(item: FeedItem): Uint8Array {
  return encoder.encode(formatItemEvent(item));
}

/** UTF-8 bytes of any SSE text (a comment, a retry field). */
export function encodeSseText(text: string): Uint8Array {
  return encoder.encode(text);
}

/** The keep-alive comment. Sent only on an idle stream, so it never delays an event. */
export const KEEP_ALIVE_TEXT = formatSseComment('keep-alive');

/**
 * The `retry:` value for one stream: `baseMs` times a factor in [0.5, 1.5), so that browsers cut off
 * together (a restart of the server) come back spread out, not in lockstep. `random` returns [0, 1).
 */
export function jitteredRetryMs(baseMs: number, random: () => number): number {
  return Math.round(baseMs * (0.5 + random()));
}

/**
 * Response headers for an event stream. `no-cache` because each stream is live; `X-Accel-Buffering: no`
 * tells nginx not to buffer it (it would hold events back). No `Connection` header: HTTP/2 forbids it.
 */
export const EVENT_STREAM_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-type': 'text/event-stream; charset=utf-8',
  'cache-control': 'no-cache',
  'x-accel-buffering': 'no',
});

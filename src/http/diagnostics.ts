// The event hub's node:diagnostics_channel channels (contract R32), beside the feed's in src/feed/. Every
// stream that opens ends with exactly one of `pgnudge:sse:close` or `pgnudge:sse:drop`.
import { channel } from 'node:diagnostics_channel';
import type { EventHub } from './event-hub.js';

/** The channel names, by event. */
export const SSE_CHANNEL_NAMES = {
  open: 'pgnudge:sse:open',
  close: 'pgnudge:sse:close',
  drop: 'pgnudge:sse:drop',
} as const;

/** `pgnudge:sse:open` and `pgnudge:sse:close`: a hub's event stream opened, or ended in order. */
export interface SseStreamMessage {
  readonly hub: EventHub;
  /** The hub's streams open now, this one counted on open and no longer on close. */
  readonly clients: number;
}

/** `pgnudge:sse:drop`: a stream was cut off because its client fell `maxBufferedBytes` behind. */
export interface SseDropMessage extends SseStreamMessage {
  readonly maxBufferedBytes: number;
}

/** The channels themselves, created once. */
export const sseChannels = {
  open: channel(SSE_CHANNEL_NAMES.open),
  close: channel(SSE_CHANNEL_NAMES.close),
  drop: channel(SSE_CHANNEL_NAMES.drop),
};

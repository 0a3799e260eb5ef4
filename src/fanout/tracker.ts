// A listener's view of the bridge (contract §6): which bridge it hears, whether any message went missing,
// reassembly of split batches, and heartbeat silence. Turns NOTIFY payloads into actions. Pure.
import { parseWireMessage, type WireEvent } from './wire.js';

/** What a listener does next: reload (Resync('bridge')), count events, or log. */
export type TrackerAction =
  | { type: 'resync' }
  | { type: 'events'; events: readonly WireEvent[] }
  | { type: 'log'; level: 'info' | 'warn'; message: string };

const RESYNC: TrackerAction = Object.freeze({ type: 'resync' });

interface PendingBatch {
  base: number;
  parts: number;
  next: number;
  events: WireEvent[];
}

/**
 * Follows one channel. Any doubt becomes a resync, never a guess: a malformed or unknown-version
 * message, a gap in the bridge's sequence numbers, an incomplete batch, a new bridge id, or a bridge
 * heard again after its heartbeats stopped. Memory is bounded by `maxEvents` buffered batch events.
 */
export class BridgeTracker {
  readonly #silenceMs: number;
  readonly #maxEvents: number;
  #bridge: string | null = null;
  #nextSeq = 0;
  #lastHeardMs = 0;
  #silent = false;
  #partial: PendingBatch | null = null;

  constructor(options: { silenceMs: number; maxEvents: number; nowMs: number }) {
    this.#silenceMs = options.silenceMs;
    this.#maxEvents = options.maxEvents;
    this.#lastHeardMs = options.nowMs;
  }

  /** The bridge id last heard since the last reset, or null. */
  get bridge(): string | null {
    return this.#bridge;
  }

  /** Whether the heartbeat timeout passed without a message from a bridge. */
  get silent(): boolean {
    return this.#silent;
  }

  /** Forgets everything, for a fresh LISTEN session (whose own Resync covers what came before). */
  reset(nowMs: number): void {
    this.#bridge = null;
    this.#nextSeq = 0;
    this.#silent = false;
    this.#partial = null;
    this.#lastHeardMs = nowMs;
  }

  /** Handles one NOTIFY payload. */
  receive(text: string, nowMs: number): TrackerAction[] {
    const parsed = parseWireMessage(text);
    if (!parsed.ok) {
      this.#partial = null;
      const sample = text.length > 80 ? `${text.slice(0, 80)}…` : text;
      return [
        { type: 'log', level: 'warn', message: `ignored a bad message (${parsed.problem}): ${sample}` },
        RESYNC,
      ];
    }
    const message = parsed.message;
    const actions: TrackerAction[] = [];
    const doubt = (level: 'info' | 'warn', why: string) => {
      actions.push({ type: 'log', level, message: why }, RESYNC);
      this.#partial = null;
    };
    if (this.#silent) {
      doubt('info', `bridge ${message.bridge} heard again after its heartbeats stopped`);
    } else if (this.#bridge !== null && message.bridge !== this.#bridge) {
      doubt('info', `bridge ${this.#bridge} was replaced by ${message.bridge}`);
    } else if (this.#bridge !== null && message.seq !== this.#nextSeq) {
      doubt('warn', `bridge ${message.bridge}: expected message ${this.#nextSeq}, got ${message.seq}`);
    }
    this.#silent = false;
    this.#bridge = message.bridge;
    this.#nextSeq = message.seq + 1;
    this.#lastHeardMs = nowMs;
    const pending = this.#partial;
    if (message.kind !== 'batch' || message.part === 0) {
      if (pending !== null) doubt('warn', `bridge ${message.bridge}: a split batch stopped short`);
      if (message.kind === 'resync') {
        actions.push(RESYNC);
      } else if (message.kind === 'batch' && message.parts === 1) {
        actions.push({ type: 'events', events: message.events });
      } else if (message.kind === 'batch') {
        this.#partial = { base: message.seq, parts: message.parts, next: 1, events: message.events };
      }
      return actions;
    }
    if (
      pending === null ||
      pending.parts !== message.parts ||
      pending.next !== message.part ||
      pending.base !== message.seq - message.part ||
      pending.events.length + message.events.length > this.#maxEvents
    ) {
      doubt('warn', `bridge ${message.bridge}: part ${message.part} of a split batch arrived out of order`);
      return actions;
    }
    for (const event of message.events) pending.events.push(event);
    pending.next += 1;
    if (pending.next === pending.parts) {
      this.#partial = null;
      actions.push({ type: 'events', events: pending.events });
    }
    return actions;
  }

  /** Called periodically: reports, once, that no bridge has been heard for the heartbeat timeout. */
  checkSilence(nowMs: number): TrackerAction[] {
    if (this.#silent || nowMs - this.#lastHeardMs <= this.#silenceMs) return [];
    this.#silent = true;
    this.#partial = null;
    const who = this.#bridge === null ? 'no bridge' : `bridge ${this.#bridge} not`;
    return [
      {
        type: 'log',
        level: 'warn',
        message: `${who} heard for ${nowMs - this.#lastHeardMs} ms: is a pgnudge bridge running on this channel?`,
      },
    ];
  }
}

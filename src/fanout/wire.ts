// The fan-out wire format, version 1 (docs/fanout.md): the JSON a bridge sends as NOTIFY payloads,
// split so that none reaches NOTIFY's 8000-byte limit, and its strict parser. Pure.

import { packParts, utf8Length } from './parts.js';

/** The only version this code writes and reads. */
export const WIRE_VERSION = 1;

/** NOTIFY refuses a payload of 8000 bytes or more (async.c: NOTIFY_PAYLOAD_MAX_LENGTH). */
export const MAX_PAYLOAD_BYTES = 7999;

/** The bridge's default heartbeat interval (ms); a listener's default timeout is three of them. */
export const DEFAULT_HEARTBEAT_INTERVAL = 1000;

/** Longest bridge id a parser accepts. */
const MAX_BRIDGE_ID = 64;

/** One coalesced wakeup: `schema.table`, row changes, first change as epoch milliseconds. */
export type WireEvent = readonly [payload: string, count: number, firstSeenMs: number];

/** A decoded message. `seq` counts every message of one bridge id from 0, with no gaps. */
export type WireMessage =
  | { kind: 'hb'; bridge: string; seq: number }
  | { kind: 'resync'; bridge: string; seq: number; reason: string }
  | {
      kind: 'batch';
      bridge: string;
      seq: number;
      part: number;
      parts: number;
      events: WireEvent[];
    };

/** The outcome of parsing one payload: a message, or a one-line description of what is wrong. */
export type ParseResult = { ok: true; message: WireMessage } | { ok: false; problem: string };

/**
 * Writes one bridge's messages, numbering them. Every method returns the payloads to NOTIFY, in order;
 * they must be sent in that order, and a batch's parts in one transaction (all or none arrive).
 */
export class WireEncoder {
  readonly #bridge: string;
  readonly #limit: number;
  #seq = 0;

  /** `limit` (bytes) is lowered only by tests. */
  constructor(bridgeId: string, limit = MAX_PAYLOAD_BYTES) {
    if (bridgeId.length === 0 || bridgeId.length > MAX_BRIDGE_ID) throw new RangeError('bad bridge id');
    this.#bridge = bridgeId;
    this.#limit = limit;
  }

  /** Messages written so far. */
  get seq(): number {
    return this.#seq;
  }

  /** `{"v":1,"b":…,"q":…,"k":"hb"}`: the bridge is alive and active. */
  heartbeat(): string[] {
    return [`${this.#head(this.#seq++)},"k":"hb"}`];
  }

  /** `{"v":1,"b":…,"q":…,"k":"resync","r":<reason>}`: every consumer must reload. */
  resync(reason: string): string[] {
    return [`${this.#head(this.#seq++)},"k":"resync","r":${JSON.stringify(reason)}}`];
  }

  /**
   * `{"v":1,"b":…,"q":…,"k":"batch","p":<part>,"n":<parts>,"e":[[payload,count,firstSeenMs],…]}`, as
   * many parts as needed to keep each under the limit; parts take consecutive `q`. An event that cannot
   * fit in a message by itself (impossible for real identifiers) turns the batch into a resync.
   */
  batch(events: readonly WireEvent[]): string[] {
    // Room for the widest numbers a header can carry, so the split never depends on the part count.
    const widest = Number.MAX_SAFE_INTEGER;
    const overhead = utf8Length(`${this.#head(widest)},"k":"batch","p":${widest},"n":${widest},"e":[]}`);
    const groups = packParts(
      events.map((event) => JSON.stringify(event)),
      this.#limit - overhead,
    );
    if (groups === null) return this.resync('overflow');
    return groups.map(
      (parts, index) =>
        `${this.#head(this.#seq++)},"k":"batch","p":${index},"n":${groups.length},"e":[${parts.join(',')}]}`,
    );
  }

  #head(seq: number): string {
    return `{"v":${WIRE_VERSION},"b":${JSON.stringify(this.#bridge)},"q":${seq}`;
  }
}

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

/**
 * Parses one NOTIFY payload strictly: the version must be 1, every field present with its type, no
 * unknown kind. Anything else is reported, never thrown, so a hostile payload cannot crash a listener.
 */
export function parseWireMessage(text: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, problem: 'not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { ok: false, problem: 'not a JSON object' };
  }
  const fields = value as Record<string, unknown>;
  if (fields.v !== WIRE_VERSION) {
    return { ok: false, problem: `unsupported version ${JSON.stringify(fields.v) ?? 'none'}` };
  }
  const bridge = fields.b;
  if (typeof bridge !== 'string' || bridge.length === 0 || bridge.length > MAX_BRIDGE_ID) {
    return { ok: false, problem: 'missing or bad bridge id "b"' };
  }
  const seq = fields.q;
  if (!isCount(seq)) return { ok: false, problem: 'missing or bad sequence number "q"' };
  switch (fields.k) {
    case 'hb':
      return { ok: true, message: { kind: 'hb', bridge, seq } };
    case 'resync':
      if (typeof fields.r !== 'string') return { ok: false, problem: 'resync without a reason "r"' };
      return { ok: true, message: { kind: 'resync', bridge, seq, reason: fields.r } };
    case 'batch': {
      const { p: part, n: parts, e: list } = fields;
      if (!isCount(part) || !isCount(parts) || part >= parts) {
        return { ok: false, problem: 'batch with bad part "p" or part count "n"' };
      }
      if (!Array.isArray(list)) return { ok: false, problem: 'batch without an event list "e"' };
      const events: WireEvent[] = [];
      for (const event of list) {
        if (
          !Array.isArray(event) ||
          event.length !== 3 ||
          typeof event[0] !== 'string' ||
          !isCount(event[1]) ||
          event[1] === 0 ||
          typeof event[2] !== 'number' ||
          !Number.isFinite(event[2])
        ) {
          return { ok: false, problem: 'batch with a malformed event' };
        }
        events.push([event[0], event[1], event[2]]);
      }
      return { ok: true, message: { kind: 'batch', bridge, seq, part, parts, events } };
    }
    default:
      return { ok: false, problem: `unknown kind ${JSON.stringify(fields.k) ?? 'none'}` };
  }
}

// The fan-out wire format, version 2 (docs/fanout.md, contract R29): what a bridge sends as NOTIFY payloads,
// each signed, numbered and timestamped, split so that none reaches NOTIFY's 8000-byte limit; and the
// strict, bounded reader that checks the signature before it parses a byte of JSON. Pure.
//
//   v2.<mac>.<body>    <mac>: HMAC-SHA-256 of <body>'s UTF-8 bytes, 43 base64url characters; empty when
//                      the bridge runs without a secret (insecure)
//   <body>: {"b":<bridge id>,"q":<seq>,"t":<sent ms>,"k":"hb"}
//           {"b":…,"q":…,"t":…,"k":"resync","r":<reason>}
//           {"b":…,"q":…,"t":…,"k":"batch","p":<part>,"n":<parts>,"e":[[table,key,count,firstSeenMs],…]}
import { randomBytes } from 'node:crypto';
import { type ChannelKey, MAC_LENGTH } from './auth.js';
import { packParts, utf8Length } from './parts.js';

/** What every payload starts with; anything else is not this version. */
export const WIRE_PREFIX = 'v2.';

/** NOTIFY refuses a payload of 8000 bytes or more (async.c: NOTIFY_PAYLOAD_MAX_LENGTH). */
export const MAX_PAYLOAD_BYTES = 7999;

/** The bridge's default heartbeat interval (ms); a listener's default timeout is three of them. */
export const DEFAULT_HEARTBEAT_INTERVAL = 1000;

/**
 * How far a message's timestamp may be from the listener's clock, either way (ms). It must cover the
 * clock offset between bridge and listener hosts (NTP keeps it far below a second; an unsynchronised VM
 * drifts seconds a day) plus delivery delay. It bounds how long a recorded message can be replayed to a
 * listener that has not seen it (docs/fanout.md). A listener that falls further behind drops what is
 * late and resyncs on the gap, so no change is lost to it.
 */
export const CLOCK_WINDOW_MS = 30_000;

/**
 * How much older than its message an event's first change may be: beyond the longest `maxBatchWait`
 * (2^31 − 1 ms, 24.9 days), with room for the time a batch waits to be sent.
 */
export const MAX_EVENT_AGE_MS = 31 * 24 * 60 * 60 * 1000;

/**
 * The longest table name carried: `schema.table`, each at most 63 bytes (NAMEDATALEN − 1), and no
 * character takes fewer bytes than UTF-16 units in any server encoding.
 */
export const MAX_TABLE_LENGTH = 127;

/** The most key columns an index can have (INDEX_MAX_KEYS). */
export const MAX_KEY_COLUMNS = 32;

/** The most parts a batch may be split into. */
export const MAX_PARTS = 65_535;

/** The latest epoch millisecond a Date can hold (ECMA-262 TimeClip). */
const MAX_TIME_MS = 8.64e15;

/** A bridge id: 16 lowercase hex digits, fresh for every activation. */
const BRIDGE_ID = /^[0-9a-f]{16}$/;

/** A resync reason: a lowercase word, so any future reason parses and every one prints as is. */
const REASON = /^[a-z][a-z_]{0,31}$/;

/** What no PostgreSQL text can hold: NUL, and lone surrogates (not valid UTF-8). */
const NOT_TEXT = /[\0\p{Cs}]/u;

/** One coalesced wakeup: a table or one row of it, its row changes, and when the first one was seen. */
export interface WireEvent {
  /** `schema.table`, both unquoted. */
  readonly table: string;
  /** The row's key values as text, in key-column order (contract R22), or null for the whole table. */
  readonly key: readonly string[] | null;
  /** Row changes coalesced into this event (at least 1). */
  readonly count: number;
  /** When the bridge saw the first of them, epoch milliseconds. */
  readonly firstSeenMs: number;
}

interface Head {
  /** The bridge id. */
  bridge: string;
  /** Counts every message of one bridge id from 0, with no gaps; a batch's parts take consecutive ones. */
  seq: number;
  /** The bridge's clock when it wrote the message, epoch milliseconds. */
  sentMs: number;
}

/** A message that passed every check. */
export type WireMessage =
  | (Head & { kind: 'hb' })
  | (Head & { kind: 'resync'; reason: string })
  | (Head & { kind: 'batch'; part: number; parts: number; events: WireEvent[] });

/**
 * Why a payload was refused: `malformed` (not v2, or a body that breaks a rule), `unsigned` (no MAC,
 * to a listener that has a secret), `mac` (a MAC that does not verify: forged, altered, for another
 * channel, or from a bridge with another secret).
 */
export type WireRefusal = 'malformed' | 'unsigned' | 'mac';

/** The outcome of reading one payload: a message, or why not (the problem is our own words, never the input). */
export type OpenResult =
  | { ok: true; message: WireMessage }
  | { ok: false; reason: WireRefusal; problem: string };

/** A fresh bridge id: 16 hex digits from 8 random bytes. */
export function newBridgeId(random: (size: number) => Uint8Array = randomBytes): string {
  const bytes = random(8);
  if (bytes.byteLength !== 8) throw new RangeError('a bridge id needs 8 random bytes');
  return Buffer.from(bytes.buffer, bytes.byteOffset, 8).toString('hex');
}

/**
 * Writes one bridge activation's messages, numbering, timestamping and signing each. Every method
 * returns the payloads to NOTIFY, in order; they must be sent in that order, and a batch's parts in one
 * transaction (all or none arrive). With `key: null` (insecure) the MAC field is empty.
 */
export class WireEncoder {
  readonly #bridge: string;
  readonly #key: ChannelKey | null;
  readonly #limit: number;
  #seq = 0;

  /** `limit` (bytes): the largest payload the transport takes (NOTIFY's by default). */
  constructor(options: { bridgeId: string; key: ChannelKey | null; limit?: number }) {
    if (!BRIDGE_ID.test(options.bridgeId)) throw new RangeError('a bridge id is 16 lowercase hex digits');
    this.#bridge = options.bridgeId;
    this.#key = options.key;
    this.#limit = options.limit ?? MAX_PAYLOAD_BYTES;
  }

  /** Messages written so far. */
  get seq(): number {
    return this.#seq;
  }

  /** `hb`: the bridge is alive, active, and its feed is streaming. */
  heartbeat(nowMs: number): string[] {
    return [this.#seal(`${this.#head(this.#seq++, sentAt(nowMs))},"k":"hb"}`)];
  }

  /** `resync`: every listener must reload. `reason` is the bridge feed's (`connected`, `overflow`, ...). */
  resync(reason: string, nowMs: number): string[] {
    if (!REASON.test(reason)) throw new RangeError('a resync reason is a lowercase word');
    return [this.#seal(`${this.#head(this.#seq++, sentAt(nowMs))},"k":"resync","r":"${reason}"}`)];
  }

  /**
   * `batch`: the events, in as many parts as needed to keep each payload within the limit; parts take
   * consecutive sequence numbers. An event whose key cannot travel (too long to fit a message, or not
   * text PostgreSQL could hold) goes as its table (`key: null`): coarser, never wrong. A table name the
   * wire cannot carry, which no real server produces, turns the batch into a resync with reason
   * `overflow`. A first change later than the message (a clock stepped back) is sent as the message's time.
   */
  batch(events: readonly WireEvent[], nowMs: number): string[] {
    const sent = sentAt(nowMs);
    // Room for the widest numbers a header can carry, so the split never depends on the part count.
    const overhead = this.#sealedLength(
      `${this.#head(Number.MAX_SAFE_INTEGER, MAX_TIME_MS)},"k":"batch","p":${MAX_PARTS},"n":${MAX_PARTS},"e":[]}`,
    );
    const budget = this.#limit - overhead;
    const texts: string[] = [];
    for (const event of events) {
      if (!isTable(event.table) || !isCount(event.count) || event.count === 0)
        return this.resync('overflow', nowMs);
      const seen = Number.isFinite(event.firstSeenMs) ? Math.floor(event.firstSeenMs) : sent;
      const firstSeen = Math.min(Math.max(seen, sent - MAX_EVENT_AGE_MS, 0), sent);
      const key = isKey(event.key) ? event.key : null;
      const text = JSON.stringify([event.table, key, event.count, firstSeen]);
      texts.push(
        utf8Length(text) > budget && key !== null
          ? JSON.stringify([event.table, null, event.count, firstSeen])
          : text,
      );
    }
    const groups = packParts(texts, budget);
    if (groups === null) return this.resync('overflow', nowMs);
    if (groups.length > MAX_PARTS) return this.resync('overflow', nowMs);
    return groups.map((list, index) =>
      this.#seal(
        `${this.#head(this.#seq++, sent)},"k":"batch","p":${index},"n":${groups.length},"e":[${list.join(',')}]}`,
      ),
    );
  }

  #head(seq: number, sentMs: number): string {
    return `{"b":"${this.#bridge}","q":${seq},"t":${sentMs}`;
  }

  #seal(body: string): string {
    return `${WIRE_PREFIX}${this.#key === null ? '' : this.#key.sign(body)}.${body}`;
  }

  #sealedLength(body: string): number {
    return WIRE_PREFIX.length + (this.#key === null ? 0 : MAC_LENGTH) + 1 + utf8Length(body);
  }
}

function sentAt(nowMs: number): number {
  const ms = Math.floor(nowMs);
  if (!(ms >= 0 && ms <= MAX_TIME_MS)) throw new RangeError('the clock must give epoch milliseconds');
  return ms;
}

const isCount = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;

const isTime = (value: unknown): value is number => isCount(value) && value <= MAX_TIME_MS;

const isText = (value: unknown): value is string => typeof value === 'string' && !NOT_TEXT.test(value);

function isTable(value: unknown): value is string {
  return isText(value) && value.length >= 3 && value.length <= MAX_TABLE_LENGTH && value.includes('.');
}

function isKey(value: unknown): value is readonly string[] | null {
  if (value === null) return true;
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_KEY_COLUMNS) return false;
  for (const column of value) if (!isText(column)) return false;
  return true;
}

type Refused = { ok: false; reason: WireRefusal; problem: string };
const refuse = (reason: WireRefusal, problem: string): Refused => ({ ok: false, reason, problem });

/**
 * Reads one payload, of at most `maxBytes` (the transport's limit, NOTIFY's by default). With a key, the MAC is checked first, over the exact text that is then
 * parsed, so no unauthenticated JSON is ever parsed; with `key: null` (insecure) the MAC field is not
 * checked. The body must then hold exactly the fields of its kind, each with its type and within its
 * bounds. Never throws: a hostile payload is refused with a reason.
 */
export function openWireMessage(
  payload: string,
  key: ChannelKey | null,
  maxBytes = MAX_PAYLOAD_BYTES,
): OpenResult {
  // More UTF-16 units than the transport allows bytes cannot have come from a bridge.
  if (payload.length > maxBytes) return refuse('malformed', 'longer than the transport allows');
  if (!payload.startsWith(WIRE_PREFIX)) return refuse('malformed', 'not a version 2 message');
  const dot = payload.indexOf('.', WIRE_PREFIX.length);
  const macLength = dot - WIRE_PREFIX.length;
  if (macLength !== 0 && macLength !== MAC_LENGTH) return refuse('malformed', 'no MAC field');
  const body = payload.slice(dot + 1);
  if (key !== null) {
    if (macLength === 0) return refuse('unsigned', 'unsigned');
    if (!key.verify(body, payload.slice(WIRE_PREFIX.length, dot))) return refuse('mac', 'wrong MAC');
  }
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return refuse('malformed', 'body is not JSON');
  }
  return parseBody(value, body.length);
}

function parseBody(value: unknown, length: number): OpenResult {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return refuse('malformed', 'body is not a JSON object');
  }
  const fields = value as Record<string, unknown>;
  const { b: bridge, q: seq, t: sentMs } = fields;
  if (typeof bridge !== 'string' || !BRIDGE_ID.test(bridge)) return refuse('malformed', 'bad bridge id "b"');
  if (!isCount(seq)) return refuse('malformed', 'bad sequence number "q"');
  if (!isTime(sentMs)) return refuse('malformed', 'bad timestamp "t"');
  const head: Head = { bridge, seq, sentMs };
  const size = Object.keys(fields).length;
  switch (fields.k) {
    case 'hb':
      if (size !== 4) return refuse('malformed', 'unexpected fields in hb');
      return { ok: true, message: { ...head, kind: 'hb' } };
    case 'resync': {
      const reason = fields.r;
      if (typeof reason !== 'string' || !REASON.test(reason)) return refuse('malformed', 'bad reason "r"');
      if (size !== 5) return refuse('malformed', 'unexpected fields in resync');
      return { ok: true, message: { ...head, kind: 'resync', reason } };
    }
    case 'batch': {
      const { p: part, n: parts, e: list } = fields;
      if (!isCount(part) || !isCount(parts) || part >= parts || parts > MAX_PARTS) {
        return refuse('malformed', 'bad part "p" or part count "n"');
      }
      // A real part holds at most a few hundred events (each is at least 16 bytes).
      if (!Array.isArray(list) || list.length > length / 16) return refuse('malformed', 'bad event list "e"');
      if (size !== 7) return refuse('malformed', 'unexpected fields in batch');
      const events: WireEvent[] = [];
      for (const item of list) {
        const event = parseEvent(item, sentMs);
        if (event === null) return refuse('malformed', 'bad event');
        events.push(event);
      }
      return { ok: true, message: { ...head, kind: 'batch', part, parts, events } };
    }
    default:
      return refuse('malformed', 'unknown kind "k"');
  }
}

function parseEvent(item: unknown, sentMs: number): WireEvent | null {
  if (!Array.isArray(item) || item.length !== 4) return null;
  const [table, key, count, firstSeenMs] = item as unknown[];
  if (!isTable(table) || !isKey(key) || !isCount(count) || count === 0 || !isTime(firstSeenMs)) return null;
  // Sane relative to the message, whose own time the listener checks against its clock.
  if (firstSeenMs < sentMs - MAX_EVENT_AGE_MS || firstSeenMs > sentMs + CLOCK_WINDOW_MS) return null;
  return { table, key: key === null ? null : [...key], count, firstSeenMs };
}

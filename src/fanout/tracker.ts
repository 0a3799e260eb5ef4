// A listener's view of the bridge (contract §6, R29) for wire format v2: which messages to believe, which
// bridge is active, whether a message went missing, reassembly of split batches, heartbeat silence,
// and the drop report. Turns NOTIFY payloads into actions. Pure over the clock values passed in.
//
// What it believes: a message that opens (wire.ts: MAC, then a strict parse), whose timestamp is
// within the clock window, and that is new: from the active bridge, a sequence number above the last
// believed; from another bridge, a takeover only if its message is newer than anything believed so far
// and, unless the channel is silent, that bridge was never replaced here. Everything else is dropped
// without effect (no Resync, no change of state) and counted; a real message lost that way shows as a
// gap or a takeover later, which resyncs. Only as the baseline (the first message believed after
// construction or reset) can a recording pass, and only one younger than the clock window.
import { printable } from '../logger.js';
import type { ChannelKey } from './auth.js';
import { CLOCK_WINDOW_MS, openWireMessage, type WireEvent } from './wire.js';

/**
 * Why a message was dropped: the wire's refusals (`mac`, `unsigned`, `malformed`), and those of the
 * replay and clock checks (`replayed`, `replaced`, `stale`, `future`); docs/fanout.md says what each means.
 */
export type DropReason = 'mac' | 'unsigned' | 'malformed' | 'replayed' | 'replaced' | 'stale' | 'future';

const DROP_REASONS: readonly DropReason[] = [
  'mac',
  'unsigned',
  'malformed',
  'replayed',
  'replaced',
  'stale',
  'future',
];

/** What a listener does next: reload (Resync('bridge')), count events, or log. */
export type TrackerAction =
  | { type: 'resync' }
  | { type: 'events'; events: readonly WireEvent[] }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; message: string };

/** How often, at most, dropped messages are reported (ms). */
export const DROP_REPORT_INTERVAL_MS = 60_000;

/** How many replaced bridge ids are remembered; older ones still lose to the newer bridges' timestamps. */
const REPLACED_MEMORY = 16;

const RESYNC: TrackerAction = Object.freeze({ type: 'resync' });

export interface BridgeTrackerOptions {
  /** The channel's key, or null when insecure (messages are then believed unchecked). */
  key: ChannelKey | null;
  /** Silence (ms) after which the listener logs an error, and the next message resyncs. */
  silenceMs: number;
  /** The most events a split batch may buffer before the listener resyncs instead. */
  maxEvents: number;
  /** The clock now. */
  nowMs: number;
  /** The largest payload the transport carries (bytes); NOTIFY's by default. */
  maxPayloadBytes?: number;
  /** Lowered only by tests. */
  clockWindowMs?: number;
}

interface PendingBatch {
  bridge: string;
  base: number;
  parts: number;
  next: number;
  events: WireEvent[];
}

type Counts = Record<DropReason, number>;

const zero = (): Counts => ({
  mac: 0,
  unsigned: 0,
  malformed: 0,
  replayed: 0,
  replaced: 0,
  stale: 0,
  future: 0,
});

/**
 * Follows one channel's bridge. Any doubt about a believed message becomes a Resync, never a guess: a
 * gap in the active bridge's sequence numbers, an incomplete or oversized split batch, a takeover by a
 * new bridge, or a bridge heard again after silence. Memory is bounded: one split batch of at most
 * `maxEvents` events, and 16 replaced bridge ids.
 */
export class BridgeTracker {
  readonly #key: ChannelKey | null;
  readonly #silenceMs: number;
  readonly #maxEvents: number;
  readonly #windowMs: number;
  readonly #maxPayloadBytes: number | undefined;
  #bridge: string | null = null;
  #lastSeq = -1;
  /** The newest timestamp accepted from any bridge. */
  #newestMs = Number.NEGATIVE_INFINITY;
  #replaced: string[] = [];
  /** No message believed since construction or reset: the next one is a baseline, not a gap or a takeover. */
  #fresh = true;
  #lastHeardMs: number;
  #silent = false;
  #partial: PendingBatch | null = null;
  /** The rest of a split batch already given up on: its parts pass without another Resync. */
  #skipping: { bridge: string; base: number; parts: number } | null = null;
  readonly #total = zero();
  #unreported = zero();
  #unreportedCount = 0;
  #sinceHeard = 0;
  #reportedMs: number | null = null;

  constructor(options: BridgeTrackerOptions) {
    this.#key = options.key;
    this.#silenceMs = options.silenceMs;
    this.#maxEvents = options.maxEvents;
    this.#windowMs = options.clockWindowMs ?? CLOCK_WINDOW_MS;
    this.#maxPayloadBytes = options.maxPayloadBytes;
    this.#lastHeardMs = options.nowMs;
  }

  /** The id of the bridge believed active, or null before the first believed message. */
  get bridge(): string | null {
    return this.#bridge;
  }

  /** Whether the heartbeat timeout passed without a believed message. */
  get silent(): boolean {
    return this.#silent;
  }

  /** Messages dropped since construction, by reason. */
  get dropped(): Readonly<Counts> {
    return { ...this.#total };
  }

  /**
   * For a fresh LISTEN session, whose own Resync covers what came before: forgets the partial batch and
   * the silence, and takes the next believed message as a baseline. What was believed stays known, so
   * a replay of it is still dropped. With `keepSequence` (a broker) the next message is no baseline: a
   * gap or a takeover since the last message believed resyncs again, since a broker also loses what the
   * bridge publishes while the bridge's own link is down, after this consumer subscribed again.
   */
  reset(nowMs: number, keepSequence = false): void {
    if (!keepSequence) this.#fresh = true;
    this.#silent = false;
    this.#partial = null;
    this.#skipping = null;
    this.#lastHeardMs = nowMs;
  }

  /** Handles one NOTIFY payload of the channel. */
  receive(payload: string, nowMs: number): TrackerAction[] {
    const actions = this.#checkSilence(nowMs);
    const opened = openWireMessage(payload, this.#key, this.#maxPayloadBytes);
    if (!opened.ok) return this.#drop(actions, opened.reason, nowMs);
    const message = opened.message;
    if (message.sentMs < nowMs - this.#windowMs) return this.#drop(actions, 'stale', nowMs);
    if (message.sentMs > nowMs + this.#windowMs) return this.#drop(actions, 'future', nowMs);

    const previous = this.#bridge;
    let doubt: { level: 'info' | 'warn'; why: string } | null = null;
    if (message.bridge === previous) {
      if (message.seq <= this.#lastSeq) return this.#drop(actions, 'replayed', nowMs);
      if (this.#silent)
        doubt = { level: 'info', why: `bridge ${shown(previous)} heard again after its heartbeats stopped` };
      else if (!this.#fresh && message.seq !== this.#lastSeq + 1) {
        doubt = {
          level: 'warn',
          why: `bridge ${shown(previous)}: ${message.seq - this.#lastSeq - 1} message(s) missing before message ${message.seq}`,
        };
      }
    } else {
      if (previous !== null) {
        // Silence lifts this rule, so that a bridge wrongly taken for replaced (a recording from a
        // bridge whose clock ran ahead) is believed again: it cannot stay locked out.
        if (!this.#silent && this.#replaced.includes(message.bridge))
          return this.#drop(actions, 'replaced', nowMs);
        // Not newer than what was already believed: a recording, not a takeover.
        if (message.sentMs <= this.#newestMs) return this.#drop(actions, 'replayed', nowMs);
      }
      if (previous !== null) this.#forget(previous, message.bridge);
      if (this.#silent) doubt = { level: 'info', why: `bridge ${shown(message.bridge)} heard after silence` };
      else if (previous !== null && !this.#fresh) {
        doubt = {
          level: 'info',
          why: `bridge ${shown(previous)} was replaced by bridge ${shown(message.bridge)}`,
        };
      }
    }

    this.#bridge = message.bridge;
    this.#lastSeq = message.seq;
    this.#newestMs = Math.max(this.#newestMs, message.sentMs);
    this.#lastHeardMs = nowMs;
    this.#silent = false;
    this.#fresh = false;
    this.#sinceHeard = 0;
    if (doubt !== null) this.#doubt(actions, doubt.level, doubt.why);

    if (message.kind === 'batch' && message.part > 0) {
      // After a doubt (which already resynced) the rest of the batch is of no use.
      if (doubt !== null) this.#skip(message.bridge, message.seq - message.part, message.part, message.parts);
      else
        this.#continueBatch(
          actions,
          message.bridge,
          message.seq,
          message.part,
          message.parts,
          message.events,
        );
      return actions;
    }
    if (this.#partial !== null)
      this.#doubt(actions, 'warn', `bridge ${shown(message.bridge)}: a split batch stopped short`);
    this.#skipping = null;
    if (message.kind === 'resync') actions.push(RESYNC);
    else if (message.kind === 'batch') {
      if (message.events.length > this.#maxEvents) {
        this.#giveUp(actions, message.bridge, message.seq, message.parts);
      } else if (message.parts === 1) {
        actions.push({ type: 'events', events: message.events });
      } else {
        this.#partial = {
          bridge: message.bridge,
          base: message.seq,
          parts: message.parts,
          next: 1,
          events: message.events,
        };
      }
    }
    return actions;
  }

  /**
   * Called periodically (at least every few seconds): logs an error, once, when no message was believed
   * for the heartbeat timeout, and reports drops not yet reported once the report interval has passed.
   */
  tick(nowMs: number): TrackerAction[] {
    const actions = this.#checkSilence(nowMs);
    if (this.#unreportedCount > 0 && this.#reportDue(nowMs)) actions.push(this.#report(nowMs));
    return actions;
  }

  #continueBatch(
    actions: TrackerAction[],
    bridge: string,
    seq: number,
    part: number,
    parts: number,
    events: readonly WireEvent[],
  ): void {
    const skipping = this.#skipping;
    if (
      skipping !== null &&
      skipping.bridge === bridge &&
      skipping.base === seq - part &&
      skipping.parts === parts
    ) {
      if (part === parts - 1) this.#skipping = null;
      return;
    }
    const pending = this.#partial;
    if (
      pending === null ||
      pending.bridge !== bridge ||
      pending.parts !== parts ||
      pending.next !== part ||
      pending.base !== seq - part
    ) {
      this.#doubt(
        actions,
        'warn',
        `bridge ${shown(bridge)}: part ${part} of a split batch arrived out of order`,
      );
      this.#skip(bridge, seq - part, part, parts);
      return;
    }
    if (pending.events.length + events.length > this.#maxEvents) {
      this.#giveUp(actions, bridge, pending.base, parts, part);
      return;
    }
    for (const event of events) pending.events.push(event);
    pending.next += 1;
    if (pending.next === pending.parts) {
      this.#partial = null;
      actions.push({ type: 'events', events: pending.events });
    }
  }

  #giveUp(actions: TrackerAction[], bridge: string, base: number, parts: number, part = 0): void {
    this.#doubt(
      actions,
      'warn',
      `bridge ${shown(bridge)}: a batch holds more than maxPending (${this.#maxEvents}) events`,
    );
    this.#skip(bridge, base, part, parts);
  }

  #skip(bridge: string, base: number, part: number, parts: number): void {
    this.#skipping = part === parts - 1 ? null : { bridge, base, parts };
  }

  #doubt(actions: TrackerAction[], level: 'info' | 'warn', why: string): void {
    actions.push({ type: 'log', level, message: why }, RESYNC);
    this.#partial = null;
  }

  /** Remembers `replaced` as replaced (a bounded memory) and `active` as not. */
  #forget(replaced: string, active: string): void {
    this.#replaced = this.#replaced.filter((id) => id !== active && id !== replaced);
    this.#replaced.push(replaced);
    if (this.#replaced.length > REPLACED_MEMORY) this.#replaced.shift();
  }

  #checkSilence(nowMs: number): TrackerAction[] {
    if (this.#silent || nowMs - this.#lastHeardMs <= this.#silenceMs) return [];
    this.#silent = true;
    this.#partial = null;
    this.#skipping = null;
    const who = this.#bridge === null ? 'any bridge' : `bridge ${shown(this.#bridge)}`;
    const what = this.#key === null ? 'no message' : 'no authenticated message';
    const dropped =
      this.#sinceHeard === 0
        ? ''
        : ` (${this.#sinceHeard} message(s) were dropped meanwhile; see the drop report)`;
    return [
      {
        type: 'log',
        level: 'error',
        message:
          `${what} from ${who} for ${nowMs - this.#lastHeardMs} ms${dropped}: wakeups on this channel are not arriving. ` +
          'Is a pgnudge bridge running on it, with the same secret, and are the clocks synchronised?',
      },
    ];
  }

  #drop(actions: TrackerAction[], reason: DropReason, nowMs: number): TrackerAction[] {
    this.#total[reason] += 1;
    this.#unreported[reason] += 1;
    this.#unreportedCount += 1;
    this.#sinceHeard += 1;
    if (this.#reportDue(nowMs)) actions.push(this.#report(nowMs));
    return actions;
  }

  #reportDue(nowMs: number): boolean {
    return this.#reportedMs === null || nowMs - this.#reportedMs >= DROP_REPORT_INTERVAL_MS;
  }

  #report(nowMs: number): TrackerAction {
    const parts = DROP_REASONS.filter((reason) => this.#unreported[reason] > 0).map(
      (reason) => `${this.#unreported[reason]} ${DESCRIBE[reason](this.#windowMs)}`,
    );
    const period =
      this.#reportedMs === null ? '' : ` in the last ${Math.round((nowMs - this.#reportedMs) / 1000)} s`;
    const message =
      `dropped ${this.#unreportedCount} message(s)${period}, without effect: ${parts.join('; ')}. ` +
      'Drops are reported at most once a minute.';
    this.#unreported = zero();
    this.#unreportedCount = 0;
    this.#reportedMs = nowMs;
    return { type: 'log', level: 'warn', message };
  }
}

/** A bridge id in a log line. The parser admits only hex digits; printable() keeps that true of the log. */
function shown(bridge: string): string {
  return printable(bridge);
}

const DESCRIBE: Record<DropReason, (windowMs: number) => string> = {
  mac: () => 'with a wrong MAC (forged, altered, or from a bridge with another secret)',
  unsigned: () => 'unsigned (from a bridge running with insecure: true?)',
  malformed: () => 'malformed (not pgnudge wire format version 2)',
  replayed: () => "replayed (or from a new bridge whose clock is behind its predecessor's)",
  replaced: () => 'from a bridge that was replaced',
  stale: (windowMs) =>
    `more than ${windowMs / 1000} s behind this clock (late, or replayed; are the clocks synchronised?)`,
  future: (windowMs) => `more than ${windowMs / 1000} s ahead of this clock (are the clocks synchronised?)`,
};

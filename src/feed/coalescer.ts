// Coalescing (contract R4, R6, R16): row changes with the same payload become one entry with a count,
// kept in order of first arrival. Memory is one entry per distinct payload, whatever the row count.

import { NudgeEvent } from './items.js';

interface Entry {
  count: number;
  readonly firstSeenMs: number;
}

/** Accumulates one batch's changes. */
export class Coalescer {
  // A Map iterates in insertion order, which is exactly "order of first arrival".
  #entries = new Map<string, Entry>();
  #changes = 0;

  /** Counts `n` changes to `payload`; `nowMs` becomes its firstSeen if the payload is new. */
  add(payload: string, n: number, nowMs: number): void {
    const entry = this.#entries.get(payload);
    if (entry === undefined) this.#entries.set(payload, { count: n, firstSeenMs: nowMs });
    else entry.count += n;
    this.#changes += n;
  }

  /** Whether `payload` already has an entry. */
  has(payload: string): boolean {
    return this.#entries.has(payload);
  }

  /** Distinct payloads held. */
  get size(): number {
    return this.#entries.size;
  }

  /** Changes held, summed over payloads. */
  get changes(): number {
    return this.#changes;
  }

  /** The events in order of first arrival; leaves the coalescer empty. */
  drain(): NudgeEvent[] {
    const events: NudgeEvent[] = [];
    for (const [payload, entry] of this.#entries) {
      events.push(new NudgeEvent(payload, entry.count, new Date(entry.firstSeenMs)));
    }
    this.clear();
    return events;
  }

  /** Forgets everything held. */
  clear(): void {
    this.#entries = new Map();
    this.#changes = 0;
  }
}

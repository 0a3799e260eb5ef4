// What a bridge published, read back from the raw messages a plain subscriber recorded (src/fanout/wire.ts's
// format). A fan-out test compares it with what its consumers yielded: every batch the bridge published
// must arrive whole, in one Batch (a consumer may merge consecutive ones), however many messages it
// took. The bridge's own batching is not the test's to pin: on a loaded machine one transaction's
// changes can reach the bridge across two debounce windows, and that is two batches on both sides.

/** The body of a wire message: the JSON after `v2.<mac>.`. */
export interface WireBody {
  readonly k: string;
  readonly b: string;
  readonly q: number;
  readonly p?: number;
  readonly n?: number;
  readonly e?: readonly unknown[];
}

/** Parses the body of one wire message; throws on anything that is not one. */
export function wireBody(payload: string): WireBody {
  return JSON.parse(payload.slice(payload.indexOf('.', 3) + 1)) as WireBody;
}

/** The batches among recorded messages. */
export interface PublishedBatches {
  /** Batches published: each starts with its part 0. */
  readonly batches: number;
  /** Each batch's events over all its parts, in the order published. */
  readonly sizes: readonly number[];
  /** The most parts one batch went as. */
  readonly mostParts: number;
  /** Events over every part. */
  readonly events: number;
}

/** What the batch messages among `payloads` add up to; other kinds (Resync, heartbeat) are skipped. */
export function publishedBatches(payloads: Iterable<string>): PublishedBatches {
  const sizes: number[] = [];
  let mostParts = 0;
  let events = 0;
  for (const payload of payloads) {
    const body = wireBody(payload);
    if (body.k !== 'batch') continue;
    if (body.p === 0 || sizes.length === 0) sizes.push(0);
    const size = body.e?.length ?? 0;
    sizes[sizes.length - 1]! += size;
    mostParts = Math.max(mostParts, body.n ?? 1);
    events += size;
  }
  return { batches: sizes.length, sizes, mostParts, events };
}

/**
 * Whether batches of `yielded` events each (a consumer's, in order) are the published batches whole: each
 * one run of consecutive published batches, merged, with none split between two. Holds only when no table
 * or row appears in two published batches (the consumer would coalesce them into one event).
 */
export function yieldedWhole(yielded: readonly number[], published: readonly number[]): boolean {
  let next = 0;
  for (const size of yielded) {
    let sum = 0;
    while (sum < size && next < published.length) sum += published[next++]!;
    if (sum !== size) return false;
  }
  return next === published.length;
}

// What a bridge published, read back from the raw messages a plain subscriber recorded (src/fanout/wire.ts's
// format). A fan-out test compares it with what its consumers yielded: every batch the bridge published
// must arrive as exactly one Batch, however many messages it took. The bridge's own batching is not the
// test's to pin: on a loaded machine one transaction's changes can reach the bridge across two debounce
// windows (a catalog lookup between them is enough), and that is two batches on both sides.

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
  /** The most parts one batch went as. */
  readonly mostParts: number;
  /** Events over every part. */
  readonly events: number;
}

/** What the batch messages among `payloads` add up to; other kinds (Resync, heartbeat) are skipped. */
export function publishedBatches(payloads: Iterable<string>): PublishedBatches {
  let batches = 0;
  let mostParts = 0;
  let events = 0;
  for (const payload of payloads) {
    const body = wireBody(payload);
    if (body.k !== 'batch') continue;
    if (body.p === 0) batches += 1;
    mostParts = Math.max(mostParts, body.n ?? 1);
    events += body.e?.length ?? 0;
  }
  return { batches, mostParts, events };
}

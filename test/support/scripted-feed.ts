// A feed driven by the test: items are pushed by hand, and it records how it is pulled and closed. For the
// HTTP layer's unit tests, which need a feed that yields exactly what the test says, when it says.
import type { FeedItem } from '../../src/feed/items.js';
import type { FeedState, FeedStats } from '../../src/feed/stats.js';

/** A FeedStats with every number set, `overrides` replacing what a test is about. */
export function sampleStats(overrides: Partial<FeedStats> = {}): FeedStats {
  return {
    state: 'streaming',
    since: new Date(Date.UTC(2026, 0, 2, 3, 4, 5)),
    reconnects: 2,
    failures: 3,
    lastError: { code: 'PGNUDGE_ERR_CONNECTION', message: 'the server closed the connection' },
    resyncs: { connected: 1, reconnected: 2, overflow: 0, failsafe: 0, bridge: 0 },
    batches: 12,
    changes: 340,
    bytesReceived: 65_536,
    walEnd: '1/2A',
    confirmed: '1/20',
    lagBytes: 10,
    ...overrides,
  };
}

/** An AsyncIterable<FeedItem> with close(), like WalFeed, whose items come from `push()`. */
export class ScriptedFeed implements AsyncIterable<FeedItem> {
  readonly #queue: FeedItem[] = [];
  #waiting: ((result: IteratorResult<FeedItem>) => void) | null = null;
  #failWaiting: ((error: unknown) => void) | null = null;
  #error: unknown = undefined;
  /** next() calls so far. */
  pulls = 0;
  /** close() calls so far. */
  closes = 0;
  /** return() calls on the iterator so far. */
  returns = 0;
  closed = false;

  push(...items: FeedItem[]): void {
    for (const item of items) {
      const waiting = this.#waiting;
      if (waiting) {
        this.#waiting = null;
        this.#failWaiting = null;
        waiting({ done: false, value: item });
      } else this.#queue.push(item);
    }
  }

  /** Ends the iteration with `error` at the next (or the pending) next(). */
  fail(error: unknown): void {
    this.#error = error;
    const fail = this.#failWaiting;
    this.#waiting = null;
    this.#failWaiting = null;
    fail?.(error);
  }

  /** Items pushed and not yet pulled. */
  get queued(): number {
    return this.#queue.length;
  }

  close(): Promise<void> {
    this.closes += 1;
    this.#end();
    return Promise.resolve();
  }

  #end(): void {
    this.closed = true;
    const waiting = this.#waiting;
    this.#waiting = null;
    this.#failWaiting = null;
    waiting?.({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): AsyncIterator<FeedItem> {
    return {
      next: () => {
        this.pulls += 1;
        if (this.#error !== undefined) return Promise.reject(this.#error);
        if (this.closed) return Promise.resolve({ done: true, value: undefined });
        const item = this.#queue.shift();
        if (item !== undefined) return Promise.resolve({ done: false, value: item });
        return new Promise((resolve, reject) => {
          this.#waiting = resolve;
          this.#failWaiting = reject;
        });
      },
      return: () => {
        this.returns += 1;
        this.#end();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }
}

/** Reads a web stream's chunks as text as they come; `text` grows, `done`/`error` say how it ended. */
export class StreamReader {
  readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly chunks: Uint8Array[] = [];
  text = '';
  done = false;
  error: unknown = undefined;
  readonly #decoder = new TextDecoder();

  constructor(stream: ReadableStream<Uint8Array>) {
    this.reader = stream.getReader();
  }

  /** Reads exactly one chunk (waits for it). */
  async readOne(): Promise<string | undefined> {
    try {
      const { done, value } = await this.reader.read();
      if (done) {
        this.done = true;
        return undefined;
      }
      this.chunks.push(value);
      const text = this.#decoder.decode(value, { stream: true });
      this.text += text;
      return text;
    } catch (error) {
      this.error = error;
      throw error;
    }
  }

  /** Reads until the stream ends or errors, in the background. */
  drain(): Promise<void> {
    return (async () => {
      try {
        while ((await this.readOne()) !== undefined) {}
      } catch {
        // Recorded in `error`.
      }
    })();
  }
}

/** A ScriptedFeed with stats(), whose state the test sets, like a pgnudge feed that loses its stream. */
export class StatefulScriptedFeed extends ScriptedFeed {
  state: FeedState = 'connecting';

  stats(): FeedStats {
    return sampleStats({ state: this.state });
  }
}

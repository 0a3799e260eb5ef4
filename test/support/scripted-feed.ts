// A feed driven by the test: items are pushed by hand, and it records how it is pulled and closed. For the
// HTTP layer's unit tests, which need a feed that yields exactly what the test says, when it says.
import type { FeedItem } from '../../src/feed/items.js';

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

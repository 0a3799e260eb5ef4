// A feed that yields what it is handed: lets one consumer of a feed (the demo's terminal) pass every item
// on to an EventHub (the demo's page), so both show the same stream from the same walsender.
import type { FeedItem } from '../feed/items.js';

/**
 * `push()` items in, iterate them out, once. Its reader (an EventHub) pulls as fast as items come, so
 * what waits here is at most what was pushed since its last pull.
 */
export class ItemRelay implements AsyncIterable<FeedItem> {
  readonly #queue: FeedItem[] = [];
  #wake: ((result: IteratorResult<FeedItem>) => void) | null = null;
  #closed = false;

  push(item: FeedItem): void {
    if (this.#closed) return;
    const wake = this.#wake;
    this.#wake = null;
    if (wake) wake({ done: false, value: item });
    else this.#queue.push(item);
  }

  close(): void {
    this.#closed = true;
    this.#queue.length = 0;
    const wake = this.#wake;
    this.#wake = null;
    wake?.({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): AsyncIterator<FeedItem> {
    return {
      next: () => {
        const item = this.#queue.shift();
        if (item !== undefined) return Promise.resolve({ done: false, value: item });
        if (this.#closed) return Promise.resolve({ done: true, value: undefined });
        return new Promise((resolve) => {
          this.#wake = resolve;
        });
      },
      return: () => {
        this.close();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }
}

// The public face shared by WalFeed and NotifyFeed: `for await`, close() and `await using`, handed to
// the feed's FeedCore. Kept apart from FeedCore so the public types reach nothing internal.
import type { FeedItem } from './items.js';

/** What a FeedShell drives: the feed's FeedCore, seen only through these members. */
export interface FeedDriver {
  readonly closed: boolean;
  iterator(): AsyncIterator<FeedItem>;
  close(): Promise<void>;
}

/** A feed as its consumer sees it: iterate it once; ending the iteration ends the feed (contract R10). */
export class FeedShell implements AsyncIterable<FeedItem>, AsyncDisposable {
  readonly #driver: FeedDriver;

  protected constructor(driver: FeedDriver) {
    this.#driver = driver;
  }

  /** Whether the feed has ended. */
  get closed(): boolean {
    return this.#driver.closed;
  }

  /** The feed's one iterator: a second `for await` over the same feed throws FeedClosedError. */
  [Symbol.asyncIterator](): AsyncIterator<FeedItem> {
    return this.#driver.iterator();
  }

  /** Ends the feed: destroys the socket and every timer. Idempotent; pending `next()` calls end. */
  close(): Promise<void> {
    return this.#driver.close();
  }

  /** The same as `close()`, for `await using`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#driver.close();
  }
}

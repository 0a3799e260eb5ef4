// A connection for lifecycle unit tests (supervisor, link, feed base): it receives what the test says,
// answers queries when the test says, and records how it ended. No socket: the session lifecycle is
// driven by hand with a ManualClock, so what it does with a silent or stalled link is deterministic.
import { ConnectionError, type PgnudgeError } from '../../src/errors.js';
import type { LinkEnd } from '../../src/feed/link.js';

/** A LinkEnd whose inbound bytes, queries and end are in the test's hands. */
export class FakeLink implements LinkEnd {
  readonly target = 'fake@link:5432/db';
  bytesReceived = 0;
  /** Queries asked and not yet answered, oldest first. */
  readonly pending: { sql: string; answer(): void }[] = [];
  /** Every query asked, in order. */
  readonly asked: string[] = [];
  /** The error the link ended with, once it ended. */
  endedWith: PgnudgeError | null = null;
  #listeners: ((error: PgnudgeError) => void)[] = [];

  /** A query that settles when the test calls `answer()` (resolves) or the link ends (rejects). */
  query(sql: string): Promise<void> {
    this.asked.push(sql);
    if (this.endedWith !== null) return Promise.reject(this.endedWith);
    return new Promise((resolve, reject) => {
      const entry = {
        sql,
        answer: () => {
          this.pending.splice(this.pending.indexOf(entry), 1);
          this.bytesReceived += 1;
          resolve();
        },
      };
      this.pending.push(entry);
      this.onClose(reject);
    });
  }

  fail(error: PgnudgeError): void {
    if (this.endedWith !== null) return;
    this.endedWith = error;
    const listeners = this.#listeners;
    this.#listeners = [];
    for (const listener of listeners) listener(error);
  }

  abort(): void {
    this.fail(new ConnectionError('PGNUDGE_ERR_CONNECTION', 'closed by the client'));
  }

  onClose(listener: (error: PgnudgeError) => void): void {
    if (this.endedWith !== null) listener(this.endedWith);
    else this.#listeners.push(listener);
  }
}

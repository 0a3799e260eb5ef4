// What a session body works with. supervisor.ts makes one Session per connection; a body (WalFeed's,
// NotifyFeed's, the bridge's, the next feed kind's) reaches the connection, the link's timers and the
// lifecycle only through it.
import type { PgnudgeError } from '../errors.js';
import type { Link, LinkEnd } from './link.js';
import type { StreamPositions } from './stats.js';

/** The supervisor, as its sessions see it. */
export interface SessionHost {
  readonly closed: boolean;
  live(): void;
  sleep(ms: number): Promise<void>;
  fail(error: PgnudgeError): void;
  positions(read: () => StreamPositions): void;
}

/** One connection's life as its body sees it. Every timer started through it stops when it ends. */
export class Session<C extends LinkEnd> {
  /** The open connection. */
  readonly connection: C;
  /** Rejects with the connection's error when it ends, for any reason. */
  readonly ended: Promise<never>;
  readonly #host: SessionHost;
  readonly #link: Link;

  constructor(host: SessionHost, connection: C, link: Link) {
    this.#host = host;
    this.#link = link;
    this.connection = connection;
    this.ended = new Promise<never>((_, reject) => connection.onClose(reject));
    // Without a reader the rejection would be unhandled when the body fails first.
    this.ended.catch(() => {});
  }

  /** Whether the supervisor was closed: the body should stop what it starts. */
  get closed(): boolean {
    return this.#host.closed;
  }

  /**
   * The stream is live: the backoff starts over, and a feed queues its connect Resync (contract R1). Call it once
   * the server confirmed that nothing committed from now on can be missed.
   */
  live(): void {
    this.#host.live();
  }

  /** `pending`, unless the connection ends first (then its error). */
  until<T>(pending: Promise<T>): Promise<T> {
    return Promise.race([pending, this.ended]);
  }

  /**
   * Waits for `answer`, the server's answer to `command`, bounded by the link's watchdog (contract R8): a dead link
   * fails with "no answer to `command`". With `onOverdue`, for a command the server may legitimately
   * answer late, silence past livenessTimeout is reported once through it instead.
   */
  async wait<T>(command: string, answer: Promise<T>, onOverdue?: (waitedMs: number) => void): Promise<T> {
    const done = this.#link.expect(command, onOverdue);
    try {
      return await this.until(answer);
    } finally {
      done();
    }
  }

  /** Runs `task` every `intervalMs` while the session lasts; see {@link Link.every}. */
  every(intervalMs: number, task: () => unknown): void {
    this.#link.every(intervalMs, task);
  }

  /** Waits `ms`, or less when the supervisor closes; rejects when the connection ends first. */
  sleep(ms: number): Promise<void> {
    return this.until(this.#host.sleep(ms));
  }

  /**
   * Makes the stream's WAL positions part of the feed's stats: `read` is called when stats are taken,
   * so reporting costs the stream nothing per message. The last stream to report is the one read.
   */
  reportPositions(read: () => StreamPositions): void {
    this.#host.positions(read);
  }

  /** Ends the supervisor for good with `error`: retrying cannot heal it (contract R11). */
  fail(error: PgnudgeError): void {
    this.#host.fail(error);
  }
}

// The shell of paced reading for one connection's replication stream: it times the wake-ups (the reads
// one turn of the event loop delivers), asks the ReadPacer when to pause, and stops and restarts the
// socket's reads (read-pause.ts). It also bounds each wake-up at WAKE_BUDGET_BYTES, paced or not.
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { type BusyRule, ReadPacer, WAKE_BUDGET_BYTES } from './read-pacer.js';
import { stopReading } from './read-pause.js';

/** Paced reads of one socket; `close()` ends a pause and its timer with the connection. */
export class PacedReads {
  readonly #socket: Socket;
  readonly #pacer: ReadPacer;
  #wakeBytes = 0;
  #wakeStart = 0;
  #wakeOpen = false;
  /** Set while reads are stopped: restarts them. */
  #resume: (() => void) | null = null;
  #pauseTimer: NodeJS.Timeout | null = null;
  #pauses = 0;
  #closed = false;

  /** Paces `socket`'s reads with pauses of `pauseMs` (0: never paused, only bounded per wake-up). */
  constructor(socket: Socket, pauseMs: number, busy: BusyRule = {}) {
    this.#socket = socket;
    this.#pacer = new ReadPacer({ ...busy, pauseMs });
  }

  /** How often reading has paused so far. */
  get pauses(): number {
    return this.#pauses;
  }

  /** Whether reads are stopped now (a pause, or a wake-up that used its byte budget). */
  get paused(): boolean {
    return this.#resume !== null;
  }

  /**
   * Counts a read of `bytes` into the current wake-up (a TLS socket gives a chunk per record). Past
   * WAKE_BUDGET_BYTES reading stops until the next turn, so that a backlog never holds the
   * application's timers and I/O for long. The wake-up is judged once its reads all ran, in the check
   * phase, so a pause never leaves bytes already read waiting.
   */
  read(bytes: number): void {
    this.#wakeBytes += bytes;
    if (!this.#wakeOpen) {
      this.#wakeOpen = true;
      this.#wakeStart = performance.now();
      setImmediate(this.#endWake);
    } else if (this.#wakeBytes >= WAKE_BUDGET_BYTES && this.#resume === null) {
      this.#resume = stopReading(this.#socket);
    }
  }

  /** Ends a pause with the connection: no timer outlives it, and reading is never restarted. */
  close(): void {
    this.#closed = true;
    if (this.#pauseTimer !== null) clearTimeout(this.#pauseTimer);
    this.#pauseTimer = null;
    this.#resume = null;
  }

  /**
   * Ends pacing for a connection that reads on until the server closes (a clean close, contract R10):
   * like close(), and stopped reads start again, so that the server's last bytes and its close are
   * read rather than left unread, which would make the close a reset.
   */
  drain(): void {
    const resume = this.#resume;
    this.close();
    resume?.();
  }

  readonly #endWake = (): void => {
    this.#wakeOpen = false;
    const bytes = this.#wakeBytes;
    this.#wakeBytes = 0;
    if (this.#closed || this.#pauseTimer !== null) return;
    const pauseMs = this.#pacer.wake(this.#wakeStart, performance.now(), bytes);
    if (pauseMs > 0) {
      // Status updates go out on their own timer meanwhile; a keepalive is answered when the pause ends.
      this.#resume ??= stopReading(this.#socket);
      this.#pauses += 1;
      this.#pauseTimer = setTimeout(this.#endPause, pauseMs);
    } else if (this.#resume !== null) {
      // The budget stopped reading: the event loop had its turn, so read on.
      const resume = this.#resume;
      this.#resume = null;
      resume();
    }
  };

  readonly #endPause = (): void => {
    this.#pauseTimer = null;
    const resume = this.#resume;
    this.#resume = null;
    this.#pacer.resumed(performance.now());
    resume?.();
  };
}

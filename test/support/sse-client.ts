// A Server-Sent Events client over node:http for live tests and benches: what a browser's EventSource
// receives, with waits that have deadlines, and a way to stop reading (a stalled browser).
import { type ClientRequest, get, type IncomingMessage } from 'node:http';
import { type SseMessage, SseParser } from './sse-parser.js';
import { waitFor } from './wait.js';

/** One open GET /events (or any URL), parsed as it arrives. */
export class SseClient {
  readonly request: ClientRequest;
  readonly events: (SseMessage & { at: number })[] = [];
  readonly opened: Promise<IncomingMessage>;
  status = 0;
  ended = false;
  error: Error | undefined;
  readonly #parser = new SseParser();

  constructor(url: string, headers: Record<string, string> = {}) {
    this.request = get(url, { headers: { accept: 'text/event-stream', ...headers } });
    this.opened = new Promise((resolve, reject) => {
      this.request.once('response', (response) => {
        this.status = response.statusCode ?? 0;
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          const at = performance.timeOrigin + performance.now();
          for (const event of this.#parser.push(chunk)) this.events.push({ ...event, at });
        });
        response.once('end', () => {
          this.ended = true;
        });
        response.once('error', (error) => {
          this.error = error;
        });
        resolve(response);
      });
      this.request.once('error', (error) => {
        this.error = error;
        this.ended = true;
        reject(error);
      });
    });
    // Awaited by whoever needs it; a refused connection is recorded in `error` either way.
    this.opened.catch(() => {});
  }

  /** Items parsed from `data:`. */
  items(): { type: string; reason?: string; events?: { payload: string; count: number }[] }[] {
    return this.events.map((event) => JSON.parse(event.data));
  }

  /** Waits for an event at or after index `from` that matches; returns its index. */
  async next(
    predicate: (item: ReturnType<SseClient['items']>[number]) => boolean,
    what: string,
    from = 0,
    timeoutMs = 20_000,
  ): Promise<number> {
    return waitFor(
      () => {
        if (this.error) throw this.error;
        const index = this.items().findIndex((item, i) => i >= from && predicate(item));
        return index === -1 ? undefined : index;
      },
      {
        timeoutMs,
        what: `${what} (got ${JSON.stringify(this.events.slice(from).map((e) => e.data)).slice(0, 400)})`,
      },
    );
  }

  /** Row changes of `payload` in the batches at or after `from`. */
  counted(payload: string, from = 0): number {
    let total = 0;
    for (const item of this.items().slice(from)) {
      for (const event of item.events ?? []) if (event.payload === payload) total += event.count;
    }
    return total;
  }

  close(): void {
    this.request.destroy();
  }
}

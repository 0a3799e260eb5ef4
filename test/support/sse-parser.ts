// An event-stream parser written from the HTML standard's "Interpreting an event stream" (§9.2.6), for
// tests and benches: it checks our framing against what a browser's EventSource will make of it.

/** One dispatched event. */
export interface SseMessage {
  event: string;
  data: string;
}

/** Feed it decoded text in any split; it returns the events each chunk completes. */
export class SseParser {
  #buffer = '';
  #data = '';
  #hasData = false;
  #event = '';
  /** The last `retry:` value, if any. */
  retry: number | null = null;
  /** Comment lines seen (without the colon). */
  readonly comments: string[] = [];

  push(text: string): SseMessage[] {
    this.#buffer += text;
    const out: SseMessage[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.#buffer);
      if (match === null) break;
      // A CR at the very end may be the first half of a CRLF that the next chunk completes.
      if (match[0] === '\r' && match.index === this.#buffer.length - 1) break;
      const line = this.#buffer.slice(0, match.index);
      this.#buffer = this.#buffer.slice(match.index + match[0].length);
      this.#line(line, out);
    }
    return out;
  }

  #line(line: string, out: SseMessage[]): void {
    if (line === '') {
      if (this.#hasData) out.push({ event: this.#event || 'message', data: this.#data.slice(0, -1) });
      this.#data = '';
      this.#hasData = false;
      this.#event = '';
      return;
    }
    if (line.startsWith(':')) {
      this.comments.push(line.slice(1));
      return;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      this.#data += `${value}\n`;
      this.#hasData = true;
    } else if (field === 'event') this.#event = value;
    else if (field === 'retry' && /^\d+$/.test(value)) this.retry = Number(value);
  }
}

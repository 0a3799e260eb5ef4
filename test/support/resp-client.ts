// A minimal Redis client over node:net/node:tls speaking RESP2, so that tests can drive a real
// redis-server without a client library: commands out as arrays of bulk strings, every reply or pushed
// message (pub/sub) read in arrival order from one queue.
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { withDeadline } from './wait.js';

/** An error reply (`-ERR ...`, `-NOAUTH ...`): a value, so tests can assert on it. */
export class RespError {
  constructor(readonly message: string) {}
}

export type RespValue = string | number | null | RespError | RespValue[];

/**
 * Parses one RESP2 value starting at `offset`; undefined when `buffer` does not hold all of it yet.
 * Bulk strings are decoded as UTF-8 (test payloads are text).
 */
export function parseResp(buffer: Buffer, offset = 0): { value: RespValue; end: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd < 0) return undefined;
  const kind = String.fromCharCode(buffer[offset] ?? 0);
  const line = buffer.toString('utf8', offset + 1, lineEnd);
  const next = lineEnd + 2;
  switch (kind) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new RespError(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, end: next };
      if (buffer.length < next + length + 2) return undefined;
      return { value: buffer.toString('utf8', next, next + length), end: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, end: next };
      const items: RespValue[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parseResp(buffer, at);
        if (item === undefined) return undefined;
        items.push(item.value);
        at = item.end;
      }
      return { value: items, end: at };
    }
    default:
      throw new Error(`not a RESP2 value: type byte ${JSON.stringify(kind)}`);
  }
}

/** A command as RESP2 sends it: an array of bulk strings. */
export function encodeCommand(args: readonly string[]): Buffer {
  const parts = [`*${args.length}\r\n`];
  for (const arg of args) parts.push(`$${Buffer.byteLength(arg)}\r\n${arg}\r\n`);
  return Buffer.from(parts.join(''));
}

export interface RespConnectOptions {
  host: string;
  port: number;
  /** Verify the server against this CA (PEM text) for `localhost`: a `rediss://` connection. */
  tls?: { ca: string };
  /** Sent as `AUTH` right after connecting; an error reply rejects the connect. */
  password?: string;
  timeoutMs?: number;
}

export class RespClient {
  readonly #socket: Socket;
  #pending: Buffer = Buffer.alloc(0);
  readonly #values: RespValue[] = [];
  readonly #waiters: { resolve: (value: RespValue) => void; reject: (error: Error) => void }[] = [];
  #closed: Error | null = null;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', (error) => this.#close(error));
    socket.on('close', () => this.#close(new Error('the Redis connection closed')));
  }

  static async connect(options: RespConnectOptions): Promise<RespClient> {
    const timeoutMs = options.timeoutMs ?? 5000;
    const socket = options.tls
      ? connectTls({ host: options.host, port: options.port, ca: options.tls.ca, servername: 'localhost' })
      : connectTcp({ host: options.host, port: options.port });
    const opened = new Promise<void>((resolveOpen, reject) => {
      socket.once(options.tls ? 'secureConnect' : 'connect', () => resolveOpen());
      socket.once('error', reject);
    });
    try {
      await withDeadline(opened, timeoutMs, `connecting to Redis at ${options.host}:${options.port}`);
    } catch (error) {
      socket.destroy();
      throw error;
    }
    const client = new RespClient(socket);
    if (options.password !== undefined) {
      const reply = await client.command('AUTH', options.password);
      if (reply instanceof RespError) {
        client.close();
        throw new Error(`Redis refused AUTH: ${reply.message}`);
      }
    }
    return client;
  }

  /** Sends a command and returns the next value to arrive (its reply, when nothing is pushed before it). */
  command(...args: string[]): Promise<RespValue> {
    this.#socket.write(encodeCommand(args));
    return this.next();
  }

  /** The next reply or pushed message, in arrival order; rejects on close or after `timeoutMs`. */
  next(timeoutMs = 5000): Promise<RespValue> {
    const queued = this.#values.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.#closed) return Promise.reject(this.#closed);
    return new Promise<RespValue>((resolve, reject) => {
      // A waiter that timed out leaves the queue, so the value it missed goes to the next caller.
      const waiter = {
        resolve: (value: RespValue) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error: Error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for a reply from Redis`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Resolves once the server has closed the connection (after a kill), or rejects after `timeoutMs`. */
  closed(timeoutMs = 5000): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return withDeadline(
      new Promise<void>((resolve) => this.#socket.once('close', () => resolve())),
      timeoutMs,
      'the Redis connection to close',
    );
  }

  close(): void {
    this.#socket.destroy();
  }

  #receive(chunk: Buffer): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    let offset = 0;
    for (;;) {
      const parsed = parseResp(this.#pending, offset);
      if (parsed === undefined) break;
      offset = parsed.end;
      const waiter = this.#waiters.shift();
      if (waiter) waiter.resolve(parsed.value);
      else this.#values.push(parsed.value);
    }
    this.#pending = this.#pending.subarray(offset);
  }

  #close(error: Error): void {
    if (this.#closed) return;
    this.#closed = error;
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
  }
}

// A minimal NATS core client over node:net speaking the text protocol (INFO, CONNECT, PING/PONG, SUB, PUB,
// MSG, -ERR), so that tests can drive a real nats-server without a client library.
import { connect as connectTcp, type Socket } from 'node:net';
import { withDeadline } from './wait.js';

/** One operation the server sends. */
export type NatsServerOp =
  | { op: 'INFO'; info: Record<string, unknown> }
  | { op: 'MSG'; subject: string; sid: string; replyTo: string | null; payload: Buffer }
  | { op: 'PING' }
  | { op: 'PONG' }
  | { op: 'OK' }
  | { op: 'ERR'; message: string };

/** Parses one server operation at `offset`; undefined when `buffer` does not hold all of it yet. */
export function parseNatsOp(buffer: Buffer, offset = 0): { op: NatsServerOp; end: number } | undefined {
  const lineEnd = buffer.indexOf('\r\n', offset);
  if (lineEnd < 0) return undefined;
  const line = buffer.toString('utf8', offset, lineEnd);
  const next = lineEnd + 2;
  const space = line.indexOf(' ');
  const verb = (space < 0 ? line : line.slice(0, space)).toUpperCase();
  const rest = space < 0 ? '' : line.slice(space + 1).trim();
  switch (verb) {
    case 'INFO':
      return { op: { op: 'INFO', info: JSON.parse(rest) as Record<string, unknown> }, end: next };
    case 'PING':
      return { op: { op: 'PING' }, end: next };
    case 'PONG':
      return { op: { op: 'PONG' }, end: next };
    case '+OK':
      return { op: { op: 'OK' }, end: next };
    case '-ERR':
      return { op: { op: 'ERR', message: rest.replace(/^'(.*)'$/, '$1') }, end: next };
    case 'MSG': {
      const fields = rest.split(/\s+/);
      if (fields.length !== 3 && fields.length !== 4) throw new Error(`malformed NATS MSG line: ${line}`);
      const size = Number(fields[fields.length - 1]);
      if (buffer.length < next + size + 2) return undefined;
      return {
        op: {
          op: 'MSG',
          subject: fields[0] ?? '',
          sid: fields[1] ?? '',
          replyTo: fields.length === 4 ? (fields[2] ?? null) : null,
          payload: Buffer.from(buffer.subarray(next, next + size)),
        },
        end: next + size + 2,
      };
    }
    default:
      throw new Error(`unknown NATS operation: ${line}`);
  }
}

export interface NatsConnectOptions {
  host: string;
  port: number;
  user?: string;
  pass?: string;
  timeoutMs?: number;
}

type Waiter<T> = { resolve: (value: T) => void; reject: (error: Error) => void };

export class NatsClient {
  /** The server's INFO (server_id, version, max_payload, auth_required, ...). */
  readonly info: Record<string, unknown>;
  readonly #socket: Socket;
  #pending: Buffer = Buffer.alloc(0);
  readonly #messages: Extract<NatsServerOp, { op: 'MSG' }>[] = [];
  readonly #messageWaiters: Waiter<Extract<NatsServerOp, { op: 'MSG' }>>[] = [];
  readonly #pongWaiters: Waiter<void>[] = [];
  #closed: Error | null = null;
  #lastError: string | null = null;

  private constructor(socket: Socket, info: Record<string, unknown>, rest: Buffer) {
    this.#socket = socket;
    this.info = info;
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', (error) => this.#close(error));
    socket.on('close', () =>
      this.#close(new Error(`the NATS connection closed${this.#lastError ? `: ${this.#lastError}` : ''}`)),
    );
    if (rest.length > 0) this.#receive(rest);
  }

  /** Connects, reads INFO, sends CONNECT and waits for the PONG that proves the server accepted it. */
  static async connect(options: NatsConnectOptions): Promise<NatsClient> {
    const timeoutMs = options.timeoutMs ?? 5000;
    const socket = connectTcp({ host: options.host, port: options.port });
    const greeted = new Promise<{ info: Record<string, unknown>; rest: Buffer }>((resolve, reject) => {
      let buffer = Buffer.alloc(0);
      const onData = (chunk: Buffer) => {
        buffer = Buffer.concat([buffer, chunk]);
        try {
          const parsed = parseNatsOp(buffer);
          if (parsed === undefined) return;
          socket.off('data', onData);
          if (parsed.op.op !== 'INFO') reject(new Error(`NATS greeted with ${parsed.op.op}, not INFO`));
          else resolve({ info: parsed.op.info, rest: buffer.subarray(parsed.end) });
        } catch (error) {
          reject(error);
        }
      };
      socket.on('data', onData);
      socket.once('error', reject);
      socket.once('close', () => reject(new Error('the NATS server closed before INFO')));
    });
    let client: NatsClient;
    try {
      const { info, rest } = await withDeadline(greeted, timeoutMs, `INFO from NATS at ${options.port}`);
      socket.removeAllListeners();
      client = new NatsClient(socket, info, rest);
    } catch (error) {
      socket.destroy();
      throw error;
    }
    const connect = {
      verbose: false,
      pedantic: false,
      lang: 'pgnudge-test',
      version: '0',
      protocol: 1,
      ...(options.user !== undefined ? { user: options.user, pass: options.pass ?? '' } : {}),
    };
    client.#socket.write(`CONNECT ${JSON.stringify(connect)}\r\n`);
    try {
      await client.ping(timeoutMs);
    } catch (error) {
      client.close();
      throw error;
    }
    return client;
  }

  /** Sends PING and resolves on PONG: everything sent before it has been processed by the server. */
  ping(timeoutMs = 5000): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closed);
    this.#socket.write('PING\r\n');
    return this.#wait(this.#pongWaiters, timeoutMs, 'PONG from NATS');
  }

  subscribe(subject: string, sid: string): void {
    this.#socket.write(`SUB ${subject} ${sid}\r\n`);
  }

  publish(subject: string, payload: string | Buffer): void {
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
    this.#socket.write(Buffer.concat([Buffer.from(`PUB ${subject} ${bytes.length}\r\n`), bytes, CRLF]));
  }

  /** The next delivered message, in arrival order; rejects on close or after `timeoutMs`. */
  nextMessage(timeoutMs = 5000): Promise<Extract<NatsServerOp, { op: 'MSG' }>> {
    const queued = this.#messages.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#closed) return Promise.reject(this.#closed);
    return this.#wait(this.#messageWaiters, timeoutMs, 'a NATS message');
  }

  /** Resolves once the server has closed the connection (after a kill), or rejects after `timeoutMs`. */
  closed(timeoutMs = 5000): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return withDeadline(
      new Promise<void>((resolve) => this.#socket.once('close', () => resolve())),
      timeoutMs,
      'the NATS connection to close',
    );
  }

  close(): void {
    this.#socket.destroy();
  }

  #wait<T>(waiters: Waiter<T>[], timeoutMs: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      // A waiter that timed out leaves its queue, so what it missed goes to the next caller.
      const waiter: Waiter<T> = {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      const timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(waiter), 1);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      waiters.push(waiter);
    });
  }

  #receive(chunk: Buffer): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    let offset = 0;
    for (;;) {
      const parsed = parseNatsOp(this.#pending, offset);
      if (parsed === undefined) break;
      offset = parsed.end;
      const op = parsed.op;
      if (op.op === 'PING') this.#socket.write('PONG\r\n');
      else if (op.op === 'PONG') this.#pongWaiters.shift()?.resolve();
      else if (op.op === 'ERR') {
        // The server sends -ERR before it closes (e.g. 'Authorization Violation'): fail what waits.
        this.#lastError = op.message;
        for (const waiter of this.#pongWaiters.splice(0)) waiter.reject(new Error(`NATS: ${op.message}`));
      } else if (op.op === 'MSG') {
        const waiter = this.#messageWaiters.shift();
        if (waiter) waiter.resolve(op);
        else this.#messages.push(op);
      }
    }
    this.#pending = this.#pending.subarray(offset);
  }

  #close(error: Error): void {
    if (this.#closed) return;
    this.#closed = error;
    for (const waiter of this.#pongWaiters.splice(0)) waiter.reject(error);
    for (const waiter of this.#messageWaiters.splice(0)) waiter.reject(error);
  }
}

const CRLF = Buffer.from('\r\n');

// A scripted fake PostgreSQL server for hostile-input tests (contract R17, R19): a real server cannot be
// told to send a wrong SCRAM signature or a 2 GiB length, so this one answers each client message with
// whatever its script says. Unscripted stages behave like a trusting walsender, so every case is one
// hostile stage away from a session that works (the positive controls prove the client accepts it).
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { createSecureContext, type SecureContext, TLSSocket } from 'node:tls';
import { cstr, errorFieldsBody, frame, i16, i32 } from './bytes.js';

/**
 * What the fake does in answer to one client message: send bytes, or one of the actions
 * `'close'` (FIN), `'reset'` (RST), `'silence'` (keep the socket open and never answer again) or
 * `'tls'` (answer an SSLRequest with `S` and run a real TLS handshake). Arrays run in order.
 */
export type Reply = Uint8Array | 'close' | 'reset' | 'silence' | 'tls' | readonly Reply[];

/** The stages a script can take over; each gets the session and what the client sent. */
export interface HostileScript {
  /** Answer to SSLRequest. Default `N`. */
  sslRequest?(session: HostileSession): Reply;
  /** Answer to the StartupMessage. Default: AuthenticationOk, then {@link afterAuth}. */
  startup?(session: HostileSession, params: ReadonlyMap<string, string>): Reply;
  /** Answer to the n-th (from 0) PasswordMessage / SASLInitialResponse / SASLResponse. Default: close. */
  password?(session: HostileSession, body: Buffer, index: number): Reply;
  /** Answer to a simple Query. Default: {@link walsenderAnswer}. */
  query?(session: HostileSession, sql: string): Reply;
  /** Answer to a CopyData from the client (status updates). Default: nothing. */
  copyData?(session: HostileSession, body: Buffer): Reply;
}

/** One accepted connection: what it received, and a way to push bytes outside the request/answer flow. */
export class HostileSession {
  /** Every byte the client sent, after TLS decryption, in order. */
  readonly received: Buffer[] = [];
  /** Client messages by type letter (`startup` and `ssl` for the untyped first ones), in order. */
  readonly messages: { type: string; body: Buffer }[] = [];
  /** Scratch space for scripts (SCRAM state, counters). */
  readonly state: Record<string, unknown> = {};
  /**
   * When set, takes every later chunk raw instead of the message parser: how a script answers the
   * bytes of a TLS ClientHello after sending a plain `S` (a server that says yes but cannot speak TLS).
   */
  intercept: ((chunk: Buffer) => Reply) | undefined;
  #socket: Socket;
  #pending = Buffer.alloc(0);
  #started = false;
  #silent = false;
  #closed = false;
  readonly #script: HostileScript;
  readonly #secureContext: SecureContext | undefined;

  constructor(socket: Socket, script: HostileScript, secureContext: SecureContext | undefined) {
    this.#socket = socket;
    this.#script = script;
    this.#secureContext = secureContext;
    this.#listen(socket);
  }

  /** Whether the socket has closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether the link was upgraded to TLS. */
  get tls(): boolean {
    return this.#socket instanceof TLSSocket;
  }

  /** Every byte received, as one buffer. */
  bytes(): Buffer {
    return Buffer.concat(this.received);
  }

  /** Sends `reply` now (for streams pushed after CopyBothResponse). */
  send(reply: Reply): void {
    if (this.#closed || this.#silent) return;
    if (reply instanceof Uint8Array) {
      this.#socket.write(reply);
    } else if (reply === 'close') {
      this.#socket.end();
    } else if (reply === 'reset') {
      this.#socket.resetAndDestroy();
    } else if (reply === 'silence') {
      this.#silent = true;
    } else if (reply === 'tls') {
      this.#upgrade();
    } else {
      for (const part of reply as readonly Reply[]) this.send(part);
    }
  }

  /** Destroys the socket (test cleanup). */
  destroy(): void {
    this.#socket.destroy();
  }

  #listen(socket: Socket): void {
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#closed = true;
    });
  }

  #upgrade(): void {
    if (this.#secureContext === undefined) throw new Error('this HostileServer was started without TLS');
    const raw = this.#socket;
    raw.removeAllListeners('data');
    raw.write('S');
    const secure = new TLSSocket(raw, { isServer: true, secureContext: this.#secureContext });
    this.#socket = secure;
    this.#listen(secure);
  }

  #receive(chunk: Buffer): void {
    this.received.push(chunk);
    if (this.intercept !== undefined) {
      this.send(this.intercept(chunk));
      return;
    }
    this.#pending = Buffer.concat([this.#pending, chunk]);
    for (;;) {
      if (this.#silent || this.#closed) return;
      if (!this.#started) {
        if (this.#pending.length < 8) return;
        const length = this.#pending.readInt32BE(0);
        if (this.#pending.length < length) return;
        const code = this.#pending.readInt32BE(4);
        const body = this.#pending.subarray(8, length);
        this.#pending = this.#pending.subarray(length);
        if (code === 80877103) {
          this.messages.push({ type: 'ssl', body });
          this.send(this.#script.sslRequest?.(this) ?? Buffer.from('N'));
        } else {
          this.#started = true;
          this.messages.push({ type: 'startup', body });
          this.send(this.#answerStartup(body));
        }
        continue;
      }
      if (this.#pending.length < 5) return;
      const length = this.#pending.readInt32BE(1);
      if (this.#pending.length < 1 + length) return;
      const type = String.fromCharCode(this.#pending[0]!);
      const body = this.#pending.subarray(5, 1 + length);
      this.#pending = this.#pending.subarray(1 + length);
      this.messages.push({ type, body });
      this.send(this.#answer(type, body));
    }
  }

  #answerStartup(body: Buffer): Reply {
    const params = new Map<string, string>();
    const parts = body.toString('utf8').split('\0');
    for (let i = 0; i + 1 < parts.length && parts[i] !== ''; i += 2) params.set(parts[i]!, parts[i + 1]!);
    return this.#script.startup?.(this, params) ?? [authOk(), afterAuth()];
  }

  #answer(type: string, body: Buffer): Reply {
    switch (type) {
      case 'p': {
        const index = this.messages.filter((m) => m.type === 'p').length - 1;
        return this.#script.password?.(this, body, index) ?? 'close';
      }
      case 'Q': {
        const sql = body.subarray(0, body.indexOf(0)).toString('utf8');
        return this.#script.query?.(this, sql) ?? walsenderAnswer(sql);
      }
      case 'd':
        return this.#script.copyData?.(this, body) ?? [];
      case 'X':
        return 'close';
      default:
        return [];
    }
  }
}

/** Listens on 127.0.0.1 on a free port and runs `script` for every connection. */
export class HostileServer {
  readonly #server: Server;
  /** Every connection accepted so far, in order. */
  readonly sessions: HostileSession[] = [];

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Starts a fake; with `tls`, a script may answer an SSLRequest with `'tls'`. */
  static async start(script: HostileScript, tls?: { cert: Buffer; key: Buffer }): Promise<HostileServer> {
    const server = createServer();
    const fake = new HostileServer(server);
    const context = tls === undefined ? undefined : createSecureContext({ cert: tls.cert, key: tls.key });
    server.on('connection', (socket) => fake.sessions.push(new HostileSession(socket, script, context)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get host(): string {
    return '127.0.0.1';
  }

  get port(): number {
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('the fake is not listening');
    return address.port;
  }

  /** Connections still open. */
  get open(): number {
    return this.sessions.filter((session) => !session.closed).length;
  }

  /** Every byte any client sent, decrypted. */
  received(): Buffer {
    return Buffer.concat(this.sessions.map((session) => session.bytes()));
  }

  /** Closes every connection and stops listening. */
  async close(): Promise<void> {
    for (const session of this.sessions) session.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

// Backend message builders, named as in the PG docs (§55.7).

export function auth(code: number, ...rest: Uint8Array[]): Buffer {
  return frame('R', i32(code), ...rest);
}

export function authOk(): Buffer {
  return auth(0);
}

/** AuthenticationSASL listing `mechanisms` (with the terminating empty name). */
export function authSasl(...mechanisms: string[]): Buffer {
  return auth(10, ...mechanisms.map(cstr), Buffer.of(0));
}

export function saslContinue(text: string | Uint8Array): Buffer {
  return auth(11, typeof text === 'string' ? Buffer.from(text) : text);
}

export function saslFinal(text: string | Uint8Array): Buffer {
  return auth(12, typeof text === 'string' ? Buffer.from(text) : text);
}

export function parameterStatus(name: string, value: string): Buffer {
  return frame('S', cstr(name), cstr(value));
}

export function backendKeyData(processId: number, secret: number): Buffer {
  return frame('K', i32(processId), i32(secret));
}

export function readyForQuery(status = 'I'): Buffer {
  return frame('Z', Buffer.from(status));
}

/** What a server sends between AuthenticationOk and the first ReadyForQuery. */
export function afterAuth(): Buffer[] {
  return [parameterStatus('server_version', '17.0'), backendKeyData(4242, 7), readyForQuery()];
}

export function rowDescription(...names: string[]): Buffer {
  return frame(
    'T',
    i16(names.length),
    ...names.map((name) => Buffer.concat([cstr(name), i32(0), i16(0), i32(25), i16(-1), i32(-1), i16(0)])),
  );
}

export function dataRow(...values: (string | null)[]): Buffer {
  return frame(
    'D',
    i16(values.length),
    ...values.map((v) => (v === null ? i32(-1) : Buffer.concat([i32(Buffer.byteLength(v)), Buffer.from(v)]))),
  );
}

export function commandComplete(tag: string): Buffer {
  return frame('C', cstr(tag));
}

export function errorResponse(fields: Record<string, string>): Buffer {
  return frame('E', errorFieldsBody(fields));
}

export function copyBothResponse(): Buffer {
  return frame('W', Buffer.of(0), i16(0));
}

export function copyData(payload: Uint8Array): Buffer {
  return frame('d', payload);
}

/**
 * A walsender's answer to the commands a feed sends: CREATE_REPLICATION_SLOT returns its row,
 * START_REPLICATION switches to CopyBoth, SHOW wal_sender_timeout gives the default; anything else
 * completes empty.
 */
export function walsenderAnswer(sql: string): Reply {
  if (sql.startsWith('CREATE_REPLICATION_SLOT')) {
    const slot = sql.split(' ')[1] ?? 'slot';
    return [
      rowDescription('slot_name', 'consistent_point', 'snapshot_name', 'output_plugin'),
      dataRow(slot, '0/1000000', null, 'test_decoding'),
      commandComplete('CREATE_REPLICATION_SLOT'),
      readyForQuery(),
    ];
  }
  if (sql.startsWith('START_REPLICATION')) return copyBothResponse();
  if (sql === 'SHOW wal_sender_timeout') {
    return [rowDescription('wal_sender_timeout'), dataRow('1min'), commandComplete('SHOW'), readyForQuery()];
  }
  return [commandComplete('SELECT 0'), readyForQuery()];
}

function hmac(key: Uint8Array, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/**
 * The server side of SCRAM-SHA-256 (RFC 5802) for `password`, so that a script can run a correct
 * exchange and spoil exactly one part of it. `first` answers the SASLInitialResponse and `final` the
 * SASLResponse; `final` checks the client's proof and returns null when it is wrong.
 */
export class ScramServer {
  readonly #password: string;
  readonly #salt = randomBytes(16);
  readonly #iterations: number;
  #clientFirstBare = '';
  #serverFirst = '';
  /** The nonce the client sent. */
  clientNonce = '';
  /** The gs2 header and channel-binding data the client declared in client-first. */
  gs2Header = '';

  constructor(password: string, iterations = 4096) {
    this.#password = password;
    this.#iterations = iterations;
  }

  /** Parses SASLInitialResponse; returns the server-first text `r=…,s=…,i=…`. */
  first(body: Buffer): string {
    const mechanismEnd = body.indexOf(0);
    const length = body.readInt32BE(mechanismEnd + 1);
    const clientFirst = body.subarray(mechanismEnd + 5, mechanismEnd + 5 + length).toString('utf8');
    const bareAt = clientFirst.indexOf(',', clientFirst.indexOf(',') + 1) + 1;
    this.gs2Header = clientFirst.slice(0, bareAt);
    this.#clientFirstBare = clientFirst.slice(bareAt);
    this.clientNonce = /(?:^|,)r=([^,]*)/.exec(this.#clientFirstBare)?.[1] ?? '';
    this.#serverFirst = `r=${this.clientNonce}SERVERNONCE,s=${this.#salt.toString('base64')},i=${this.#iterations}`;
    return this.#serverFirst;
  }

  /** Checks the SASLResponse (client-final) proof; returns `v=<signature>`, or null for a wrong proof. */
  final(body: Buffer): string | null {
    const clientFinal = body.toString('utf8');
    const withoutProof = clientFinal.slice(0, clientFinal.lastIndexOf(',p='));
    const proof = Buffer.from(clientFinal.slice(clientFinal.lastIndexOf(',p=') + 3), 'base64');
    const authMessage = `${this.#clientFirstBare},${this.#serverFirst},${withoutProof}`;
    const salted = pbkdf2Sync(this.#password, this.#salt, this.#iterations, 32, 'sha256');
    const clientKey = hmac(salted, 'Client Key');
    const storedKey = createHash('sha256').update(clientKey).digest();
    const signature = hmac(storedKey, authMessage);
    const recovered = Buffer.from(proof.map((byte, i) => byte ^ signature[i]!));
    if (!createHash('sha256').update(recovered).digest().equals(storedKey)) return null;
    return `v=${hmac(hmac(salted, 'Server Key'), authMessage).toString('base64')}`;
  }
}

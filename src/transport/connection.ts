// The connection shell: the only code that owns a socket. It feeds bytes to the sans-io codec
// (FrameDecoder, StartupMachine) and writes what they return. PG docs: "Message Flow" (55.2).
import { type NetConnectOpts, connect as netConnect, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import {
  AuthenticationError,
  ConnectionError,
  PgnudgeError,
  ProtocolError,
  ServerError,
  type ServerErrorFields,
  TlsError,
} from '../errors.js';
import { type BoundLogger, bindLogger } from '../logger.js';
import { type BackendMessage, backendMessageName, parseBackendMessage } from '../protocol/backend.js';
import { FrameDecoder } from '../protocol/frame-decoder.js';
import {
  encodeQuery,
  encodeSSLRequest,
  encodeStartupMessage,
  encodeTerminate,
} from '../protocol/frontend.js';
import {
  encodeStandbyStatusUpdate,
  type PrimaryKeepalive,
  parseReplicationMessage,
  pgTimestampFromUnixMs,
  type XLogData,
} from '../protocol/replication.js';
import { classifyServerError } from '../protocol/server-error.js';
import { type AuthMethod, StartupMachine } from '../protocol/startup.js';
import { type ConnectionSettings, type ConnectionTarget, describeTarget } from './settings.js';
import { peerCertificateDer, startTls } from './tls.js';

/** `replication=database` opens a logical walsender (which also runs SQL); `off` is an ordinary session. */
export type ReplicationMode = 'database' | 'physical' | 'off';

/** Idle time before the first keepalive probe; the kernel's interval and count do the rest. */
const KEEPALIVE_IDLE_MS = 10_000;

export type { AuthMethod } from '../protocol/startup.js';

export interface ConnectOptions {
  replication: ReplicationMode;
  logger?: BoundLogger;
  /** Largest backend message accepted before the connection fails with a ProtocolError (contract R19). */
  maxFrameLength?: number;
  /** Aborts a connection attempt in any phase. */
  signal?: AbortSignal;
  /** DataRow bytes one query may hold before it fails with a ProtocolError. Default {@link DEFAULT_MAX_RESULT_BYTES}. */
  maxResultBytes?: number;
  /** Test seam: opens the socket instead of `net.connect` (a fake that never connects stands in for a blackholed host). */
  createSocket?: (options: NetConnectOpts) => Socket;
}

/** One statement's outcome from the simple query protocol: text values, as PostgreSQL sent them. */
export interface QueryResult {
  tag: string;
  fields: string[];
  rows: (string | null)[][];
}

/** Receives the replication stream once START_REPLICATION succeeded. Called synchronously per message. */
export interface ReplicationHandler {
  xlogData(message: XLogData): void;
  keepalive(message: PrimaryKeepalive): void;
  /**
   * A NoticeResponse in the stream, in order with the CopyData around it: an output plugin's WARNING
   * can stand for a change it did not write (wal2json and a table without a replica identity).
   */
  notice?(fields: ServerErrorFields): void;
}

/** An asynchronous notification (LISTEN/NOTIFY). */
export interface Notification {
  processId: number;
  channel: string;
  payload: string;
}

/** A standby status update; positions are LSNs, `replyRequested` asks the server to answer at once. */
export interface StatusUpdate {
  write: bigint;
  flush: bigint;
  apply: bigint;
  replyRequested: boolean;
}

const COPY_DATA = 0x64; // 'd'

/**
 * Distinct ParameterStatus names kept per connection. A real server reports about 15 (GUC_REPORT
 * settings); beyond this the names are hostile and would grow the map without bound (contract R19).
 */
export const MAX_SERVER_PARAMETERS = 256;

/**
 * DataRow bytes one query may hold until its ReadyForQuery. pgnudge's own queries return a few rows
 * (SHOW, CREATE_REPLICATION_SLOT, IDENTIFY_SYSTEM, catalog lookups); 64 MiB is far above any of them and
 * still bounds a server that answers with an endless row stream, which no timer ends (contract R19).
 */
export const DEFAULT_MAX_RESULT_BYTES = 64 * 1024 * 1024;

type Phase = 'startup' | 'idle' | 'query' | 'replication' | 'closed';

interface PendingQuery {
  results: QueryResult[];
  current: QueryResult | null;
  /** DataRow body bytes held in `results` and `current`, checked against maxResultBytes. */
  bytes: number;
  error: PgnudgeError | null;
  resolve(results: QueryResult[]): void;
  reject(error: PgnudgeError): void;
  /** Set for START_REPLICATION: resolves at CopyBothResponse instead of ReadyForQuery. */
  replication: ReplicationHandler | null;
}

function connectionLost(target: string, cause?: Error): ConnectionError {
  const why = cause ? `: ${(cause as NodeJS.ErrnoException).code ?? cause.message}` : '';
  return new ConnectionError(
    'PGNUDGE_ERR_CONNECTION',
    `connection to ${target} lost${why}`,
    cause ? { cause } : undefined,
  );
}

/**
 * A PostgreSQL session over TCP or a Unix socket: startup, TLS, authentication, simple query, and the
 * CopyBoth replication stream. Created by {@link PgConnection.connect}; ended by `abort()` (no goodbye)
 * or `end()` (Terminate).
 */
export class PgConnection {
  readonly #socket: Socket;
  readonly #decoder: FrameDecoder;
  readonly #log: BoundLogger;
  readonly #target: string;
  #phase: Phase = 'startup';
  #pending: PendingQuery | null = null;
  #queue: {
    sql: string;
    replication: ReplicationHandler | null;
    resolve(r: QueryResult[]): void;
    reject(e: PgnudgeError): void;
  }[] = [];
  #replication: ReplicationHandler | null = null;
  #closeListeners: ((error: PgnudgeError) => void)[] = [];
  #notificationListeners: ((notification: Notification) => void)[] = [];
  #closeError: PgnudgeError | null = null;
  #bytesReceived = 0;
  readonly #maxResultBytes: number;
  #startup: {
    machine: StartupMachine;
    resolve(): void;
    reject(error: PgnudgeError): void;
  } | null = null;

  /** Server parameters reported at startup (server_version, integer_datetimes, ...). */
  readonly parameters = new Map<string, string>();
  /** The backend's process id (BackendKeyData), or 0 when the server sent none. */
  processId = 0;
  /** How this session authenticated. */
  authMethod: AuthMethod = 'trust';
  /** Whether the link is encrypted. */
  readonly tls: boolean;

  private constructor(socket: Socket, tls: boolean, target: string, options: ConnectOptions) {
    this.#socket = socket;
    this.tls = tls;
    this.#target = target;
    this.#log = options.logger ?? bindLogger(undefined);
    this.#decoder = new FrameDecoder(
      options.maxFrameLength === undefined ? {} : { maxFrameLength: options.maxFrameLength },
    );
    this.#maxResultBytes = options.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES;
    socket.setNoDelay(true);
    // TCP keepalive, as libpq enables by default: the one silence no application timer may end is
    // CREATE_REPLICATION_SLOT waiting for older transactions, and a peer or route that died meanwhile is
    // then found by the kernel's probes (the server's kernel answers them however long it waits).
    socket.setKeepAlive(true, KEEPALIVE_IDLE_MS);
    // readSslResponse paused the socket so no byte is lost between listeners.
    socket.resume();
    socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    socket.on('error', (error) => this.#fail(connectionLost(target, error)));
    socket.on('close', () => this.#fail(connectionLost(target)));
  }

  /**
   * Connects to the first host in `settings.hosts` that accepts (libpq's multi-host rule: a host that
   * cannot be reached is skipped; a refusal such as a wrong password ends the attempt).
   */
  static async connect(settings: ConnectionSettings, options: ConnectOptions): Promise<PgConnection> {
    let lastError: PgnudgeError | undefined;
    for (const host of settings.hosts) {
      try {
        return await PgConnection.#connectHost(settings, host, options);
      } catch (error) {
        if (!(error instanceof PgnudgeError)) throw error;
        lastError = error;
        if (!error.retryable || options.signal?.aborted) throw error;
        if (settings.hosts.length > 1) options.logger?.debug(`${error.message}; trying the next host`);
      }
    }
    throw lastError ?? new ConnectionError('PGNUDGE_ERR_CONNECTION', 'no host to connect to');
  }

  static async #connectHost(
    settings: ConnectionSettings,
    host: ConnectionTarget,
    options: ConnectOptions,
  ): Promise<PgConnection> {
    const { sslmode } = settings;
    const unix = host.host.startsWith('/');
    // libpq never negotiates TLS over a Unix socket; `allow` tries plaintext first and TLS on refusal.
    const tlsFirst = !unix && sslmode !== 'disable' && sslmode !== 'allow';
    try {
      return await PgConnection.#attempt(settings, host, options, tlsFirst);
    } catch (error) {
      const hbaRefusedPlaintext =
        error instanceof ServerError &&
        error.sqlState === '28000' &&
        /no encryption/i.test(error.fields.message);
      // libpq retries with TLS after any refusal of the plaintext attempt; ours includes the server
      // asking for a cleartext or MD5 password, which pgnudge sends only over TLS (contract R17).
      const passwordNeedsTls = error instanceof PgnudgeError && error.code === 'PGNUDGE_ERR_AUTH_INSECURE';
      if (sslmode === 'allow' && !unix && (hbaRefusedPlaintext || passwordNeedsTls)) {
        return PgConnection.#attempt(settings, host, options, true);
      }
      throw error;
    }
  }

  static async #attempt(
    settings: ConnectionSettings,
    host: ConnectionTarget,
    options: ConnectOptions,
    wantTls: boolean,
  ): Promise<PgConnection> {
    const unix = host.host.startsWith('/');
    const target = describeTarget({ ...settings, hosts: [host] });
    const log = options.logger ?? bindLogger(undefined);
    let socket: Socket | null = null;
    let connection: PgConnection | null = null;
    let timer: NodeJS.Timeout | undefined;
    let rejectAttempt: ((error: PgnudgeError) => void) | undefined;
    const abort = () =>
      rejectAttempt?.(new ConnectionError('PGNUDGE_ERR_CONNECTION', `connection to ${target} aborted`));
    // Checked before the timer exists: throwing after it was armed leaked the timer, whose rejection of
    // `attempt` then surfaced as an unhandled rejection connectTimeoutMs later.
    if (options.signal?.aborted)
      throw new ConnectionError('PGNUDGE_ERR_CONNECTION', `connection to ${target} aborted`);
    const attempt = new Promise<never>((_, reject) => {
      rejectAttempt = reject;
    });
    if (settings.connectTimeoutMs > 0) {
      timer = setTimeout(() => {
        rejectAttempt?.(
          new ConnectionError(
            'PGNUDGE_ERR_CONNECT_TIMEOUT',
            `connecting to ${target} took longer than ${settings.connectTimeoutMs} ms (connect_timeout); is the host reachable and the server up?`,
          ),
        );
      }, settings.connectTimeoutMs);
    }
    options.signal?.addEventListener('abort', abort, { once: true });

    // Set once the race below is lost (timeout, abort, failure): `establish` may still be awaiting the
    // password function or the TCP connect, and must not go on to open a session nobody owns.
    let abandoned = false;
    const establish = async (): Promise<PgConnection> => {
      const password = await resolvePassword(host.password ?? settings.password);
      if (abandoned) throw new ConnectionError('PGNUDGE_ERR_CONNECTION', `connection to ${target} abandoned`);
      // The socket is ours from the first SYN, not from 'connect': a timeout or abort during a connect
      // that hangs (a blackholed host retries its SYN for ~2 min) must destroy it, or it keeps the event
      // loop alive, one more per backoff retry (contract R10).
      const opening = openSocket(host, unix, options.createSocket ?? netConnect);
      socket = opening.socket;
      await opening.connected;
      if (abandoned) {
        socket.destroy();
        throw new ConnectionError('PGNUDGE_ERR_CONNECTION', `connection to ${target} abandoned`);
      }
      let encrypted = false;
      if (wantTls) {
        const direct = settings.sslnegotiation === 'direct';
        if (!direct) {
          socket.write(encodeSSLRequest());
          const answer = await readSslResponse(socket, target);
          if (answer === 'N') {
            if (settings.sslmode !== 'prefer') {
              throw new TlsError(
                `${target} does not accept TLS (it answered the SSLRequest with N) but sslmode=${settings.sslmode} requires it. Enable ssl on the server, or lower sslmode.`,
              );
            }
            log.debug(`${target} declined TLS; continuing without encryption (sslmode=prefer)`);
          }
          encrypted = answer === 'S';
        } else {
          encrypted = true;
        }
        if (encrypted) socket = await startTls(socket, host.host, settings, direct);
      }
      const certificateDer = encrypted ? peerCertificateDer(socket as TLSSocket) : null;
      connection = new PgConnection(socket, encrypted, target, options);
      await connection.#runStartup(settings, options, password, certificateDer);
      return connection;
    };

    try {
      return await Promise.race([establish(), attempt]);
    } catch (error) {
      abandoned = true;
      (connection as PgConnection | null)?.abort();
      (socket as Socket | null)?.destroy();
      throw error instanceof PgnudgeError ? error : connectionLost(target, error as Error);
    } finally {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', abort);
    }
  }

  #runStartup(
    settings: ConnectionSettings,
    options: ConnectOptions,
    password: string | undefined,
    certificateDer: Uint8Array | null,
  ): Promise<void> {
    const params: Record<string, string> = {
      user: settings.user,
      database: settings.database,
      client_encoding: 'UTF8',
    };
    if (settings.applicationName !== undefined) params.application_name = settings.applicationName;
    if (options.replication === 'database') params.replication = 'database';
    if (options.replication === 'physical') params.replication = 'true';
    const machine = new StartupMachine({
      user: settings.user,
      password: () => password,
      tls: this.tls,
      channelBinding: settings.channelBinding,
      certificateDer,
    });
    return new Promise<void>((resolve, reject) => {
      this.#startup = { machine, resolve, reject };
      this.#write(encodeStartupMessage(params));
    });
  }

  /** Bytes received so far; the feed's liveness check compares snapshots instead of timing every chunk. */
  get bytesReceived(): number {
    return this.#bytesReceived;
  }

  /** The redacted `user@host:port/database` this connection reaches. */
  get target(): string {
    return this.#target;
  }

  /** The server's version number (server_version_num semantics, e.g. 170004), from ParameterStatus. */
  get serverVersionNum(): number {
    const text = this.parameters.get('server_version') ?? '';
    const match = /^(\d+)(?:\.(\d+))?/.exec(text);
    if (!match) return 0;
    const major = Number(match[1]);
    return major >= 10 ? major * 10000 + Number(match[2] ?? 0) : major * 10000 + Number(match[2] ?? 0) * 100;
  }

  /** Whether the connection has ended. */
  get closed(): boolean {
    return this.#phase === 'closed';
  }

  /** Calls `listener` once when the connection ends for any reason, `abort()` and `end()` included. */
  onClose(listener: (error: PgnudgeError) => void): void {
    this.#closeListeners.push(listener);
  }

  /** Calls `listener` for every NotificationResponse (LISTEN/NOTIFY). */
  onNotification(listener: (notification: Notification) => void): void {
    this.#notificationListeners.push(listener);
  }

  /**
   * Runs `sql` with the simple query protocol. Queries are serialized: one runs at a time. Resolves with
   * one result per statement; rejects with a ServerError after draining to ReadyForQuery.
   */
  query(sql: string): Promise<QueryResult[]> {
    return this.#enqueue(sql, null);
  }

  /**
   * Sends a replication command (START_REPLICATION) and resolves once the server answered with
   * CopyBothResponse: from then on every CopyData goes to `handler`, and the connection accepts only
   * status updates until it ends.
   */
  async startReplication(command: string, handler: ReplicationHandler): Promise<void> {
    await this.#enqueue(command, handler);
  }

  /** Sends a standby status update. Writes go out whole and in order, so it never interleaves. */
  sendStatusUpdate(update: StatusUpdate): void {
    if (this.#phase !== 'replication') return;
    this.#write(
      encodeStandbyStatusUpdate({
        ...update,
        sendTime: pgTimestampFromUnixMs(Date.now()),
      }),
    );
  }

  /** Destroys the socket at once: no goodbye. The server notices and drops temporary slots (contract R10, R12). */
  abort(): void {
    if (this.#phase === 'closed') return;
    this.#fail(
      new ConnectionError('PGNUDGE_ERR_CONNECTION', `connection to ${this.#target} closed by the client`),
    );
    this.#socket.destroy();
  }

  /** Destroys the socket and ends the connection with `error`, telling the `onClose` listeners. */
  fail(error: PgnudgeError): void {
    this.#socket.destroy();
    this.#fail(error);
  }

  /** Sends Terminate and closes the socket. */
  async end(): Promise<void> {
    if (this.#phase === 'closed') return;
    this.#fail(
      new ConnectionError('PGNUDGE_ERR_CONNECTION', `connection to ${this.#target} closed by the client`),
    );
    await new Promise<void>((resolve) => {
      this.#socket.once('close', () => resolve());
      this.#socket.end(encodeTerminate(), () => resolve());
    });
    this.#socket.destroy();
  }

  #enqueue(sql: string, replication: ReplicationHandler | null): Promise<QueryResult[]> {
    if (this.#phase === 'closed') return Promise.reject(this.#closeError ?? connectionLost(this.#target));
    if (this.#phase === 'replication') {
      return Promise.reject(
        new ProtocolError('the connection is streaming replication and cannot run queries'),
      );
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ sql, replication, resolve, reject });
      if (this.#pending === null && this.#phase === 'idle') this.#startNext();
    });
  }

  #startNext(): void {
    const next = this.#queue.shift();
    if (next === undefined) return;
    this.#phase = 'query';
    this.#pending = { results: [], current: null, bytes: 0, error: null, ...next };
    if (this.#log.enabled('trace')) this.#log.trace(`> Query ${next.sql}`);
    this.#write(encodeQuery(next.sql));
  }

  #write(bytes: Uint8Array): void {
    if (!this.#socket.destroyed) this.#socket.write(bytes);
  }

  #receive(chunk: Buffer): void {
    this.#bytesReceived += chunk.length;
    try {
      this.#decoder.push(chunk);
      for (let frame = this.#decoder.next(); frame !== undefined; frame = this.#decoder.next()) {
        if (this.#phase === 'closed') return;
        // Hot path: XLogData skips the generic message object; everything else goes through the parser.
        if (frame.code === COPY_DATA && this.#phase === 'replication') {
          this.#replicationData(frame.body);
        } else {
          this.#dispatch(parseBackendMessage(frame.code, frame.body), frame.code, frame.body.byteLength);
        }
      }
    } catch (error) {
      this.#socket.destroy();
      this.#fail(
        error instanceof PgnudgeError ? error : new ProtocolError(String(error), {}, { cause: error }),
      );
    }
  }

  #replicationData(body: Uint8Array): void {
    const message = parseReplicationMessage(body);
    const handler = this.#replication!;
    if (message.type === 'XLogData') handler.xlogData(message);
    else handler.keepalive(message);
  }

  #dispatch(message: BackendMessage, code: number, size: number): void {
    if (this.#log.enabled('trace')) this.#log.trace(`< ${message.type}`);
    switch (message.type) {
      case 'NoticeResponse':
        this.#log.debug(`server notice: ${message.fields.severity} ${message.fields.message}`);
        if (this.#phase === 'replication') this.#replication?.notice?.(message.fields);
        return;
      case 'ParameterStatus':
        if (this.parameters.size >= MAX_SERVER_PARAMETERS && !this.parameters.has(message.name)) {
          throw new ProtocolError(
            `the server reported more than ${MAX_SERVER_PARAMETERS} distinct parameters (ParameterStatus); a PostgreSQL server reports about 15`,
            { messageType: 'ParameterStatus' },
          );
        }
        this.parameters.set(message.name, message.value);
        return;
      case 'NotificationResponse':
        for (const listener of this.#notificationListeners) listener(message);
        return;
      default:
        break;
    }
    if (this.#phase === 'startup') {
      this.#startupMessage(message);
    } else if (this.#phase === 'query') {
      this.#queryMessage(message, code, size);
    } else if (message.type === 'ErrorResponse') {
      // An error outside a query (e.g. FATAL 57P01 from pg_terminate_backend) ends the session.
      this.fail(new ServerError(message.fields, classifyServerError(message.fields, 'query')));
    } else if (
      this.#phase === 'replication' &&
      (message.type === 'CopyDone' || message.type === 'CommandComplete')
    ) {
      // A walsender ends the stream with CopyDone, or, when the server shuts down (fast or smart), with a
      // bare CommandComplete and an exit (WalSndDone): either way the server ended it, not a broken peer.
      this.fail(
        new ConnectionError('PGNUDGE_ERR_CONNECTION', `${this.#target} ended the replication stream`),
      );
    } else {
      throw new ProtocolError(`unexpected ${message.type} while ${this.#phase}`, {
        messageType: backendMessageName(code),
      });
    }
  }

  #startupMessage(message: BackendMessage): void {
    const startup = this.#startup!;
    for (const action of startup.machine.receive(message)) {
      if (action.type === 'send') this.#write(action.bytes);
      else if (action.type === 'authenticated') this.authMethod = action.method;
      else if (action.type === 'ready') {
        for (const [name, value] of action.parameters) this.parameters.set(name, value);
        this.processId = action.backendKey?.processId ?? 0;
        this.#startup = null;
        this.#phase = 'idle';
        startup.resolve();
      }
    }
  }

  #queryMessage(message: BackendMessage, code: number, size: number): void {
    const pending = this.#pending!;
    switch (message.type) {
      case 'RowDescription':
        pending.current = { tag: '', fields: message.fields.map((field) => field.name), rows: [] };
        return;
      case 'DataRow':
        // Rows must match the RowDescription they follow: callers index into them by position.
        if (pending.current === null) {
          throw new ProtocolError('DataRow before RowDescription', { messageType: 'DataRow' });
        }
        if (message.values.length !== pending.current.fields.length) {
          throw new ProtocolError(
            `DataRow has ${message.values.length} columns, RowDescription ${pending.current.fields.length}`,
            { messageType: 'DataRow' },
          );
        }
        pending.bytes += size;
        if (pending.bytes > this.#maxResultBytes) {
          throw new ProtocolError(
            `the query result exceeds the limit of ${this.#maxResultBytes} bytes held in memory (maxResultBytes); pgnudge's queries return a few small rows`,
            { messageType: 'DataRow' },
          );
        }
        pending.current.rows.push(message.values);
        return;
      case 'CommandComplete':
        pending.results.push({ ...(pending.current ?? { fields: [], rows: [] }), tag: message.tag });
        pending.current = null;
        return;
      case 'EmptyQueryResponse':
        return;
      case 'ErrorResponse':
        pending.error = new ServerError(message.fields, classifyServerError(message.fields, 'query'));
        return;
      case 'CopyBothResponse':
        if (pending.replication === null) {
          throw new ProtocolError('CopyBothResponse to a query that did not start replication', {
            messageType: 'CopyBothResponse',
          });
        }
        this.#replication = pending.replication;
        this.#phase = 'replication';
        this.#pending = null;
        pending.resolve([]);
        return;
      case 'CopyInResponse':
      case 'CopyOutResponse':
        throw new ProtocolError(`${message.type}: COPY is not supported on this connection`, {
          messageType: message.type,
        });
      case 'ReadyForQuery': {
        // Without CommandComplete a result would be dropped silently; after an error it is expected.
        if (pending.current !== null && pending.error === null) {
          throw new ProtocolError('ReadyForQuery before CommandComplete', { messageType: 'ReadyForQuery' });
        }
        if (pending.replication !== null && pending.error === null) {
          throw new ProtocolError('the server finished the replication command without streaming', {
            messageType: 'ReadyForQuery',
          });
        }
        this.#pending = null;
        this.#phase = 'idle';
        if (pending.error) pending.reject(pending.error);
        else pending.resolve(pending.results);
        this.#startNext();
        return;
      }
      default:
        throw new ProtocolError(`unexpected ${message.type} during a query`, {
          messageType: backendMessageName(code),
        });
    }
  }

  #fail(error: PgnudgeError): void {
    if (this.#phase === 'closed') return;
    this.#phase = 'closed';
    this.#closeError = error;
    this.#startup?.reject(error);
    this.#startup = null;
    const pending = this.#pending;
    this.#pending = null;
    // A FATAL ErrorResponse and then the close: the server's reason says more than "lost".
    pending?.reject(pending.error ?? error);
    const queued = this.#queue;
    this.#queue = [];
    for (const waiting of queued) waiting.reject(error);
    const listeners = this.#closeListeners;
    this.#closeListeners = [];
    for (const listener of listeners) listener(error);
  }
}

/** Calls a password function per connection attempt, so rotating tokens (cloud IAM) stay fresh. */
async function resolvePassword(source: ConnectionSettings['password']): Promise<string | undefined> {
  if (typeof source !== 'function') return source;
  try {
    const value = await source();
    if (typeof value !== 'string')
      throw new TypeError(`the password function returned ${typeof value}, not a string`);
    return value;
  } catch (error) {
    throw new AuthenticationError(
      'PGNUDGE_ERR_AUTH_FAILED',
      `the password function failed: ${(error as Error).message ?? error}`,
      { cause: error },
    );
  }
}

/** Starts a connect: the socket at once (so an abandoned attempt can destroy it), `connected` once it is up. */
function openSocket(
  host: ConnectionTarget,
  unix: boolean,
  create: (options: NetConnectOpts) => Socket,
): { socket: Socket; connected: Promise<void> } {
  const socket = unix
    ? create({ path: `${host.host}/.s.PGSQL.${host.port}` })
    : create({ host: host.host, port: host.port });
  const where = unix ? `${host.host}/.s.PGSQL.${host.port}` : `${host.host}:${host.port}`;
  const connected = new Promise<void>((resolve, reject) => {
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.destroy();
      reject(
        new ConnectionError(
          'PGNUDGE_ERR_CONNECTION',
          `cannot connect to ${where}: ${error.code ?? error.message}${error.code === 'ECONNREFUSED' ? ' (is the server running and accepting TCP/IP connections there?)' : ''}`,
          { cause: error },
        ),
      );
    });
  });
  return { socket, connected };
}

/**
 * Reads the one-byte answer to SSLRequest. Anything after an `S` arrived unencrypted, before the
 * handshake: libpq refuses that (CVE-2021-23222) and so do we.
 */
function readSslResponse(socket: Socket, target: string): Promise<'S' | 'N'> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      socket.off('data', onData);
      socket.off('error', onEnd);
      socket.off('close', onEnd);
    };
    const onData = (chunk: Buffer) => {
      cleanup();
      socket.pause();
      const answer = chunk[0];
      if (answer === 0x53 /* S */ || answer === 0x4e /* N */) {
        if (chunk.length > 1) {
          reject(
            new ProtocolError(
              `${target} sent ${chunk.length - 1} unexpected bytes after its answer to SSLRequest`,
            ),
          );
        } else resolve(answer === 0x53 ? 'S' : 'N');
        return;
      }
      reject(
        new ProtocolError(
          `${target} answered SSLRequest with byte 0x${(answer ?? 0).toString(16).padStart(2, '0')}; is this a PostgreSQL server?`,
        ),
      );
    };
    const onEnd = (error?: Error) => {
      cleanup();
      reject(connectionLost(target, error instanceof Error ? error : undefined));
    };
    socket.on('data', onData);
    socket.once('error', onEnd);
    socket.once('close', onEnd);
  });
}

// The session: the only code that owns a connected socket. It feeds bytes to the sans-io codec
// (FrameDecoder, StartupMachine, QueryResponse) and writes what they return; dial.ts opens the link.
// PG docs: "Message Flow" (55.2).
import { pbkdf2 } from 'node:crypto';
import type { Socket } from 'node:net';
import { asPgnudgeError } from '../as-pgnudge-error.js';
import {
  AuthenticationError,
  ConnectionError,
  type PgnudgeError,
  ProtocolError,
  ServerError,
  type ServerErrorFields,
} from '../errors.js';
import { type BoundLogger, bindLogger, printable } from '../logger.js';
import {
  BackendCode,
  type BackendMessage,
  backendMessageName,
  parseBackendMessage,
} from '../protocol/backend.js';
import { FrameDecoder } from '../protocol/frame-decoder.js';
import { encodeQuery, encodeStartupMessage, encodeTerminate } from '../protocol/frontend.js';
import { QueryResponse, type QueryResult } from '../protocol/query-response.js';
import {
  encodeStandbyStatusUpdate,
  type PrimaryKeepalive,
  parseReplicationMessage,
  pgTimestampFromUnixMs,
  ReplicationCode,
  XLogDataView,
} from '../protocol/replication.js';
import type { ScramKeyRequest } from '../protocol/scram.js';
import { classifyServerError } from '../protocol/server-error.js';
import { type AuthMethod, type StartupAction, StartupMachine } from '../protocol/startup.js';
import { connectionLost, type DialOptions, dial, type Link } from './dial.js';
import { PacedReads } from './paced-reads.js';
import type { BusyRule } from './read-pacer.js';
import type { ConnectionSettings } from './settings.js';
import type { SlabReads } from './slab-reads.js';
import { startupParameters } from './startup-parameters.js';

export type { QueryResult } from '../protocol/query-response.js';

/** `replication=database` opens a logical walsender (which also runs SQL); `off` is an ordinary session. */
export type ReplicationMode = 'database' | 'physical' | 'off';

/** How long a terminated connection may wait for the server to close its end before it is destroyed. */
const TERMINATE_GRACE_MS = 1000;

/** Idle time before the first keepalive probe; the kernel's interval and count do the rest. */
const KEEPALIVE_IDLE_MS = 10_000;

export type { AuthMethod } from '../protocol/startup.js';

export interface ConnectOptions extends DialOptions {
  replication: ReplicationMode;
  /**
   * Server settings (GUCs) sent in the startup packet, where they outrank ALTER ROLE / ALTER DATABASE
   * ... SET (contract R21). Laid over the defaults for the replication mode (pinnedSettingsFor, startup-parameters.ts).
   */
  pinnedSettings?: Readonly<Record<string, string>>;
  /** Largest backend message accepted before the connection fails with a ProtocolError (contract R19). */
  maxFrameLength?: number;
  /** DataRow bytes one query may hold before it fails with a ProtocolError. Default DEFAULT_MAX_RESULT_BYTES (protocol/query-response.ts). */
  maxResultBytes?: number;
}

/** Receives the replication stream once START_REPLICATION succeeded. Called synchronously per message. */
export interface ReplicationHandler {
  /**
   * One XLogData, read in place: `message` is the same object for every message of the stream,
   * pointed at the next one after this call returns, so take what you need now.
   */
  xlogData(message: XLogDataView): void;
  keepalive(message: PrimaryKeepalive): void;
  /**
   * A socket read of the stream arrived; its messages follow. Lets a handler do once per read what
   * would cost too much per message, such as reading the clock.
   */
  read?(): void;
  /**
   * A NoticeResponse in the stream, in order with the CopyData around it: an output plugin's WARNING
   * can stand for a change it did not write (wal2json and a table without a replica identity).
   */
  notice?(fields: ServerErrorFields): void;
}

/** How a replication stream is read. */
export interface StreamOptions {
  /**
   * Milliseconds reads may pause while the stream is busy, so that each read carries many changes
   * (read-pacer.ts); 0 reads every arrival at once. Keep it well inside the status cadence: a keepalive
   * that asks for a reply is read (and answered) up to this much later.
   */
  readPacingMs?: number;
  /**
   * How a busy stream is told (read-pacer.ts's measured defaults when absent). A test seam: how far
   * apart reads arrive depends on the machine, so a test that needs a pause widens the gap.
   */
  readBusy?: BusyRule;
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

/**
 * Distinct ParameterStatus names kept per connection. A real server reports about 15 (GUC_REPORT
 * settings); beyond this the names are hostile and would grow the map without bound (contract R19).
 */
export const MAX_SERVER_PARAMETERS = 256;

type Phase = 'startup' | 'idle' | 'query' | 'replication' | 'closed';

/** Startup and authentication in progress: the machine, and the promise `connect` awaits. */
interface PendingStartup {
  machine: StartupMachine;
  resolve(): void;
  reject(error: PgnudgeError): void;
}

/** A query waiting for its turn, or in flight. */
interface PendingQuery {
  sql: string;
  /** Set for START_REPLICATION: resolves at CopyBothResponse instead of ReadyForQuery. */
  replication: ReplicationHandler | null;
  resolve(results: QueryResult[]): void;
  reject(error: PgnudgeError): void;
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
  /** Queries sent and not yet answered, oldest first: the server answers in order. */
  #sent: { query: PendingQuery; response: QueryResponse }[] = [];
  /** Queries waiting to be sent: only behind a START_REPLICATION, which must be the last one sent. */
  #queue: PendingQuery[] = [];
  #replication: ReplicationHandler | null = null;
  /** The stream's one XLogData view, re-pointed at each message. */
  readonly #xlogData = new XLogDataView();
  #closeListeners: ((error: PgnudgeError) => void)[] = [];
  #notificationListeners: ((notification: Notification) => void)[] = [];
  #closeError: PgnudgeError | null = null;
  #bytesReceived = 0;
  readonly #maxResultBytes: number | undefined;
  #startup: PendingStartup | null = null;
  /** How the replication stream is read, once it streams (paced-reads.ts). */
  #reads: PacedReads | null = null;

  /** Server parameters reported at startup (server_version, integer_datetimes, ...). */
  readonly parameters = new Map<string, string>();
  /** The backend's process id (BackendKeyData), or 0 when the server sent none. */
  processId = 0;
  /** How this session authenticated. */
  authMethod: AuthMethod = 'trust';
  /** Whether the link is encrypted. */
  readonly tls: boolean;

  private constructor(
    socket: Socket,
    reads: SlabReads | null,
    tls: boolean,
    target: string,
    options: ConnectOptions,
  ) {
    this.#socket = socket;
    this.tls = tls;
    this.#target = target;
    this.#log = options.logger ?? bindLogger(undefined);
    this.#decoder = new FrameDecoder(
      options.maxFrameLength === undefined ? {} : { maxFrameLength: options.maxFrameLength },
    );
    this.#maxResultBytes = options.maxResultBytes;
    socket.setNoDelay(true);
    // TCP keepalive, as libpq enables by default: the one silence no application timer may end is
    // CREATE_REPLICATION_SLOT waiting for older transactions, and a peer or route that died meanwhile is
    // then found by the kernel's probes (the server's kernel answers them however long it waits).
    socket.setKeepAlive(true, KEEPALIVE_IDLE_MS);
    this.readsIntoSlab = reads !== null;
    if (reads !== null) {
      reads.deliverTo((chunk) => this.#receive(chunk));
    } else {
      // readSslResponse paused the socket so no byte is lost between listeners.
      socket.resume();
      socket.on('data', (chunk: Buffer) => this.#receive(chunk));
    }
    socket.on('error', (error) => this.#fail(connectionLost(target, error)));
    socket.on('close', () => this.#fail(connectionLost(target)));
  }

  /**
   * Connects to the first host in `settings.hosts` that accepts (libpq's multi-host rule: a host that
   * cannot be reached is skipped; a refusal such as a wrong password ends the attempt) and completes
   * startup and authentication.
   */
  static async connect(settings: ConnectionSettings, options: ConnectOptions): Promise<PgConnection> {
    const params = startupParameters(settings, options.replication, options.pinnedSettings);
    return dial(settings, options, (link) => PgConnection.#start(link, settings, params, options));
  }

  static async #start(
    link: Link,
    settings: ConnectionSettings,
    params: Record<string, string>,
    options: ConnectOptions,
  ): Promise<PgConnection> {
    const connection = new PgConnection(link.socket, link.reads, link.tls, link.target, options);
    try {
      await connection.#runStartup(settings, params, link.password, link.certificateDer);
    } catch (error) {
      connection.abort();
      throw error;
    }
    return connection;
  }

  #runStartup(
    settings: ConnectionSettings,
    params: Record<string, string>,
    password: string | undefined,
    certificateDer: Uint8Array | null,
  ): Promise<void> {
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

  /** Whether the socket reads into a slab (slab-reads.ts) rather than as a stream. */
  readonly readsIntoSlab: boolean;

  /** How often paced reading has paused the replication stream so far (StreamOptions.readPacingMs). */
  get readPauses(): number {
    return this.#reads?.pauses ?? 0;
  }

  /** Whether reads are paused now (paced reading, or a wake-up that used its byte budget). */
  get readsPaused(): boolean {
    return this.#reads?.paused ?? false;
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

  /**
   * Calls `listener` once when the connection ends for any reason, `abort()` and `end()` included; on a
   * connection that has ended already, soon (a microtask later) with the error that ended it.
   */
  onClose(listener: (error: PgnudgeError) => void): void {
    const error = this.#closeError;
    // A listener that came too late would otherwise wait forever (a session's `ended` never settling).
    if (error !== null) queueMicrotask(() => listener(error));
    else this.#closeListeners.push(listener);
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
  async startReplication(
    command: string,
    handler: ReplicationHandler,
    options: StreamOptions = {},
  ): Promise<void> {
    await this.#enqueue(command, handler);
    if (this.#phase === 'replication')
      this.#reads = new PacedReads(this.#socket, options.readPacingMs ?? 0, options.readBusy);
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

  /**
   * Ends the session cleanly without waiting for the server (contract R10): Terminate, so the server
   * ends the session quietly rather than log an unexpected EOF, then end and destroy the socket. Best
   * effort: what the socket cannot send at once is dropped, and the server cleans up as after a crash.
   */
  terminate(): void {
    if (this.#phase === 'closed') return;
    // Before startup completed, the server has no session to end: a Terminate would be a protocol error.
    const session = this.#phase !== 'startup';
    this.#reads?.drain();
    this.#fail(
      new ConnectionError('PGNUDGE_ERR_CONNECTION', `connection to ${this.#target} closed by the client`),
    );
    if (!session || this.#socket.destroyed) {
      this.#socket.destroy();
      return;
    }
    const socket = this.#socket;
    socket.end(encodeTerminate());
    // Closing a socket with unread bytes resets it, and a server still sending logs "could not send data
    // to client". So the bytes that arrive until the server has read Terminate and closed are dropped;
    // the socket holds the process open for none of that time, and goes for good after a short grace.
    socket.unref();
    const grace = setTimeout(() => socket.destroy(), TERMINATE_GRACE_MS);
    grace.unref();
    socket.once('close', () => clearTimeout(grace));
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
      if (this.#phase === 'idle' || this.#phase === 'query') this.#sendQueued();
    });
  }

  /**
   * Sends every waiting query at once, without waiting for the answers to the ones before (the simple
   * query protocol answers each Query in order, an error included, so a pipelined SHOW and
   * CREATE_REPLICATION_SLOT cost one round trip instead of two). Nothing goes after a START_REPLICATION:
   * its answer switches the connection to the stream.
   */
  #sendQueued(): void {
    while (this.#queue.length > 0 && this.#sent.at(-1)?.query.replication == null) {
      const next = this.#queue.shift()!;
      this.#phase = 'query';
      const response = new QueryResponse({
        startsReplication: next.replication !== null,
        ...(this.#maxResultBytes === undefined ? {} : { maxResultBytes: this.#maxResultBytes }),
      });
      this.#sent.push({ query: next, response });
      if (this.#log.enabled('trace')) this.#log.trace(`> Query ${printable(next.sql)}`);
      this.#write(encodeQuery(next.sql));
    }
  }

  #write(bytes: Uint8Array): void {
    if (!this.#socket.destroyed) this.#socket.write(bytes);
  }

  #receive(chunk: Uint8Array): void {
    this.#bytesReceived += chunk.byteLength;
    // After terminate(), what the server still sends until it closes is read and dropped.
    if (this.closed) return;
    const decoder = this.#decoder;
    try {
      this.#replication?.read?.();
      decoder.push(chunk);
      while (decoder.advance()) {
        if (this.#phase === 'closed') return;
        // Hot path: replication data is read in place, without a frame, message or view object.
        if (decoder.code === BackendCode.CopyData && this.#phase === 'replication') {
          this.#replicationData(decoder.bytes, decoder.start, decoder.end);
        } else {
          const body = decoder.bytes.subarray(decoder.start, decoder.end);
          this.#dispatch(parseBackendMessage(decoder.code, body), decoder.code, body.byteLength);
        }
      }
      this.#reads?.read(chunk.byteLength);
    } catch (error) {
      this.#socket.destroy();
      // A PgnudgeError says what the server did wrong; anything else is a bug of ours, filed as one.
      this.#fail(asPgnudgeError(error));
    }
  }

  /** One CopyData of the stream, `bytes[start, end)`: XLogData read in place, anything else parsed. */
  #replicationData(bytes: Uint8Array, start: number, end: number): void {
    const handler = this.#replication!;
    if (end > start && bytes[start] === ReplicationCode.XLogData) {
      this.#xlogData.read(bytes, start, end);
      handler.xlogData(this.#xlogData);
      return;
    }
    const message = parseReplicationMessage(bytes.subarray(start, end));
    // parseReplicationMessage returns XLogData only for a 'w', handled above.
    if (message.type === 'PrimaryKeepalive') handler.keepalive(message);
  }

  #dispatch(message: BackendMessage, code: number, size: number): void {
    if (this.#log.enabled('trace')) this.#log.trace(`< ${message.type}`);
    switch (message.type) {
      case 'NoticeResponse':
        this.#log.debug(
          `server notice: ${printable(message.fields.severity)} ${printable(message.fields.message)}`,
        );
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
    this.#startupActions(this.#startup!.machine.receive(message));
  }

  #startupActions(actions: StartupAction[]): void {
    const startup = this.#startup!;
    for (const action of actions) {
      if (action.type === 'send') this.#write(action.bytes);
      else if (action.type === 'derive') this.#derive(startup, action.request);
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

  /**
   * SCRAM's PBKDF2 on libuv's thread pool: up to a million iterations (a quarter of a second) that a
   * hostile or man-in-the-middle server could otherwise make the event loop wait out on every reconnect.
   */
  #derive(startup: PendingStartup, request: ScramKeyRequest): void {
    const { password, salt, iterations, keyLength, digest } = request;
    pbkdf2(password, salt, iterations, keyLength, digest, (error, key) => {
      // The session may have ended (timeout, abort, server error) while the key was derived.
      if (this.#startup !== startup) return;
      try {
        if (error)
          throw new AuthenticationError(
            'PGNUDGE_ERR_AUTH_SCRAM',
            `SCRAM key derivation failed: ${error.message}`,
            { cause: error },
          );
        this.#startupActions(startup.machine.derived(key));
      } catch (failure) {
        this.#socket.destroy();
        this.#fail(asPgnudgeError(failure));
      }
    });
  }

  #queryMessage(message: BackendMessage, code: number, size: number): void {
    const { query, response } = this.#sent[0]!;
    const outcome = response.receive(message, code, size);
    if (outcome === undefined) return;
    this.#sent.shift();
    if (outcome.type === 'streaming') {
      // The last query sent (#sendQueued): those queued behind it can never run.
      this.#replication = query.replication;
      this.#phase = 'replication';
      query.resolve([]);
      const behind = this.#queue;
      this.#queue = [];
      for (const waiting of behind) {
        waiting.reject(new ProtocolError('the connection is streaming replication and cannot run queries'));
      }
      return;
    }
    if (this.#sent.length === 0) this.#phase = 'idle';
    if (outcome.type === 'error') query.reject(outcome.error);
    else query.resolve(outcome.results);
    if (this.#phase !== 'closed') this.#sendQueued();
  }

  #fail(error: PgnudgeError): void {
    if (this.#phase === 'closed') return;
    this.#phase = 'closed';
    this.#closeError = error;
    // A pause ends with the connection: its timer must not outlive it.
    this.#reads?.close();
    this.#startup?.reject(error);
    this.#startup = null;
    const sent = this.#sent;
    this.#sent = [];
    // A FATAL ErrorResponse and then the close: the server's reason says more than "lost".
    for (const { query, response } of sent) query.reject(response.error ?? error);
    const queued = this.#queue;
    this.#queue = [];
    for (const waiting of queued) waiting.reject(error);
    const listeners = this.#closeListeners;
    this.#closeListeners = [];
    for (const listener of listeners) listener(error);
  }
}

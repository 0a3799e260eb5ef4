// Dialing: from connection settings to a link a session can start on. Tries each host in turn (libpq's
// multi-host rule), negotiates TLS as sslmode says (retrying `allow` with TLS after a refusal), and bounds
// the whole attempt, session startup included, by connect_timeout and the caller's AbortSignal.
import { type NetConnectOpts, connect as netConnect, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import {
  AuthenticationError,
  ConnectionError,
  PgnudgeError,
  ProtocolError,
  ServerError,
  TlsError,
} from '../errors.js';
import { type BoundLogger, bindLogger } from '../logger.js';
import { encodeSSLRequest } from '../protocol/frontend.js';
import { type ConnectionSettings, type ConnectionTarget, describeTarget } from './settings.js';
import { SlabReads } from './slab-reads.js';
import { connectDirectTls, peerCertificateDer, startTls } from './tls.js';
import { slabReadsForWrappedTls } from './wrapped-tls-reads.js';

/** What dialing needs besides the settings. */
export interface DialOptions {
  logger?: BoundLogger;
  /** Aborts a connection attempt in any phase. */
  signal?: AbortSignal;
  /**
   * Test seam: opens the socket instead of `net.connect` (a fake that never connects stands in for a
   * blackholed host). For a plain session the options carry `onread` (slab-reads.ts): create the socket
   * with them, since Node reads `onread` only when a socket is constructed, or no byte reaches the session.
   */
  createSocket?: (options: NetConnectOpts) => Socket;
  /**
   * Test seam: read a TLS socket that wraps an existing one as a stream, which is what happens when
   * this Node's internals are not what wrapped-tls-reads.ts expects.
   */
  streamWrappedTls?: boolean;
}

/** A link to one server, TLS negotiated, ready for the session's StartupMessage. */
export interface Link {
  socket: Socket;
  /**
   * Set when the socket reads into a slab (plain connections, direct TLS, and TLS after an SSLRequest
   * where Node's internals allow): its reads come from here, and the socket emits no 'data'. Null when
   * it is read as a stream.
   */
  reads: SlabReads | null;
  tls: boolean;
  /** The redacted `user@host:port/database` this link reaches. */
  target: string;
  /** The server's leaf certificate (DER) when TLS is in use, for channel binding. */
  certificateDer: Uint8Array | null;
  /** The password for this attempt (a password function is called once per attempt). */
  password: string | undefined;
}

/** The session a link is handed to; dialing aborts one whose attempt was lost to a timeout or abort. */
export interface StartedSession {
  abort(): void;
}

/** A ConnectionError saying the link to `target` is gone, with the socket's reason when there is one. */
export function connectionLost(target: string, cause?: Error): ConnectionError {
  const why = cause ? `: ${(cause as NodeJS.ErrnoException).code ?? cause.message}` : '';
  return new ConnectionError(
    'PGNUDGE_ERR_CONNECTION',
    `connection to ${target} lost${why}`,
    cause ? { cause } : undefined,
  );
}

/**
 * Connects to the first host in `settings.hosts` that accepts (libpq's multi-host rule: a host that
 * cannot be reached is skipped; a refusal such as a wrong password ends the attempt) and returns what
 * `start` made of its link. `start` runs within the attempt's deadline.
 */
export async function dial<S extends StartedSession>(
  settings: ConnectionSettings,
  options: DialOptions,
  start: (link: Link) => Promise<S>,
): Promise<S> {
  let lastError: PgnudgeError | undefined;
  for (const host of settings.hosts) {
    try {
      return await dialHost(settings, host, options, start);
    } catch (error) {
      if (!(error instanceof PgnudgeError)) throw error;
      lastError = error;
      if (!error.retryable || options.signal?.aborted) throw error;
      if (settings.hosts.length > 1) options.logger?.debug(`${error.message}; trying the next host`);
    }
  }
  throw lastError ?? new ConnectionError('PGNUDGE_ERR_CONNECTION', 'no host to connect to');
}

async function dialHost<S extends StartedSession>(
  settings: ConnectionSettings,
  host: ConnectionTarget,
  options: DialOptions,
  start: (link: Link) => Promise<S>,
): Promise<S> {
  const { sslmode } = settings;
  const unix = host.host.startsWith('/');
  // libpq never negotiates TLS over a Unix socket; `allow` tries plaintext first and TLS on refusal.
  const tlsFirst = !unix && sslmode !== 'disable' && sslmode !== 'allow';
  try {
    return await attempt(settings, host, options, tlsFirst, start);
  } catch (error) {
    const hbaRefusedPlaintext =
      error instanceof ServerError &&
      error.sqlState === '28000' &&
      /no encryption/i.test(error.fields.message);
    // libpq retries with TLS after any refusal of the plaintext attempt; ours includes the server
    // asking for a cleartext or MD5 password, which pgnudge sends only over TLS (contract R17).
    const passwordNeedsTls = error instanceof PgnudgeError && error.code === 'PGNUDGE_ERR_AUTH_INSECURE';
    if (sslmode === 'allow' && !unix && (hbaRefusedPlaintext || passwordNeedsTls)) {
      return attempt(settings, host, options, true, start);
    }
    throw error;
  }
}

async function attempt<S extends StartedSession>(
  settings: ConnectionSettings,
  host: ConnectionTarget,
  options: DialOptions,
  wantTls: boolean,
  start: (link: Link) => Promise<S>,
): Promise<S> {
  const unix = host.host.startsWith('/');
  const target = describeTarget({ ...settings, hosts: [host] });
  const log = options.logger ?? bindLogger(undefined);
  let socket: Socket | null = null;
  let started: Promise<S> | null = null;
  let timer: NodeJS.Timeout | undefined;
  let rejectAttempt: ((error: PgnudgeError) => void) | undefined;
  const abort = () =>
    rejectAttempt?.(new ConnectionError('PGNUDGE_ERR_CONNECTION', `connection to ${target} aborted`));
  // Checked before the timer exists: throwing after it was armed leaked the timer, whose rejection of
  // `lost` then surfaced as an unhandled rejection connectTimeoutMs later.
  if (options.signal?.aborted)
    throw new ConnectionError('PGNUDGE_ERR_CONNECTION', `connection to ${target} aborted`);
  const lost = new Promise<never>((_, reject) => {
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
  const abandon = () => new ConnectionError('PGNUDGE_ERR_CONNECTION', `connection to ${target} abandoned`);
  const establish = async (): Promise<S> => {
    const password = await passwordForAttempt(host.password ?? settings.password);
    if (abandoned) throw abandon();
    const direct = wantTls && settings.sslnegotiation === 'direct';
    // A socket reads into a slab (slab-reads.ts): through `onread` when net.connect creates it for a
    // plain session, or tls.connect for direct TLS; a TLS socket that wraps one (after an SSLRequest,
    // or around the createSocket seam's socket) is switched over after its handshake.
    const ownTls = direct && options.createSocket === undefined;
    let reads = !wantTls || ownTls ? new SlabReads() : null;
    // The socket is ours from the first SYN, not from 'connect': a timeout or abort during a connect
    // that hangs (a blackholed host retries its SYN for ~2 min) must destroy it, or it keeps the event
    // loop alive, one more per backoff retry (contract R10).
    if (ownTls) {
      const opening = connectDirectTls(host.host, host.port, settings, reads!.onread);
      socket = opening.socket;
      let connected = false;
      socket.once('connect', () => {
        connected = true;
      });
      socket = await opening.secured.catch((error: unknown) => {
        if (connected) throw error;
        // Whatever failed before the TCP connection was up (refused, unreachable, a name that does not
        // resolve) is said, and retried, as for every other connect: the next host, or a later attempt.
        const cause = ((error as PgnudgeError).cause ?? error) as NodeJS.ErrnoException;
        throw cannotConnect(`${host.host}:${host.port}`, cause);
      });
      if (abandoned) throw abandon();
      const certificateDer = peerCertificateDer(socket as TLSSocket);
      started = start({ socket, reads, tls: true, target, certificateDer, password });
      return started;
    }
    const opening = openSocket(host, unix, options.createSocket ?? netConnect, reads);
    socket = opening.socket;
    await opening.connected;
    if (abandoned) {
      socket.destroy();
      throw abandon();
    }
    let encrypted = false;
    if (wantTls) {
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
      if (encrypted) {
        socket = await startTls(socket, host.host, settings, direct);
        if (!options.streamWrappedTls) reads = slabReadsForWrappedTls(socket as TLSSocket);
      }
    }
    if (abandoned) throw abandon();
    const certificateDer = encrypted ? peerCertificateDer(socket as TLSSocket) : null;
    started = start({ socket, reads, tls: encrypted, target, certificateDer, password });
    return started;
  };

  try {
    return await Promise.race([establish(), lost]);
  } catch (error) {
    abandoned = true;
    // A session that started may still finish its startup after the deadline: nobody owns it then.
    (started as Promise<S> | null)?.then(
      (session) => session.abort(),
      () => {},
    );
    (socket as Socket | null)?.destroy();
    throw error instanceof PgnudgeError ? error : connectionLost(target, error as Error);
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', abort);
  }
}

/** Calls a password function per connection attempt, so rotating tokens (cloud IAM) stay fresh. */
async function passwordForAttempt(source: ConnectionSettings['password']): Promise<string | undefined> {
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
  reads: SlabReads | null,
): { socket: Socket; connected: Promise<void> } {
  const onread = reads === null ? {} : { onread: reads.onread };
  const socket = unix
    ? create({ path: `${host.host}/.s.PGSQL.${host.port}`, ...onread })
    : create({ host: host.host, port: host.port, ...onread });
  const where = unix ? `${host.host}/.s.PGSQL.${host.port}` : `${host.host}:${host.port}`;
  const connected = new Promise<void>((resolve, reject) => {
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve();
    });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      socket.destroy();
      reject(cannotConnect(where, error));
    });
  });
  return { socket, connected };
}

/** The error for a connect that failed before the server answered at all. */
function cannotConnect(where: string, error: NodeJS.ErrnoException): ConnectionError {
  return new ConnectionError(
    'PGNUDGE_ERR_CONNECTION',
    `cannot connect to ${where}: ${error.code ?? error.message}${error.code === 'ECONNREFUSED' ? ' (is the server running and accepting TCP/IP connections there?)' : ''}`,
    { cause: error },
  );
}

/**
 * Reads the one-byte answer to SSLRequest. Anything after an `S` arrived unencrypted, before the
 * handshake: libpq refuses that (CVE-2021-23222) and so do we. Leaves the socket paused, so no byte is
 * lost before the session listens.
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

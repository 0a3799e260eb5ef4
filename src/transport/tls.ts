// TLS for the connection shell: the node:tls options that give each libpq `sslmode` its meaning,
// and the upgrade of a plain socket after the server accepted an SSLRequest.
import { readFileSync, type Stats, statSync } from 'node:fs';
import { isIP, type OnReadOpts, type Socket } from 'node:net';
import {
  checkServerIdentity,
  createSecureContext,
  type TLSSocket,
  type ConnectionOptions as TlsOptions,
  connect as tlsConnect,
} from 'node:tls';
import { ConfigError, ConnectionError, TlsError } from '../errors.js';
import type { SslMode } from './settings.js';

/** What the TLS layer needs from the resolved connection settings. */
export interface TlsSettings {
  sslmode: SslMode;
  sslrootcert: string | undefined;
  sslcert: string | undefined;
  sslkey: string | undefined;
}

/** The ALPN protocol PostgreSQL 17+ requires for direct TLS (sslnegotiation=direct). */
export const POSTGRES_ALPN = 'postgresql';

/** Reads a PEM file named by `option`; an unreadable one is a ConfigError naming the option and why. */
export function readPem(path: string, option: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new ConfigError(
      `${option}: cannot read "${path}" (${(error as NodeJS.ErrnoException).code ?? error})`,
      option,
      {
        cause: error,
      },
    );
  }
}

/**
 * node:tls options for `host` under `settings.sslmode`. As in libpq, `require` verifies the chain when a
 * root certificate file was given explicitly; `verify-ca` checks the chain only; `verify-full` also the
 * host name. `sslrootcert=system` trusts the system's CA store.
 */
export function tlsOptions(host: string, settings: TlsSettings): TlsOptions {
  const { sslmode } = settings;
  const verifyChain =
    sslmode === 'verify-ca' ||
    sslmode === 'verify-full' ||
    (sslmode === 'require' && settings.sslrootcert !== undefined);
  const options: TlsOptions = { host, rejectUnauthorized: verifyChain };
  // SNI carries host names only; libpq omits it for IP addresses too.
  if (isIP(host) === 0) options.servername = host;
  if (verifyChain && settings.sslrootcert !== undefined && settings.sslrootcert !== 'system') {
    options.ca = readPem(settings.sslrootcert, 'sslrootcert');
  }
  if (verifyChain && sslmode !== 'verify-full') {
    options.checkServerIdentity = () => undefined;
  } else if (sslmode === 'verify-full') {
    options.checkServerIdentity = (name, cert) => checkServerIdentity(name, cert);
  }
  if (settings.sslcert !== undefined || settings.sslkey !== undefined) {
    Object.assign(options, clientCertificate(settings.sslcert, settings.sslkey));
  }
  return options;
}

/**
 * The client certificate and its key, checked before any connection: a missing half, or a key that does
 * not match the certificate, is a configuration mistake that no retry can heal, so it must not surface
 * as a lost connection mid-handshake.
 */
function clientCertificate(
  certPath: string | undefined,
  keyPath: string | undefined,
): { cert: Buffer; key: Buffer } {
  if (certPath === undefined) {
    throw new ConfigError('sslkey is set but sslcert is not: give both, or neither', 'sslcert');
  }
  if (keyPath === undefined) {
    throw new ConfigError('sslcert is set but sslkey is not: give both, or neither', 'sslkey');
  }
  const cert = readPem(certPath, 'sslcert');
  refuseExposedKey(keyPath);
  const key = readPem(keyPath, 'sslkey');
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError(
      `sslkey: "${keyPath}" cannot be used with the certificate "${certPath}" (${reason}); ` +
        'check that the key belongs to the certificate and is not encrypted',
      'sslkey',
      { cause: error },
    );
  }
  return { cert, key };
}

/**
 * libpq's rule for the client's private key: a key others can read is treated as compromised and refused,
 * so a user who moves from psql to pgnudge gets the same answer. Root-owned keys may be group-readable
 * (0640), for keys shared with a service group.
 */
function refuseExposedKey(path: string): void {
  let stat: Stats;
  try {
    stat = statSync(path);
  } catch {
    return; // readPem reports the missing file with its reason.
  }
  if (!stat.isFile()) return;
  const ownedByRoot = stat.uid === 0;
  const allowed = ownedByRoot ? 0o640 : 0o600;
  if ((stat.mode & 0o777 & ~allowed) !== 0) {
    const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
    throw new ConfigError(
      `sslkey: "${path}" has mode ${mode}, readable by others; ` +
        `run chmod ${ownedByRoot ? '0640' : '0600'} "${path}" (libpq refuses it too)`,
      'sslkey',
    );
  }
}

/**
 * Socket errnos that end a handshake without saying anything about TLS: the peer reset or vanished (a
 * restarting server, a failover, a flaky route). Retrying can heal them (contract R11), so they surface as a
 * ConnectionError; verification failures and protocol alerts stay a TlsError.
 */
const TRANSIENT_SOCKET_ERRORS: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
]);

/**
 * Upgrades `socket` to TLS (after the server answered an SSLRequest with `S`, or at once for direct
 * TLS). Resolves once the handshake completed and the certificate passed the sslmode's checks.
 */
export function startTls(
  socket: Socket,
  host: string,
  settings: TlsSettings,
  direct: boolean,
): Promise<TLSSocket> {
  const options: TlsOptions = { ...tlsOptions(host, settings), socket };
  if (direct) options.ALPNProtocols = [POSTGRES_ALPN];
  return handshake(tlsConnect(options), host, settings, direct);
}

/**
 * Direct TLS (sslnegotiation=direct) on a connection node:tls opens itself: only then does Node take
 * `onread`, which reads into the caller's memory instead of a stream chunk per TLS record
 * (slab-reads.ts). `socket` is returned at once, so that an abandoned attempt can destroy it.
 */
export function connectDirectTls(
  host: string,
  port: number,
  settings: TlsSettings,
  onread: OnReadOpts,
): { socket: TLSSocket; secured: Promise<TLSSocket> } {
  const socket = tlsConnect({
    ...tlsOptions(host, settings),
    port,
    ALPNProtocols: [POSTGRES_ALPN],
    onread,
  } as TlsOptions & { onread: OnReadOpts });
  return { socket, secured: handshake(socket, host, settings, true) };
}

/** Resolves with `secure` once its handshake completed and the certificate passed the sslmode's checks. */
function handshake(
  secure: TLSSocket,
  host: string,
  settings: TlsSettings,
  direct: boolean,
): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (error: Error) => {
      if (settled) return;
      settled = true;
      secure.destroy();
      // Node reports a close before the handshake ended as ECONNRESET ("socket disconnected before
      // secure TLS connection was established"): the link was lost, not refused.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== undefined && TRANSIENT_SOCKET_ERRORS.has(code)) {
        reject(
          new ConnectionError(
            'PGNUDGE_ERR_CONNECTION',
            `connection to ${host} lost during the TLS handshake: ${code}`,
            {
              cause: error,
            },
          ),
        );
        return;
      }
      const hint =
        settings.sslmode === 'verify-full' || settings.sslmode === 'verify-ca'
          ? ' Check that sslrootcert names the CA that signed the server certificate, and (verify-full) that the host name matches it.'
          : '';
      reject(new TlsError(`TLS handshake with ${host} failed: ${error.message}.${hint}`, { cause: error }));
    };
    const closedEarly = () =>
      fail(
        Object.assign(new Error('the connection closed before the TLS handshake ended'), {
          code: 'ECONNRESET',
        }),
      );
    secure.once('error', fail);
    secure.once('close', closedEarly);
    secure.once('secureConnect', () => {
      settled = true;
      secure.off('error', fail);
      secure.off('close', closedEarly);
      if (direct && secure.alpnProtocol !== POSTGRES_ALPN) {
        secure.destroy();
        reject(
          new TlsError(
            `${host} did not negotiate ALPN "${POSTGRES_ALPN}"; direct TLS needs PostgreSQL 17 or newer.`,
          ),
        );
        return;
      }
      resolve(secure);
    });
  });
}

/** The DER bytes of the server's leaf certificate, for tls-server-end-point channel binding. */
export function peerCertificateDer(socket: TLSSocket): Uint8Array | null {
  const certificate = socket.getPeerX509Certificate?.();
  return certificate ? new Uint8Array(certificate.raw) : null;
}

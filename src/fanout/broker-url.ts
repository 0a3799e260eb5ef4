// Broker addresses (contract R30): `redis://HOST:PORT/CHANNEL`, `rediss://` (TLS) and `nats://HOST:PORT/SUBJECT`,
// credentials in the URL or the broker's usual environment variables; a `rediss://` URL may name the CA to
// verify the server against as `?sslrootcert=PATH`, libpq's name in a PostgreSQL URL. Pure: the
// environment is passed in, and the CA file is read by the transport.
import { ConfigError } from '../errors.js';
import { printable } from '../logger.js';

/** The brokers a bridge can publish on and a consumer can read from. */
export type BrokerKind = 'redis' | 'nats';

/** A parsed broker URL. Its credentials never reach `target` nor any message. */
export interface BrokerAddress {
  readonly kind: BrokerKind;
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  /** The Redis channel or the NATS subject. */
  readonly channel: string;
  readonly username: string | undefined;
  readonly password: string | undefined;
  /**
   * `rediss://` only: the PEM file of the CA(s) the server's certificate must chain to, instead of the
   * system's (`?sslrootcert=PATH`); undefined for the system's CAs (also `?sslrootcert=system`).
   */
  readonly sslrootcert: string | undefined;
  /** The URL without credentials, for messages and logs. */
  readonly target: string;
  /**
   * The name the channel's keys are derived from: the transport and the channel, so that a message
   * signed for one transport or channel verifies on no other (a NOTIFY channel's keys use its bare name).
   */
  readonly keyName: string;
}

const DEFAULT_PORTS: Record<BrokerKind, number> = { redis: 6379, nats: 4222 };

/** Redis pub/sub channels are binary-safe; this bounds one to a sane name of printable text. */
const REDIS_CHANNEL = /^[^\s\p{Cc}]{1,256}$/u;

/** A NATS subject one publishes on: dot-separated tokens without wildcards or whitespace. */
const NATS_SUBJECT = /^[^\s.*>\p{Cc}]+(\.[^\s.*>\p{Cc}]+)*$/u;

/**
 * Parses a broker URL given as `option` (`to`, `from`, `--to`, ...). `env` supplies credentials the URL
 * lacks: `REDISCLI_AUTH` (Redis's password, as redis-cli reads it), `NATS_USER` and `NATS_PASSWORD`.
 */
export function parseBrokerUrl(
  text: unknown,
  option: string,
  env: Record<string, string | undefined>,
): BrokerAddress {
  if (typeof text !== 'string') {
    throw new ConfigError(`${option} must be a broker URL string (redis://, rediss:// or nats://)`, option);
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // Never echoed: a URL that failed to parse may still hold a password.
    throw new ConfigError(
      `${option} is not a URL; expected redis://HOST:PORT/CHANNEL, rediss://HOST:PORT/CHANNEL or nats://HOST:PORT/SUBJECT`,
      option,
    );
  }
  const scheme = url.protocol.slice(0, -1);
  const kind: BrokerKind | null =
    scheme === 'redis' || scheme === 'rediss' ? 'redis' : scheme === 'nats' ? 'nats' : null;
  if (kind === null) {
    throw new ConfigError(
      `${option} has scheme "${printable(scheme)}"; pgnudge speaks redis://, rediss:// (TLS) and nats://`,
      option,
    );
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') throw new ConfigError(`${option} names no host`, option);
  const port = url.port === '' ? DEFAULT_PORTS[kind] : Number(url.port);
  const what = kind === 'redis' ? 'channel' : 'subject';
  if (url.hash !== '') {
    throw new ConfigError(`${option} takes no fragment: the path is the ${what}`, option);
  }
  const sslrootcert = rootCertParameter(url, scheme, option, what);
  let channel: string;
  try {
    channel = decodeURIComponent(url.pathname.slice(1));
  } catch {
    throw new ConfigError(`${option}'s ${what} is not valid percent-encoded UTF-8`, option);
  }
  const valid = kind === 'redis' ? REDIS_CHANNEL : NATS_SUBJECT;
  if (!valid.test(channel)) {
    throw new ConfigError(
      channel === ''
        ? `${option} names no ${what}: put it in the path, as in ${scheme}://${url.host}/orders`
        : `${option}'s ${what} "${printable(channel)}" is not valid: ${
            kind === 'redis'
              ? '1 to 256 characters without whitespace or control characters'
              : 'dot-separated tokens without whitespace or the wildcards * and >'
          }`,
      option,
    );
  }
  const credentials = urlCredentials(url, option);
  const username =
    credentials.username ?? (kind === 'nats' ? nonEmpty(env.NATS_USER) : undefined) ?? undefined;
  const password =
    credentials.password ??
    (kind === 'redis' ? nonEmpty(env.REDISCLI_AUTH) : nonEmpty(env.NATS_PASSWORD)) ??
    undefined;
  const hostText = host.includes(':') ? `[${host}]` : host;
  return {
    kind,
    host,
    port,
    tls: scheme === 'rediss',
    channel,
    username,
    password,
    sslrootcert,
    target: `${scheme}://${hostText}:${port}/${encodeURIComponent(channel)}`,
    keyName: `${kind}:${channel}`,
  };
}

/** The one query parameter a broker URL takes: `sslrootcert`, on `rediss://` only. */
function rootCertParameter(url: URL, scheme: string, option: string, what: string): string | undefined {
  const names = [...url.searchParams.keys()];
  if (names.length === 0) return undefined;
  const unknown = scheme === 'nats' ? names[0] : names.find((name) => name !== 'sslrootcert');
  if (unknown !== undefined) {
    const only =
      scheme === 'nats' ? '' : '; the only parameter is ?sslrootcert=PATH (the CA file of rediss://)';
    throw new ConfigError(
      `${option} takes no query parameter "${printable(unknown)}": the path is the ${what}${only}`,
      option,
    );
  }
  if (names.length > 1) throw new ConfigError(`${option} names sslrootcert more than once`, option);
  if (scheme !== 'rediss') {
    throw new ConfigError(
      `${option}: sslrootcert needs TLS; write rediss:// (redis:// is plain text)`,
      option,
    );
  }
  // Decoded as libpq decodes a URI's values: percent-escapes only. URLSearchParams would also read `+`
  // as a space, and a CA path may hold a `+`.
  const pair = url.search.slice(1).split('&')[0]!;
  const raw = pair.includes('=') ? pair.slice(pair.indexOf('=') + 1) : '';
  let path: string;
  try {
    path = decodeURIComponent(raw);
  } catch {
    throw new ConfigError(`${option}: sslrootcert is not valid percent-encoding`, option);
  }
  if (path === '') throw new ConfigError(`${option}: sslrootcert is empty; give the CA file's path`, option);
  return path === 'system' ? undefined : path;
}

function urlCredentials(url: URL, option: string): { username?: string; password?: string } {
  try {
    return {
      ...(url.username === '' ? {} : { username: decodeURIComponent(url.username) }),
      ...(url.password === '' ? {} : { password: decodeURIComponent(url.password) }),
    };
  } catch {
    throw new ConfigError(`${option}'s credentials are not valid percent-encoded UTF-8`, option);
  }
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

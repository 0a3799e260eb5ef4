// Connection settings with libpq's semantics (PG docs "Parameter Key Words", "Environment Variables", "The
// Password File"): explicit options > connection string > PG* environment > defaults, checked, resolved once.
// Pure: files, the home directory and the OS user come in through `io`; the socket shell does the I/O.
//
// Deliberately different from libpq, or left out (each refused parameter throws ConfigError, never ignored):
// - Default host is `localhost`, not libpq's compiled-in socket directory (no filesystem probing here).
// - An empty value (`host=''`, `PGSSLMODE=`, `user: ''`) counts as not given at that level, so the next
//   source applies; libpq lets an empty connection-string value hide the environment.
// - `hostaddr` is used as the host when no host is given; host and hostaddr together are refused (libpq
//   would connect to hostaddr and verify TLS against host). hostaddr must be a numeric IP address.
// - `connect_timeout` below 0 is refused (libpq: wait forever); 0 means no timeout (`connectTimeoutMs` 0);
//   1 s is raised to 2 s like libpq. The library option `connectTimeout` is milliseconds, a duration like
//   every other (option-rules.ts), 0 included.
// - Refused: `replication`, `options`/PGOPTIONS, `service`/PGSERVICE, `servicefile`, `gssencmode=require`,
//   `target_session_attrs` other than `any`, and every other libpq keyword not listed in SUPPORTED_KEYWORDS
//   (client_encoding, sslcrl, sslcrldir, sslsni, sslpassword, sslcertmode, sslcompression, ssl_min/
//   max_protocol_version, require_auth, requirepeer, krbsrvname, gsslib, gssdelegation, load_balance_hosts,
//   tcp_user_timeout, min/max_protocol_version, oauth_*). Their PG* variables are ignored.
// - Accepted and ignored: `gssencmode` disable/prefer (no GSSAPI), `keepalives*` (Node sets keepalive).
// - Not done here: `sslcert`/`sslkey` defaults (~/.postgresql/postgresql.crt/.key when present), libpq's
//   "require acts as verify-ca when ~/.postgresql/root.crt exists", the password file's type, permission and
//   size checks (`io.readPasswordFile` does them, before reading), Windows paths (%APPDATA%\postgresql),
//   `@abstract` sockets, `dbname` holding a whole connection string, `~` expansion.

import { isIP } from 'node:net';
import { join } from 'node:path';
import { ConfigError } from '../errors.js';
import { duration } from '../option-rules.js';
import { parseConnectionString, redactConnectionString } from './connection-string.js';
import { lookupPgpass, pgpassHostNames } from './pgpass.js';

export { formatKeyValue, parseConnectionString, redactConnectionString } from './connection-string.js';

/** libpq's `sslmode`, with libpq's meaning. */
export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
/** libpq's `channel_binding`. */
export type ChannelBindingMode = 'disable' | 'prefer' | 'require';
/** libpq's `sslnegotiation` (PostgreSQL 17+ for `direct`). */
export type SslNegotiation = 'postgres' | 'direct';
/** A password, or a function returning one (rotating cloud IAM tokens); called once per connection attempt. */
export type PasswordSource = string | (() => string | Promise<string>);

/** What a user may pass (all optional). Library option names are camelCase; durations are milliseconds. */
export interface ConnectionOptions {
  /** A `postgres://` / `postgresql://` URL or a libpq `key=value` string. */
  connectionString?: string;
  /** Host name, IP address, or absolute path of a Unix socket directory; a comma list like libpq. */
  host?: string;
  port?: number;
  user?: string;
  password?: PasswordSource;
  database?: string;
  sslmode?: SslMode;
  /** A file path, or `'system'` for the system's trusted CAs (implies `verify-full`, as in libpq). */
  sslrootcert?: string;
  sslcert?: string;
  sslkey?: string;
  sslnegotiation?: SslNegotiation;
  channelBinding?: ChannelBindingMode;
  /** Milliseconds; 0 means no timeout. (libpq's `connect_timeout` and PGCONNECT_TIMEOUT are seconds.) */
  connectTimeout?: number;
  applicationName?: string;
  /** Password file path (default PGPASSFILE, then `~/.pgpass`). */
  passfile?: string;
}

/** Every {@link ConnectionOptions} key; `satisfies` keeps the list complete when an option is added. */
export const CONNECTION_OPTION_NAMES: readonly string[] = Object.keys({
  connectionString: true,
  host: true,
  port: true,
  user: true,
  password: true,
  database: true,
  sslmode: true,
  sslrootcert: true,
  sslcert: true,
  sslkey: true,
  sslnegotiation: true,
  channelBinding: true,
  connectTimeout: true,
  applicationName: true,
  passfile: true,
} satisfies Record<keyof ConnectionOptions, true>);

/** One server to try, in order. */
export interface ConnectionTarget {
  /** Host name or IP address, or a Unix socket directory when it starts with '/' (see {@link unixSocketPath}). */
  host: string;
  port: number;
  /**
   * The password-file password for this very host, present only when no password came from elsewhere.
   * Use `target.password ?? settings.password`: password-file entries are per host and must not leak to another.
   */
  password?: string;
}

/** Fully resolved settings, ready for the socket shell. */
export interface ConnectionSettings {
  /** At least one; tried in order, as libpq does with a host list. */
  hosts: ConnectionTarget[];
  user: string;
  database: string;
  /**
   * From options, the connection string, PGPASSWORD, or else the password file when every host found
   * the same password there (otherwise see {@link ConnectionTarget.password}).
   */
  password: PasswordSource | undefined;
  sslmode: SslMode;
  /** A path, `'system'`, or undefined; defaults to `~/.postgresql/root.crt` for verify-ca/verify-full. */
  sslrootcert: string | undefined;
  sslcert: string | undefined;
  sslkey: string | undefined;
  sslnegotiation: SslNegotiation;
  channelBinding: ChannelBindingMode;
  /** Per host; 0 means no timeout (like libpq's 0, and Node's `socket.setTimeout(0)`). Default 10000. */
  connectTimeoutMs: number;
  applicationName: string | undefined;
  /** Extra startup parameters. Always empty: `options=` and PGOPTIONS are refused; reserved for later. */
  options: Record<string, string>;
}

/**
 * What reading the password file gave: its text; `{ ignored }` with the reason (completing "password file
 * <path> …") for a file that exists but must not be used; undefined for a file that is missing or
 * cannot be opened, which libpq skips without a word.
 */
export type PasswordFileRead = string | { ignored: string } | undefined;

/** The outside world, injected so resolution stays pure and testable. */
export interface SettingsIo {
  /**
   * Reads the password file the way libpq checks it: the type (a regular file) and the permissions (no
   * group or world access) first, and the contents only then (settings-io.ts also caps the size).
   */
  readPasswordFile(path: string): PasswordFileRead;
  /** The user's home directory ('' when unknown). */
  homedir: string;
  /** Unused; accepted for the shell's convenience. */
  uid?: number;
  /** The OS user name, libpq's default `user`. */
  username?: string;
  /** Receives warnings such as an ignored password file. */
  warn?(message: string): void;
}

const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];
const CHANNEL_BINDING_MODES: readonly ChannelBindingMode[] = ['disable', 'prefer', 'require'];
const SSL_NEGOTIATIONS: readonly SslNegotiation[] = ['postgres', 'direct'];
const GSSENC_MODES = ['disable', 'prefer', 'require'] as const;
const TARGET_SESSION_ATTRS = [
  'any',
  'read-write',
  'read-only',
  'primary',
  'standby',
  'prefer-standby',
] as const;

/** Default port, host, timeout and application name (contract §3, libpq). */
export const DEFAULT_PORT = 5432;
export const DEFAULT_HOST = 'localhost';
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_APPLICATION_NAME = 'pgnudge';

// The environment variables read, by libpq keyword.
const ENV_BY_KEYWORD: Readonly<Record<string, string>> = {
  host: 'PGHOST',
  hostaddr: 'PGHOSTADDR',
  port: 'PGPORT',
  user: 'PGUSER',
  password: 'PGPASSWORD',
  dbname: 'PGDATABASE',
  sslmode: 'PGSSLMODE',
  sslrootcert: 'PGSSLROOTCERT',
  sslcert: 'PGSSLCERT',
  sslkey: 'PGSSLKEY',
  sslnegotiation: 'PGSSLNEGOTIATION',
  channel_binding: 'PGCHANNELBINDING',
  connect_timeout: 'PGCONNECT_TIMEOUT',
  application_name: 'PGAPPNAME',
  passfile: 'PGPASSFILE',
  gssencmode: 'PGGSSENCMODE',
  target_session_attrs: 'PGTARGETSESSIONATTRS',
};

// String-valued library options, by libpq keyword (port, password and connectTimeout are typed apart).
const OPTION_BY_KEYWORD: Readonly<Record<string, keyof ConnectionOptions>> = {
  host: 'host',
  user: 'user',
  dbname: 'database',
  sslmode: 'sslmode',
  sslrootcert: 'sslrootcert',
  sslcert: 'sslcert',
  sslkey: 'sslkey',
  sslnegotiation: 'sslnegotiation',
  channel_binding: 'channelBinding',
  application_name: 'applicationName',
  passfile: 'passfile',
};

/** A value and where it came from: `name` is what the user wrote (an option, keyword or variable). */
interface Given {
  value: string;
  name: string;
  from: 'option' | 'connection string' | 'environment';
}

function describeGiven(given: Given): string {
  return given.from === 'environment' ? given.name : `${given.from} ${given.name}`;
}

const URL_SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
/** `keyword=` at the start or after a space: key=value text, not a socket directory that happens to hold `=`. */
const KEY_VALUE = /(?:^|\s)[A-Za-z_][A-Za-z0-9_]*\s*=/;

/**
 * A user-given value, quoted for an error message, never showing a password it may carry: a URL has its
 * password redacted, user info before an `@` is hidden, and key=value text (a misquoted connection
 * string) is redacted as one.
 */
function quoteValue(value: string): string {
  if (URL_SCHEME.test(value)) return `"${redactConnectionString(value)}"`;
  const at = value.lastIndexOf('@');
  if (at >= 0) return `"***@${quoteValue(value.slice(at + 1)).slice(1, -1)}"`;
  if (value.includes('=')) return `"${redactConnectionString(value)}"`;
  return `"${value}"`;
}

/**
 * Resolves options, a connection string and the `PG*` environment into one set of settings, in libpq's
 * order of precedence, and looks up the password file per host when no password was given. Throws
 * {@link ConfigError} naming the parameter and the accepted values for anything invalid or unsupported.
 */
export function resolveConnectionSettings(
  options: ConnectionOptions,
  env: NodeJS.ProcessEnv | Record<string, string | undefined>,
  io: SettingsIo,
): ConnectionSettings {
  if (options === null || typeof options !== 'object')
    throw new ConfigError('options must be an object', 'options');
  const text = options.connectionString;
  if (text !== undefined && typeof text !== 'string') {
    throw new ConfigError('connectionString must be a string', 'connectionString');
  }
  const parsed = text === undefined || text === '' ? {} : parseConnectionString(text);
  for (const variable of ['PGOPTIONS', 'PGSERVICE', 'PGSERVICEFILE']) {
    if (nonEmpty(env[variable]) !== undefined) {
      throw new ConfigError(
        `${variable} is set, but ${variable === 'PGOPTIONS' ? 'startup options are' : 'connection service files are'} not supported by pgnudge; unset it`,
        variable,
      );
    }
  }

  const given = (keyword: string): Given | undefined => {
    const optionName = OPTION_BY_KEYWORD[keyword];
    if (optionName !== undefined) {
      const value = options[optionName];
      if (value !== undefined && typeof value !== 'string') {
        throw new ConfigError(`${optionName} must be a string, not ${typeof value}`, optionName);
      }
      // Refused here, before any connection; at the socket it would only surface mid-handshake.
      if (value?.includes('\0')) {
        throw new ConfigError(
          `${optionName} contains a NUL character, which PostgreSQL cannot accept`,
          optionName,
        );
      }
      if (nonEmpty(value) !== undefined) return { value: value!, name: optionName, from: 'option' };
    }
    const fromString = nonEmpty(parsed[keyword]);
    if (fromString !== undefined) return { value: fromString, name: keyword, from: 'connection string' };
    const variable = ENV_BY_KEYWORD[keyword];
    const fromEnv = variable === undefined ? undefined : nonEmpty(env[variable]);
    if (fromEnv !== undefined) return { value: fromEnv, name: variable!, from: 'environment' };
    return undefined;
  };

  // Accepted for libpq compatibility, checked, and otherwise ignored.
  const gssencmode = given('gssencmode');
  if (oneOf(gssencmode, GSSENC_MODES, 'gssencmode') === 'require') {
    throw new ConfigError(
      'gssencmode "require" cannot be met: pgnudge does not support GSSAPI encryption; use disable or prefer',
      gssencmode!.name,
    );
  }
  const sessionAttrs = given('target_session_attrs');
  const sessionAttrsValue = oneOf(sessionAttrs, TARGET_SESSION_ATTRS, 'target_session_attrs');
  if (sessionAttrsValue !== undefined && sessionAttrsValue !== 'any') {
    throw new ConfigError(
      `target_session_attrs "${sessionAttrsValue}" is not supported by pgnudge (only "any"); name the server to use as host`,
      sessionAttrs!.name,
    );
  }
  for (const keyword of ['keepalives', 'keepalives_idle', 'keepalives_interval', 'keepalives_count']) {
    const value = given(keyword);
    if (value !== undefined && !/^\s*\d+\s*$/.test(value.value)) {
      throw new ConfigError(
        `${describeGiven(value)} ${quoteValue(value.value)} is not a non-negative integer`,
        value.name,
      );
    }
  }

  const hosts = resolveHosts(given('host'), given('hostaddr'));
  const ports = resolvePorts(options.port, given('port'), hosts.length);
  const user = given('user')?.value ?? nonEmpty(io.username);
  if (user === undefined) {
    throw new ConfigError(
      'no user name: set the user option, user= in the connection string, or PGUSER',
      'user',
    );
  }
  const database = given('dbname')?.value ?? user;

  let sslmode = oneOf(given('sslmode'), SSL_MODES, 'sslmode');
  let sslrootcert = given('sslrootcert')?.value;
  if (sslrootcert === 'system') {
    // libpq: trusting every system CA is only safe when the host name is checked too.
    if (sslmode === undefined) sslmode = 'verify-full';
    else if (sslmode !== 'verify-full') {
      throw new ConfigError(
        `sslmode "${sslmode}" is too weak for sslrootcert=system; use sslmode "verify-full"`,
        'sslmode',
      );
    }
  }
  sslmode ??= 'prefer';
  if ((sslmode === 'verify-ca' || sslmode === 'verify-full') && sslrootcert === undefined) {
    if (io.homedir === '') {
      throw new ConfigError(
        `sslmode "${sslmode}" needs sslrootcert (no home directory to find ~/.postgresql/root.crt in)`,
        'sslrootcert',
      );
    }
    sslrootcert = join(io.homedir, '.postgresql', 'root.crt');
  }

  const sslnegotiation = oneOf(given('sslnegotiation'), SSL_NEGOTIATIONS, 'sslnegotiation') ?? 'postgres';
  if (
    sslnegotiation === 'direct' &&
    !(sslmode === 'require' || sslmode === 'verify-ca' || sslmode === 'verify-full')
  ) {
    throw new ConfigError(
      `sslnegotiation "direct" needs sslmode "require", "verify-ca" or "verify-full", not "${sslmode}"`,
      'sslnegotiation',
    );
  }
  const channelBinding =
    oneOf(given('channel_binding'), CHANNEL_BINDING_MODES, 'channel_binding') ?? 'prefer';
  if (channelBinding === 'require' && sslmode === 'disable') {
    // Channel binding exists only over TLS, so this pair could never connect; say so before trying.
    throw new ConfigError(
      'channel_binding "require" needs TLS, but sslmode is "disable"; raise sslmode or lower channel_binding',
      'channel_binding',
    );
  }

  const targets: ConnectionTarget[] = hosts.map((host, index) => ({ host, port: ports[index] ?? ports[0]! }));
  let password = resolvePassword(options.password, given('password'));
  if (password === undefined) password = fromPasswordFile(targets, user, database, given('passfile'), io);

  return {
    hosts: targets,
    user,
    database,
    password,
    sslmode,
    sslrootcert,
    sslcert: given('sslcert')?.value,
    sslkey: given('sslkey')?.value,
    sslnegotiation,
    channelBinding,
    connectTimeoutMs: resolveConnectTimeout(options.connectTimeout, given('connect_timeout')),
    applicationName:
      given('application_name')?.value ??
      nonEmpty(parsed.fallback_application_name) ??
      DEFAULT_APPLICATION_NAME,
    options: {},
  };
}

function nonEmpty(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function oneOf<T extends string>(
  given: Given | undefined,
  accepted: readonly T[],
  keyword: string,
): T | undefined {
  if (given === undefined) return undefined;
  if ((accepted as readonly string[]).includes(given.value)) return given.value as T;
  const source = given.name === keyword ? '' : ` (from ${describeGiven(given)})`;
  throw new ConfigError(
    `${keyword} ${quoteValue(given.value)}${source} is not one of ${accepted.join(', ')}`,
    given.name,
  );
}

function resolveHosts(host: Given | undefined, hostaddr: Given | undefined): string[] {
  if (host !== undefined && hostaddr !== undefined) {
    throw new ConfigError(
      `both host (${describeGiven(host)}) and hostaddr (${describeGiven(hostaddr)}) are set; pgnudge connects ` +
        'by host and does not support hostaddr beside it: give just one',
      hostaddr.name,
    );
  }
  if (host === undefined && hostaddr === undefined) return [DEFAULT_HOST];
  const list = (host ?? hostaddr)!;
  // A whole URL (or key=value string) given as the host: refused before splitting on commas, which could
  // cut a password in two and let its first half pass as a host name.
  if (URL_SCHEME.test(list.value) || KEY_VALUE.test(list.value)) {
    throw new ConfigError(
      `${describeGiven(list)} ${quoteValue(list.value)} is a connection string, not a host name, IP address or ` +
        'absolute socket directory: pass it as connectionString (--dsn in the CLI), or give only the host name here',
      list.name,
    );
  }
  return list.value.split(',').map((entry) => {
    // An empty entry means the default host, as in libpq.
    if (entry === '') return DEFAULT_HOST;
    if (URL_SCHEME.test(entry) || entry.lastIndexOf('@') > 0 || KEY_VALUE.test(entry)) {
      // Never echoed as given: user info or key=value text may hold a password.
      throw new ConfigError(
        `${describeGiven(list)} ${quoteValue(entry)} is not a host name, IP address or absolute socket directory: ` +
          'it holds user info or a connection string (shown with any password hidden). Pass a connection URL ' +
          'as connectionString (--dsn in the CLI), the user and password as their own settings (user and ' +
          'password, PGUSER and PGPASSWORD, or ~/.pgpass), and only the host name here',
        list.name,
      );
    }
    if (list === hostaddr && isIP(entry) === 0) {
      throw new ConfigError(`${describeGiven(list)} "${entry}" is not a numeric IP address`, list.name);
    }
    if (/[\s\0-\x1f\x7f@]/.test(entry)) {
      throw new ConfigError(
        `${describeGiven(list)} "${entry}" is not a host name, IP address or absolute socket directory`,
        list.name,
      );
    }
    return entry;
  });
}

function checkPort(port: number, name: string, shown: string): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ConfigError(`${name} ${shown} is not a port number (an integer from 1 to 65535)`, name);
  }
  return port;
}

function resolvePorts(option: unknown, given: Given | undefined, hostCount: number): number[] {
  if (option !== undefined) {
    if (typeof option !== 'number')
      throw new ConfigError(`port must be a number, not ${typeof option}`, 'port');
    return [checkPort(option, 'port', String(option))];
  }
  if (given === undefined) return [DEFAULT_PORT];
  const ports = given.value.split(',').map((entry) => {
    const trimmed = entry.trim();
    if (trimmed === '') return DEFAULT_PORT;
    const shown = `${quoteValue(entry)}${given.from === 'connection string' ? ' (in the connection string)' : ''}`;
    if (!/^\d{1,5}$/.test(trimmed)) checkPort(Number.NaN, given.name, shown);
    return checkPort(Number(trimmed), given.name, shown);
  });
  if (ports.length !== 1 && ports.length !== hostCount) {
    throw new ConfigError(
      `${describeGiven(given)} lists ${ports.length} ports for ${hostCount} hosts; give one port, or one per host`,
      given.name,
    );
  }
  return ports;
}

function resolvePassword(option: unknown, given: Given | undefined): PasswordSource | undefined {
  if (typeof option === 'function') return option as () => string | Promise<string>;
  if (option !== undefined && typeof option !== 'string') {
    // Only the type is named: the value may be a secret.
    throw new ConfigError(
      `password must be a string or a function returning one, not ${typeof option}`,
      'password',
    );
  }
  // The value is never shown: it is a secret.
  if (typeof option === 'string' && option.includes('\0')) {
    throw new ConfigError('password contains a NUL character, which PostgreSQL cannot accept', 'password');
  }
  return nonEmpty(option) ?? given?.value;
}

function fromPasswordFile(
  targets: ConnectionTarget[],
  user: string,
  database: string,
  passfile: Given | undefined,
  io: SettingsIo,
): string | undefined {
  const path = passfile?.value ?? (io.homedir === '' ? undefined : join(io.homedir, '.pgpass'));
  if (path === undefined) return undefined;
  let read: PasswordFileRead;
  try {
    read = io.readPasswordFile(path);
  } catch {
    // libpq silently skips a password file it cannot open.
    read = undefined;
  }
  // A missing file is the common case and says nothing; only a file that exists can be refused.
  if (read === undefined) return undefined;
  if (typeof read !== 'string') {
    io.warn?.(`password file "${path}" is ignored: it ${read.ignored}`);
    return undefined;
  }
  const text = read;
  const found = targets.map((target) =>
    lookupPgpass(text, { hosts: pgpassHostNames(target.host), port: target.port, database, user }),
  );
  targets.forEach((target, index) => {
    const password = found[index];
    if (password !== undefined) target.password = password;
  });
  // One shared password is safe to expose as settings.password; differing ones stay per host.
  const first = found[0];
  return first !== undefined && found.every((password) => password === first) ? first : undefined;
}

function resolveConnectTimeout(option: unknown, given: Given | undefined): number {
  // 0 means no timeout.
  if (option !== undefined) return duration('connectTimeout', option, 0);
  if (given === undefined) return DEFAULT_CONNECT_TIMEOUT_MS;
  const trimmed = given.value.trim();
  if (!/^\d+$/.test(trimmed)) {
    throw new ConfigError(
      `${describeGiven(given)} ${quoteValue(given.value)} is not a non-negative whole number of seconds (0 means no timeout)`,
      given.name,
    );
  }
  const seconds = Number(trimmed);
  // libpq raises 1 s to 2 s: a timer that fires before a TCP round trip can finish only causes failures.
  return seconds === 0 ? 0 : Math.max(seconds, 2) * 1000;
}

/** The Unix socket file for a target whose host is a socket directory, else undefined. */
export function unixSocketPath(target: { host: string; port: number }): string | undefined {
  if (!target.host.startsWith('/')) return undefined;
  const dir = target.host.length > 1 ? target.host.replace(/\/+$/, '') : '';
  return `${dir}/.s.PGSQL.${target.port}`;
}

/** One target for messages: `host:port`, `[::1]:5432`, or the socket file path. */
export function describeHost(target: { host: string; port: number }): string {
  const socket = unixSocketPath(target);
  if (socket !== undefined) return socket;
  return target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}

/** Where the settings point, for logs and errors: `user@host:port[,host:port…]/database`. Never the password. */
export function describeTarget(settings: ConnectionSettings): string {
  return `${settings.user}@${settings.hosts.map(describeHost).join(',')}/${settings.database}`;
}

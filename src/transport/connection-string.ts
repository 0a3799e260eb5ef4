// Connection strings as libpq reads them (PG docs "Connection Strings"): key=value text and postgres:// URLs
// into libpq keywords, key=value formatting, and password redaction for logs. Pure text in, text out.
// Which keywords exist and which pgnudge refuses is decided here, once; resolving values is settings.ts's job.

import { ConfigError } from '../errors.js';

/** libpq keywords pgnudge accepts in a connection string (values are checked by `resolveConnectionSettings`). */
export const SUPPORTED_KEYWORDS: ReadonlySet<string> = new Set([
  'host',
  'hostaddr',
  'port',
  'user',
  'password',
  'dbname',
  'sslmode',
  'sslrootcert',
  'sslcert',
  'sslkey',
  'sslnegotiation',
  'channel_binding',
  'connect_timeout',
  'application_name',
  'fallback_application_name',
  'passfile',
  'target_session_attrs',
  'gssencmode',
  'keepalives',
  'keepalives_idle',
  'keepalives_interval',
  'keepalives_count',
]);

// Real libpq keywords that pgnudge refuses, with the reason given to the user. Refusing beats ignoring:
// each of them changes where or how libpq would connect, so silently dropping one would surprise.
const REFUSED_KEYWORDS: Readonly<Record<string, string>> = {
  replication: 'pgnudge opens its replication connections itself; remove replication=',
  options:
    'startup options (options=, PGOPTIONS) are not supported by pgnudge; set server parameters with ALTER ROLE ... SET instead',
  service:
    'connection service files (service=, PGSERVICE) are not supported by pgnudge; give the settings directly',
  servicefile:
    'connection service files (servicefile=, PGSERVICEFILE) are not supported by pgnudge; give the settings directly',
};

// The rest of libpq's keywords (PostgreSQL 18): known, so the error says "not supported", not "unknown".
const UNSUPPORTED_LIBPQ_KEYWORDS: ReadonlySet<string> = new Set([
  'client_encoding',
  'requiressl',
  'sslcompression',
  'sslpassword',
  'sslcertmode',
  'sslcrl',
  'sslcrldir',
  'sslsni',
  'sslkeylogfile',
  'ssl_min_protocol_version',
  'ssl_max_protocol_version',
  'min_protocol_version',
  'max_protocol_version',
  'requirepeer',
  'require_auth',
  'krbsrvname',
  'gsslib',
  'gssdelegation',
  'load_balance_hosts',
  'tcp_user_timeout',
  'scram_client_key',
  'scram_server_key',
  'oauth_issuer',
  'oauth_client_id',
  'oauth_client_secret',
  'oauth_scope',
]);

const OPTION = 'connectionString';
const URL_PREFIXES = ['postgresql://', 'postgres://'] as const;
// Anything that looks like a URL is redacted as one, even with a scheme libpq would not accept.
const ANY_URL = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const REDACTED = '***';

/** Whether `keyword` would be accepted or at least recognised as libpq's (used to bound redaction). */
function isKnownKeyword(keyword: string): boolean {
  return (
    SUPPORTED_KEYWORDS.has(keyword) || keyword in REFUSED_KEYWORDS || UNSUPPORTED_LIBPQ_KEYWORDS.has(keyword)
  );
}

// A keyword is echoed in an error only when it looks like one: text after a mistyped password value could
// be the rest of that password.
// `secrets` are the password values seen, so that a name that happens to hold one is not echoed either.
function quoteKeyword(keyword: string, secrets: readonly string[] = []): string {
  if (secrets.some((secret) => secret !== '' && (secret.includes(keyword) || keyword.includes(secret)))) {
    return 'a parameter name';
  }
  return /^[A-Za-z0-9_.-]{1,64}$/.test(keyword) ? `"${keyword}"` : 'a malformed parameter name';
}

function checkKeyword(keyword: string, where: string, secrets: readonly string[]): void {
  if (SUPPORTED_KEYWORDS.has(keyword)) return;
  const refused = REFUSED_KEYWORDS[keyword];
  if (refused !== undefined) throw new ConfigError(`${keyword} ${where}: ${refused}`, keyword);
  if (UNSUPPORTED_LIBPQ_KEYWORDS.has(keyword)) {
    throw new ConfigError(
      `connection parameter "${keyword}" ${where} is a libpq parameter that pgnudge does not support; remove it`,
      keyword,
    );
  }
  throw new ConfigError(
    `unknown connection parameter ${quoteKeyword(keyword, secrets)} ${where}; accepted: ${[...SUPPORTED_KEYWORDS].join(', ')}`,
    OPTION,
  );
}

/** libpq splits on C `isspace`: ASCII whitespace only. */
function isSpace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\v' || c === '\f';
}

/**
 * Parses a libpq connection string, either a `postgres://` / `postgresql://` URL or `key=value` pairs,
 * into libpq keywords (last one wins on duplicates). Keywords are checked (unknown or unsupported ones
 * throw {@link ConfigError}); values are not, beyond decoding. No error message contains the password.
 */
export function parseConnectionString(text: string): Record<string, string> {
  if (typeof text !== 'string') throw new ConfigError('connectionString must be a string', OPTION);
  if (text.includes('\0')) throw new ConfigError('the connection string contains a NUL character', OPTION);
  if (URL_PREFIXES.some((prefix) => text.startsWith(prefix))) return parseUrl(text);
  const scheme = ANY_URL.exec(text);
  if (scheme !== null) {
    throw new ConfigError(
      `unsupported connection URL scheme in ${redactConnectionString(text)}; use postgres:// or postgresql://`,
      OPTION,
    );
  }
  const { pairs } = scanKeyValue(text, true);
  const secrets = pairs.filter((pair) => pair.keyword === 'password').map((pair) => pair.value);
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    checkKeyword(pair.keyword, 'in the connection string', secrets);
    out[pair.keyword] = pair.value;
  }
  return out;
}

interface KeyValuePair {
  keyword: string;
  value: string;
  /** Offset of the first character of the value as written (its opening quote, when quoted). */
  valueStart: number;
  valueEnd: number;
  quoted: boolean;
}

interface KeyValueScan {
  pairs: KeyValuePair[];
  /** Offset where scanning stopped on malformed text (only when not strict). */
  failedAt: number | undefined;
}

// One scanner for parsing (strict: throws) and redaction (lenient: reports where it stopped), so the two
// can never disagree about where a password value ends.
function scanKeyValue(text: string, strict: boolean): KeyValueScan {
  const pairs: KeyValuePair[] = [];
  let i = 0;
  let afterBarePassword = false;
  const secrets = () => pairs.filter((pair) => pair.keyword === 'password').map((pair) => pair.value);
  const fail = (pairStart: number, message: string): KeyValueScan => {
    if (strict) throw new ConfigError(message, OPTION);
    return { pairs, failedAt: pairStart };
  };
  // Text following an unquoted password may be more of that password (a space in it): never echo it.
  const suspect = () =>
    'malformed text after the password value in the connection string; quote a password containing spaces ' +
    "or quotes as password='...' and escape ' and \\ with a backslash";
  for (;;) {
    while (isSpace(text[i])) i++;
    if (i >= text.length) return { pairs, failedAt: undefined };
    const pairStart = i;
    while (i < text.length && !isSpace(text[i]) && text[i] !== '=') i++;
    const keyword = text.slice(pairStart, i);
    while (isSpace(text[i])) i++;
    if (text[i] !== '=') {
      return fail(
        pairStart,
        afterBarePassword
          ? suspect()
          : `missing "=" after ${quoteKeyword(keyword, secrets())} in the connection string (key=value pairs, or a postgres:// URL)`,
      );
    }
    if (keyword === '') return fail(pairStart, 'missing parameter name before "=" in the connection string');
    if (afterBarePassword && !isKnownKeyword(keyword)) return fail(pairStart, suspect());
    i++;
    // Like libpq, whitespace after "=" is skipped, so `a= b` sets a to "b"; an empty value must be ''.
    while (isSpace(text[i])) i++;
    const valueStart = i;
    let value = '';
    const quoted = text[i] === "'";
    if (quoted) {
      i++;
      let closed = false;
      while (i < text.length) {
        const c = text[i]!;
        if (c === '\\') {
          i++;
          if (i < text.length) value += text[i++];
          continue;
        }
        i++;
        if (c === "'") {
          closed = true;
          break;
        }
        value += c;
      }
      if (!closed) {
        return fail(
          pairStart,
          `unterminated quoted value for ${quoteKeyword(keyword, secrets())} in the connection string (missing closing ')`,
        );
      }
    } else {
      while (i < text.length && !isSpace(text[i])) {
        // A backslash takes the next character literally; a trailing one is dropped, as in libpq.
        if (text[i] === '\\') i++;
        if (i < text.length) value += text[i++];
      }
    }
    pairs.push({ keyword, value, valueStart, valueEnd: i, quoted });
    afterBarePassword = keyword === 'password' && !quoted;
  }
}

/**
 * Formats libpq keywords as a `key=value` connection string that {@link parseConnectionString} reads back
 * unchanged: values that are empty or hold whitespace, quotes or backslashes are single-quoted and escaped.
 */
export function formatKeyValue(params: Readonly<Record<string, string>>): string {
  const parts: string[] = [];
  for (const [keyword, value] of Object.entries(params)) {
    if (!/^[^\s=]+$/.test(keyword))
      throw new ConfigError(`cannot format parameter name ${quoteKeyword(keyword)}`, keyword);
    if (value.includes('\0'))
      throw new ConfigError(`the value of ${keyword} contains a NUL character`, keyword);
    const plain = value !== '' && !/[\s'\\]/.test(value);
    parts.push(`${keyword}=${plain ? value : `'${value.replace(/[\\']/g, '\\$&')}'`}`);
  }
  return parts.join(' ');
}

interface UrlParts {
  /** Offset (after the scheme) of the '@' that ends the user info, or -1. */
  at: number;
  /** The same, chosen so that a password holding a raw '@' or '/' is still covered; for redaction. */
  wideAt: number;
}

// libpq ends the user info at the first '@' before any '/'. A password with a raw '@' or '/' fools that, so
// redaction also considers the last '@' before the first '/' (or, with no user info, before the first '?').
function findUserInfo(rest: string): UrlParts {
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const at = authority.indexOf('@');
  if (at >= 0) return { at, wideAt: authority.lastIndexOf('@') };
  const question = rest.indexOf('?');
  return { at, wideAt: (question < 0 ? rest : rest.slice(0, question)).lastIndexOf('@') };
}

function schemeLength(text: string): number {
  const match = ANY_URL.exec(text);
  return match === null ? 0 : match[0].length;
}

function parseUrl(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const bad = (problem: string, option = OPTION) =>
    new ConfigError(`${problem} in the connection URL ${redactConnectionString(text)}`, option);
  const decode = (raw: string, part: string): string => {
    // libpq accepts only %XX with two hex digits and refuses %00; '+' stays a plus sign.
    if (/%(?![0-9A-Fa-f]{2})/.test(raw)) throw bad(`invalid percent-encoding in the ${part}`);
    let decoded: string;
    try {
      decoded = decodeURIComponent(raw);
    } catch {
      throw bad(`the percent-encoded ${part} is not valid UTF-8`);
    }
    if (decoded.includes('\0')) throw bad(`%00 is not allowed in the ${part}`);
    return decoded;
  };

  let rest = text.slice(schemeLength(text));
  const { at, wideAt } = findUserInfo(rest);
  if (at !== wideAt) {
    throw bad(
      'ambiguous "@" (percent-encode @ as %40 and / as %2F in the user name, password and database name)',
    );
  }
  if (at >= 0) {
    const info = rest.slice(0, at);
    const colon = info.indexOf(':');
    const user = colon < 0 ? info : info.slice(0, colon);
    if (user !== '') out.user = decode(user, 'user name');
    if (colon >= 0) out.password = decode(info.slice(colon + 1), 'password');
    rest = rest.slice(at + 1);
  }

  const hosts: string[] = [];
  const ports: string[] = [];
  let i = 0;
  for (;;) {
    if (rest[i] === '[') {
      const close = rest.indexOf(']', i);
      if (close < 0) throw bad('missing "]" after an IPv6 address');
      if (close === i + 1) throw bad('empty IPv6 address "[]"');
      hosts.push(rest.slice(i + 1, close));
      i = close + 1;
      if (i < rest.length && !':/?,'.includes(rest[i]!))
        throw bad('unexpected character after "]" (expected : / ? or ,)');
    } else {
      const start = i;
      while (i < rest.length && !':/?,'.includes(rest[i]!)) i++;
      hosts.push(rest.slice(start, i));
    }
    let port = '';
    if (rest[i] === ':') {
      const start = ++i;
      while (i < rest.length && !'/?,'.includes(rest[i]!)) i++;
      port = rest.slice(start, i);
    }
    ports.push(port);
    if (rest[i] !== ',') break;
    i++;
  }
  // An empty host list leaves host unset, so PGHOST and the default still apply (as in libpq).
  const hostList = hosts.join(',');
  if (hostList !== '') out.host = decode(hostList, 'host');
  // After a password, a port that is not a number is most likely the password's own tail: a raw "@"
  // ended the user info early (`user:p@ss:w/rd@host`). Say so, and echo neither the port nor the URL.
  if (out.password !== undefined && ports.some((port) => !/^\d*$/.test(port))) {
    throw new ConfigError(
      'the port in the connection URL is not a number, so its password probably holds a raw "@", ":" or "/": ' +
        'percent-encode them (@ as %40, : as %3A, / as %2F), or pass the password as PGPASSWORD or in ~/.pgpass',
      OPTION,
    );
  }
  // Deviation: libpq stores "," for two port-less hosts, which hides PGPORT; we leave port unset instead.
  if (ports.some((port) => port !== '')) out.port = decode(ports.join(','), 'port');

  if (rest[i] === '/') {
    const question = rest.indexOf('?', i);
    const dbname = rest.slice(i + 1, question < 0 ? undefined : question);
    if (dbname !== '') out.dbname = decode(dbname, 'database name');
    i = question < 0 ? rest.length : question;
  }
  if (rest[i] === '?') parseQuery(rest.slice(i + 1), out, bad, decode);
  return out;
}

function parseQuery(
  query: string,
  out: Record<string, string>,
  bad: (problem: string, option?: string) => ConfigError,
  decode: (raw: string, part: string) => string,
): void {
  const pairs: [keyword: string, value: string][] = [];
  let afterPassword = false;
  for (const piece of query.split('&')) {
    if (piece === '') continue;
    const eq = piece.indexOf('=');
    // After a password, a malformed piece may be the password's own tail (a raw '&'): say so, never echo it.
    if (eq < 0 || piece.indexOf('=', eq + 1) >= 0) {
      throw bad(
        afterPassword
          ? 'malformed query parameter after the password (percent-encode & as %26 and = as %3D)'
          : `query parameter without exactly one "=" (percent-encode = as %3D)`,
      );
    }
    let keyword = decode(piece.slice(0, eq), 'query parameter name');
    if (afterPassword && !isKnownKeyword(keyword) && keyword !== 'ssl') {
      throw bad('malformed query parameter after the password (percent-encode & as %26 and = as %3D)');
    }
    let value = decode(piece.slice(eq + 1), 'value of a query parameter');
    // JDBC's ssl=true, which libpq also accepts in URLs.
    if (keyword === 'ssl' && value === 'true') {
      keyword = 'sslmode';
      value = 'require';
    }
    pairs.push([keyword, value]);
    afterPassword = keyword === 'password';
  }
  const secrets = pairs.filter(([keyword]) => keyword === 'password').map(([, value]) => value);
  if (out.password !== undefined) secrets.push(out.password);
  for (const [keyword, value] of pairs) {
    checkKeyword(keyword, 'in the connection URL query', secrets);
    out[keyword] = value;
  }
}

/**
 * Returns `text` with every password removed, for logs and error messages. Handles URLs (the user info
 * and a `password` query parameter) and key=value strings. Errs towards hiding too much: text it cannot
 * parse after a password, or a malformed tail, is replaced by `***` as a whole.
 */
export function redactConnectionString(text: string): string {
  if (typeof text !== 'string') return REDACTED;
  return ANY_URL.test(text) ? redactUrl(text) : redactKeyValue(text);
}

function redactUrl(text: string): string {
  const prefixLength = schemeLength(text);
  let rest = text.slice(prefixLength);
  let head = text.slice(0, prefixLength);
  const { wideAt } = findUserInfo(rest);
  if (wideAt >= 0) {
    const info = rest.slice(0, wideAt);
    const colon = info.indexOf(':');
    head += colon < 0 ? `${info}@` : `${info.slice(0, colon)}:${REDACTED}@`;
    rest = rest.slice(wideAt + 1);
  }
  const question = rest.indexOf('?');
  if (question < 0) return head + rest;
  const pieces = rest.slice(question + 1).split('&');
  const kept: string[] = [];
  let afterPassword = false;
  for (const piece of pieces) {
    const eq = piece.indexOf('=');
    const keyword = safeDecode(eq < 0 ? piece : piece.slice(0, eq));
    if (afterPassword && piece !== '' && !(isKnownKeyword(keyword) || keyword === 'ssl')) {
      // The password's tail (a raw '&'): the value is already hidden; drop everything from here on.
      break;
    }
    afterPassword = keyword === 'password';
    kept.push(afterPassword ? `${piece.slice(0, eq + 1)}${REDACTED}` : piece);
    if (afterPassword && eq < 0) kept[kept.length - 1] = `${piece}=${REDACTED}`;
  }
  return `${head}${rest.slice(0, question + 1)}${kept.join('&')}`;
}

function safeDecode(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

function redactKeyValue(text: string): string {
  const { pairs, failedAt } = scanKeyValue(text, false);
  let out = '';
  let copied = 0;
  for (const pair of pairs) {
    if (pair.keyword !== 'password') continue;
    out += `${text.slice(copied, pair.valueStart)}${REDACTED}`;
    copied = pair.valueEnd;
  }
  if (failedAt === undefined) return out + text.slice(copied);
  // Unparsable from `failedAt` on: it may hold a password (or the rest of one), so none of it is shown.
  return `${out}${text.slice(copied, Math.max(copied, failedAt))}${REDACTED}`;
}

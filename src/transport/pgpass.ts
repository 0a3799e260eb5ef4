// The password file, as libpq reads it (PG docs "The Password File"): `hostname:port:database:username:password`
// lines, first match wins. Pure: the caller reads the file; permission checks belong to the caller too.

/** What a password-file line is matched against. */
export interface PgpassTarget {
  /** Host names to try for the first field; any one matching is a match (see {@link pgpassHostNames}). */
  hosts: readonly string[];
  port: number;
  database: string;
  user: string;
}

/**
 * Socket directories treated as libpq's compiled-in default, for which libpq matches the host field
 * `localhost`. We cannot know how the user's libpq was built, so each common default counts.
 */
export const DEFAULT_SOCKET_DIRS: readonly string[] = ['/var/run/postgresql', '/run/postgresql', '/tmp'];

/**
 * The names a password-file host field may match for `host`: the host itself, and also `localhost` when
 * it is a default socket directory. libpq replaces such a directory by `localhost`; accepting both is a
 * superset, because which directory is "the default" depends on how libpq was compiled.
 */
export function pgpassHostNames(host: string): string[] {
  const dir = host.length > 1 ? host.replace(/\/+$/, '') : host;
  return DEFAULT_SOCKET_DIRS.includes(dir) ? ['localhost', host] : [host];
}

/**
 * Finds the password for `target` in the text of a password file, or `undefined`. Lines starting with `#`
 * and empty lines are skipped; a field that is exactly `*` matches anything; `\:` and `\\` escape.
 */
export function lookupPgpass(text: string, target: PgpassTarget): string | undefined {
  const port = String(target.port);
  for (const raw of text.split('\n')) {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line === '' || line.startsWith('#')) continue;
    let at = matchAny(line, 0, target.hosts);
    if (at >= 0) at = matchField(line, at, port);
    if (at >= 0) at = matchField(line, at, target.database);
    if (at >= 0) at = matchField(line, at, target.user);
    if (at >= 0) return unescapePassword(line, at);
  }
  return undefined;
}

function matchAny(line: string, start: number, candidates: readonly string[]): number {
  for (const candidate of candidates) {
    const next = matchField(line, start, candidate);
    if (next >= 0) return next;
  }
  return -1;
}

/**
 * Returns the offset just past the field's ':' when the field at `start` matches `want`, else -1.
 * As in libpq, an unescaped ':' in the file matches a ':' in `want` (an IPv6 host may be written bare).
 */
function matchField(line: string, start: number, want: string): number {
  if (line[start] === '*' && line[start + 1] === ':') return start + 2;
  let i = start;
  let j = 0;
  while (i < line.length && j < want.length) {
    if (line[i] === '\\' && i + 1 < line.length) i++;
    if (line[i] !== want[j]) return -1;
    i++;
    j++;
  }
  return j === want.length && line[i] === ':' ? i + 1 : -1;
}

// The password runs to the next unescaped ':' or the end of the line; later fields are ignored.
function unescapePassword(line: string, start: number): string {
  let out = '';
  for (let i = start; i < line.length && line[i] !== ':'; i++) {
    if (line[i] === '\\' && i + 1 < line.length) i++;
    out += line[i];
  }
  return out;
}

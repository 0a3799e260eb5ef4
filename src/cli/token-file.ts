// Where `pgnudge serve` gets its token: --token-file PATH or the PGNUDGE_TOKEN variable, never an
// argument (ps shows arguments to every user of the machine).
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { validateToken } from '../http/token.js';

/**
 * The token from `path`: a regular file that only its owner may read or write (like libpq's key files),
 * with one trailing newline stripped (what `echo` and editors add). The permissions are checked on the
 * open file, so the file cannot be swapped between the check and the read.
 */
export function readTokenFile(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw new ConfigError(
      `cannot read --token-file ${JSON.stringify(path)}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      '--token-file',
      { cause: error },
    );
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) {
      throw new ConfigError(`--token-file ${JSON.stringify(path)} is not a regular file`, '--token-file');
    }
    if ((stat.mode & 0o077) !== 0) {
      throw new ConfigError(
        `--token-file ${JSON.stringify(path)} may be read or written by others (mode ${(stat.mode & 0o777).toString(8)}); run chmod 600 on it`,
        '--token-file',
      );
    }
    const text = readFileSync(fd, 'utf8');
    return validateToken(text.replace(/\r?\n$/, ''), '--token-file');
  } finally {
    closeSync(fd);
  }
}

/** The token to require: --token-file wins over PGNUDGE_TOKEN (explicit before environment); null if neither. */
export function resolveToken(
  tokenFile: string | undefined,
  env: Record<string, string | undefined>,
): string | null {
  if (tokenFile !== undefined) return readTokenFile(tokenFile);
  const fromEnv = env.PGNUDGE_TOKEN;
  if (fromEnv === undefined) return null;
  // Set but empty is a mistake to report, not a reason to serve without authentication.
  return validateToken(fromEnv, 'PGNUDGE_TOKEN');
}

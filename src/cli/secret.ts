// Where `pgnudge bridge` and `pgnudge listen` get the fan-out secret (contract R29): the PGNUDGE_SECRET
// variable or `--secret-file PATH`, never an argument (which `ps` shows to every user of the machine).
// The file is checked before it is read, in libpq's order for private files: a regular file (not a
// FIFO or a device that would block or never end), owned by the user or root, that nobody else may
// read, and small; then read, with one trailing newline stripped.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats, statSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { checkSecret, MAX_SECRET_BYTES } from '../fanout/auth.js';

/** The largest secret file read: the longest secret plus a CRLF. */
export const MAX_SECRET_FILE_BYTES = MAX_SECRET_BYTES + 2;

/** The facts about a secret file that decide whether it may be read. */
export interface SecretFileFacts {
  isFile: boolean;
  /** Permission bits (`st_mode & 0o777` is enough). */
  mode: number;
  /** Owner's user id. */
  uid: number;
  /** Size in bytes as the file system reports it. */
  size: number;
}

/**
 * Whether a file with `facts` may hold a secret for a process whose effective user id is `euid`
 * (null where the platform has none, as on Windows, where, as in libpq, permissions are not checked).
 * libpq's rule for private key files: owned by the user with no group or other access (0600 or less),
 * or owned by root with at most group read (0640 or less, for secrets mounted by a root-owned agent).
 * Throws ConfigError naming `--secret-file` and saying how to fix the file.
 */
export function checkSecretFileFacts(path: string, facts: SecretFileFacts, euid: number | null): void {
  const shown = JSON.stringify(path);
  if (!facts.isFile) {
    throw new ConfigError(
      `--secret-file ${shown} is not a regular file; put the secret in a file`,
      '--secret-file',
    );
  }
  if (euid !== null) {
    if (facts.uid !== euid && facts.uid !== 0) {
      throw new ConfigError(
        `--secret-file ${shown} must be owned by the user running pgnudge or by root; it is owned by uid ${facts.uid}`,
        '--secret-file',
      );
    }
    const refused = facts.uid === euid ? 0o077 : 0o037;
    if ((facts.mode & refused) !== 0) {
      const allowed = facts.uid === euid ? 'u=rw (0600)' : 'u=rw,g=r (0640) when owned by root';
      throw new ConfigError(
        `--secret-file ${shown} can be read or changed by other users (mode ${(facts.mode & 0o777).toString(8).padStart(4, '0')}); ` +
          `it must allow at most ${allowed}: chmod ${facts.uid === euid ? '600' : '640'} ${shown}`,
        '--secret-file',
      );
    }
  }
  if (facts.size > MAX_SECRET_FILE_BYTES) {
    throw new ConfigError(
      `--secret-file ${shown} is ${facts.size} bytes; a secret is at most ${MAX_SECRET_BYTES} bytes`,
      '--secret-file',
    );
  }
}

/**
 * The secret in a file's bytes: one trailing newline (`\n` or `\r\n`) stripped, as `echo` and editors
 * add one; anything else, white space included, is part of the secret. Throws ConfigError when the
 * file is empty or the secret is out of bounds (checkSecret).
 */
export function secretFromFile(path: string, bytes: Uint8Array): Uint8Array {
  let end = bytes.byteLength;
  if (end > 0 && bytes[end - 1] === 0x0a) end -= end > 1 && bytes[end - 2] === 0x0d ? 2 : 1;
  if (end === 0) {
    throw new ConfigError(
      `--secret-file ${JSON.stringify(path)} is empty; write the secret into it (e.g. openssl rand -base64 32 > FILE)`,
      '--secret-file',
    );
  }
  return checkSecret(bytes.subarray(0, end), `the secret in --secret-file ${JSON.stringify(path)}`);
}

/** The file system and user facts {@link readSecretFile} needs; tests replace parts of it. */
export interface SecretFileIo {
  euid: number | null;
  stat(path: string): SecretFileFacts & { dev: number; ino: number };
  open(path: string): number;
  fstat(fd: number): SecretFileFacts & { dev: number; ino: number };
  read(fd: number, into: Uint8Array): number;
  close(fd: number): void;
}

function facts(stats: Stats): SecretFileFacts & { dev: number; ino: number } {
  return {
    isFile: stats.isFile(),
    mode: stats.mode,
    uid: stats.uid,
    size: stats.size,
    dev: stats.dev,
    ino: stats.ino,
  };
}

/** {@link SecretFileIo} over node:fs. Opening never blocks: O_NONBLOCK, for a FIFO swapped in after the check. */
export const nodeSecretFileIo: SecretFileIo = {
  euid: typeof process.geteuid === 'function' ? process.geteuid() : null,
  stat: (path) => facts(statSync(path)),
  open: (path) => openSync(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0)),
  fstat: (fd) => facts(fstatSync(fd)),
  read: (fd, into) => readSync(fd, into, 0, into.byteLength, null),
  close: (fd) => closeSync(fd),
};

/**
 * Reads the secret from `path`: checks the file (checkSecretFileFacts) before opening it, checks again
 * on the opened file that it is the same one, and reads at most {@link MAX_SECRET_FILE_BYTES} + 1 bytes
 * whatever size it claims. Throws ConfigError for every problem, naming the file, never its content.
 */
export function readSecretFile(path: string, io: SecretFileIo = nodeSecretFileIo): Uint8Array {
  const shown = JSON.stringify(path);
  const before = attempt(() => io.stat(path), path);
  checkSecretFileFacts(path, before, io.euid);
  const fd = attempt(() => io.open(path), path);
  try {
    const opened = attempt(() => io.fstat(fd), path);
    if (opened.dev !== before.dev || opened.ino !== before.ino) {
      throw new ConfigError(
        `--secret-file ${shown} changed while it was being opened; try again`,
        '--secret-file',
      );
    }
    checkSecretFileFacts(path, opened, io.euid);
    const buffer = new Uint8Array(MAX_SECRET_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const read = attempt(() => io.read(fd, buffer.subarray(length)), path);
      if (read === 0) break;
      length += read;
      if (length > MAX_SECRET_FILE_BYTES) {
        throw new ConfigError(
          `--secret-file ${shown} is longer than ${MAX_SECRET_FILE_BYTES} bytes; a secret is at most ${MAX_SECRET_BYTES} bytes`,
          '--secret-file',
        );
      }
    }
    return secretFromFile(path, buffer.subarray(0, length));
  } finally {
    io.close(fd);
  }
}

/**
 * The secret for `bridge` or `listen`: from `--secret-file` (`secretFile`) or PGNUDGE_SECRET (used as
 * is, no newline stripped), or undefined when neither is given (the command then needs `--insecure`).
 * Both at once is a ConfigError, as is an empty PGNUDGE_SECRET.
 */
export function resolveCliSecret(
  secretFile: string | undefined,
  env: Record<string, string | undefined>,
  io: SecretFileIo = nodeSecretFileIo,
): string | Uint8Array | undefined {
  const variable = env.PGNUDGE_SECRET;
  if (secretFile !== undefined && variable !== undefined) {
    throw new ConfigError('give the secret once: PGNUDGE_SECRET or --secret-file, not both', '--secret-file');
  }
  if (secretFile !== undefined) return readSecretFile(secretFile, io);
  if (variable === undefined) return undefined;
  if (variable === '') {
    throw new ConfigError(
      'PGNUDGE_SECRET is set but empty; unset it, or set it to the shared secret',
      'PGNUDGE_SECRET',
    );
  }
  checkSecret(variable, 'PGNUDGE_SECRET');
  return variable;
}

function attempt<T>(action: () => T, path: string): T {
  try {
    return action();
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const code = (error as NodeJS.ErrnoException)?.code;
    const why =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'EACCES'
          ? 'cannot be read by this user'
          : `cannot be read (${code ?? (error as Error)?.message})`;
    throw new ConfigError(`--secret-file ${JSON.stringify(path)} ${why}`, '--secret-file', { cause: error });
  }
}

/**
 * The `secret` or `insecure` option of a bridge or listener from its command line: the secret from
 * `--secret-file` or PGNUDGE_SECRET ({@link resolveCliSecret}), or `insecure: true` for `--insecure`;
 * neither when neither is given, so that the class refuses to start and says how to give one. A secret
 * together with `--insecure` is a ConfigError: which one was meant is not for pgnudge to guess.
 */
export function cliChannelAuth(
  flags: { secretFile?: string | undefined; insecure?: boolean | undefined },
  env: Record<string, string | undefined>,
  io: SecretFileIo = nodeSecretFileIo,
): { secret?: string | Uint8Array; insecure?: true } {
  const secret = resolveCliSecret(flags.secretFile, env, io);
  if (secret !== undefined && flags.insecure === true) {
    throw new ConfigError(
      `--insecure turns authentication off, but a secret is given (${flags.secretFile === undefined ? 'PGNUDGE_SECRET' : '--secret-file'}); drop one of them`,
      '--insecure',
    );
  }
  if (secret !== undefined) return { secret };
  return flags.insecure === true ? { insecure: true } : {};
}

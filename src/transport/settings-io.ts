// The file system and OS facts that connection settings need (pgpass, certificates, the default
// user), read from the real machine. Kept apart so settings.ts stays pure.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats, statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import type { BoundLogger } from '../logger.js';
import type { PasswordFileRead, SettingsIo } from './settings.js';

/**
 * The largest password file read. libpq has no limit; a real one holds a few lines, and without a cap a
 * file that grows while it is read (or a path swapped for one) could take all memory.
 */
export const MAX_PASSWORD_FILE_BYTES = 1024 * 1024;

/** SettingsIo over node:fs and node:os; warnings (an ignored password file) go to `log`. */
export function nodeSettingsIo(env: Record<string, string | undefined>, log?: BoundLogger): SettingsIo {
  const io: SettingsIo = {
    readPasswordFile,
    homedir: env.HOME ?? safe(() => homedir()) ?? '',
    warn: (message) => log?.warn(message),
  };
  const username = safe(() => userInfo().username);
  if (username !== undefined) io.username = username;
  return io;
}

/** Why a password file that exists must not be read, or undefined when it may be. */
function refusal(stats: Stats): string | undefined {
  // libpq's checks, in its order: a regular file (a FIFO would block the read, /dev/zero never end it),
  // then no group or world access.
  if (!stats.isFile()) return 'is not a regular file';
  if ((stats.mode & 0o077) !== 0) {
    return 'has group or world access; permissions should be u=rw (0600) or less';
  }
  if (stats.size > MAX_PASSWORD_FILE_BYTES) return `is larger than ${MAX_PASSWORD_FILE_BYTES} bytes`;
  return undefined;
}

/**
 * Checks the path before opening it (libpq's stat, then type and permissions), opens it without blocking
 * and checks the open file is the one checked, then reads at most the cap.
 */
function readPasswordFile(path: string): PasswordFileRead {
  let checked: Stats;
  try {
    checked = statSync(path);
  } catch {
    return undefined;
  }
  const why = refusal(checked);
  if (why !== undefined) return { ignored: why };
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch {
    return undefined;
  }
  try {
    const opened = fstatSync(fd);
    if (opened.dev !== checked.dev || opened.ino !== checked.ino)
      return { ignored: 'changed while it was read' };
    const late = refusal(opened);
    if (late !== undefined) return { ignored: late };
    const buffer = Buffer.alloc(MAX_PASSWORD_FILE_BYTES + 1);
    let length = 0;
    for (let n = -1; n !== 0 && length < buffer.byteLength; length += n) {
      n = readSync(fd, buffer, length, buffer.byteLength - length, null);
    }
    if (length > MAX_PASSWORD_FILE_BYTES)
      return { ignored: `is larger than ${MAX_PASSWORD_FILE_BYTES} bytes` };
    return buffer.toString('utf8', 0, length);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function safe<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

// The file system and OS facts that connection settings need (pgpass, certificates, the default
// user), read from the real machine. Kept apart so settings.ts stays pure.
import { readFileSync, statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import type { BoundLogger } from '../logger.js';
import type { SettingsIo } from './settings.js';

/** SettingsIo over node:fs and node:os; warnings (an ignored password file) go to `log`. */
export function nodeSettingsIo(env: Record<string, string | undefined>, log?: BoundLogger): SettingsIo {
  const io: SettingsIo = {
    readFile(path) {
      try {
        return readFileSync(path, 'utf8');
      } catch {
        return undefined;
      }
    },
    homedir: env.HOME ?? safe(() => homedir()) ?? '',
    isPrivate(path) {
      try {
        const stat = statSync(path);
        return stat.isFile() && (stat.mode & 0o077) === 0;
      } catch {
        return false;
      }
    },
    warn: (message) => log?.warn(message),
  };
  const username = safe(() => userInfo().username);
  if (username !== undefined) io.username = username;
  return io;
}

function safe<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

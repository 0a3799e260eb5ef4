// The logger seam: anything console- or pino-shaped. pgnudge is silent unless given one.

/** A console- or pino-shaped logger. Every method is optional; pgnudge only ever passes one string. */
export interface Logger {
  trace?(message: string): void;
  debug?(message: string): void;
  info?(message: string): void;
  warn?(message: string): void;
  error?(message: string): void;
}

/** Log levels in increasing severity. */
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/** A logger with every level present, so call sites need no checks. `enabled` avoids building unused text. */
export interface BoundLogger {
  enabled(level: LogLevel): boolean;
  trace(message: string): void;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

const LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];

/** Wraps a user's logger (or none) into a BoundLogger; a throwing logger never breaks the feed. */
export function bindLogger(logger: Logger | undefined, prefix = 'pgnudge'): BoundLogger {
  const bound = { enabled: (level: LogLevel) => typeof logger?.[level] === 'function' } as BoundLogger;
  for (const level of LEVELS) {
    const method = logger?.[level];
    bound[level] =
      typeof method === 'function'
        ? (message: string) => {
            try {
              method.call(logger, `${prefix}: ${message}`);
            } catch {
              // A broken logger must not take the feed down with it.
            }
          }
        : () => {};
  }
  return bound;
}

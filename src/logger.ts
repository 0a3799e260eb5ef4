// The logger seam: anything console- or pino-shaped, and the level below which nothing reaches it.
// pgnudge is silent unless given one.
import { Console } from 'node:console';

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

/**
 * The least severe level a logger receives (`logLevel`), or `'silent'` for none. `info` (the default)
 * passes lifecycle and failures; `debug` adds a line per change; `trace` one per protocol message.
 */
export type LogThreshold = LogLevel | 'silent';

/** Every {@link LogThreshold}, from the most verbose. */
export const LOG_THRESHOLDS: readonly LogThreshold[] = ['trace', 'debug', 'info', 'warn', 'error', 'silent'];

/** The default `logLevel`: lifecycle and failures, never a line per change or per protocol message. */
export const DEFAULT_LOG_LEVEL: LogThreshold = 'info';

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

/**
 * A console's `trace` prints a stack trace after the message: useless for a protocol trace, and a
 * screenful per message. For a console, trace lines go to `debug` instead.
 */
function isConsole(logger: Logger): boolean {
  return (
    logger instanceof Console || (logger.trace !== undefined && logger.trace === globalThis.console.trace)
  );
}

/**
 * Wraps a user's logger (or none) into a BoundLogger that passes only lines at `level` or more severe
 * (default `info`); a throwing logger never breaks the feed.
 */
export function bindLogger(
  logger: Logger | undefined,
  level: LogThreshold = DEFAULT_LOG_LEVEL,
  prefix = 'pgnudge',
): BoundLogger {
  const least = LOG_THRESHOLDS.indexOf(level);
  const viaConsole = logger !== undefined && isConsole(logger);
  const enabled = new Set<LogLevel>();
  const bound = { enabled: (wanted: LogLevel) => enabled.has(wanted) } as BoundLogger;
  for (const wanted of LEVELS) {
    const method =
      logger === undefined || LEVELS.indexOf(wanted) < least
        ? undefined
        : logger[wanted === 'trace' && viaConsole ? 'debug' : wanted];
    if (typeof method !== 'function') {
      bound[wanted] = () => {};
      continue;
    }
    enabled.add(wanted);
    bound[wanted] = (message: string) => {
      try {
        method.call(logger, `${prefix}: ${escapeControls(message)}`);
      } catch {
        // A broken logger must not take the feed down with it.
      }
    };
  }
  return bound;
}

// What may not reach a log line or a terminal raw: C0 and C1 controls and DEL (escape sequences, a
// newline that forges a line), format characters (bidi overrides and isolates that reorder what the
// reader sees, zero-width characters that hide text), the line and paragraph separators, and lone
// surrogates (not text at all). The backslash is escaped too, so an escape in the output always means one.
const UNPRINTABLE = /[\\\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;
const UNPRINTABLE_ALL = new RegExp(UNPRINTABLE.source, 'gu');
// The same less the backslash: the catch-all at the outlets (escapeControls).
const CONTROL = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;
const CONTROL_ALL = new RegExp(CONTROL.source, 'gu');
const SHORT_ESCAPES: Readonly<Record<string, string>> = {
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
};

/**
 * `text` made safe for a log line or a terminal: every character that could steer a terminal, forge a
 * line or hide text is written as a JavaScript escape (`\n`, `\u001b`, `\u202e`, `\u{e0001}`), and `\`
 * as `\\`. Returns `text` itself when nothing needs escaping. For display only: names stay data.
 */
export function printable(text: string): string {
  if (!UNPRINTABLE.test(text)) return text;
  return text.replace(UNPRINTABLE_ALL, escapeChar);
}

/**
 * The catch-all where text leaves pgnudge (bindLogger, and the CLI's stderr): the characters
 * {@link printable} escapes, escaped the same way, except the backslash. So text already made printable
 * is returned unchanged (its escapes are not escaped again), and whatever was not still cannot steer a
 * terminal, forge a line or hide text. Only printable() makes a value unambiguous (a literal `\n` in
 * it shows as `\\n`): use it where a wire-, server- or user-supplied value is put into a message.
 */
export function escapeControls(text: string): string {
  if (!CONTROL.test(text)) return text;
  return text.replace(CONTROL_ALL, escapeChar);
}

function escapeChar(char: string): string {
  const short = SHORT_ESCAPES[char];
  if (short !== undefined) return short;
  const code = char.codePointAt(0)!;
  return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

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

/**
 * Wraps a user's logger (or none) into a BoundLogger; a throwing logger never breaks the feed. Every
 * message passes through {@link escapeControls}: whatever a call site forgot, no line it logs can steer
 * a terminal or forge another line.
 */
export function bindLogger(logger: Logger | undefined, prefix = 'pgnudge'): BoundLogger {
  const bound = { enabled: (level: LogLevel) => typeof logger?.[level] === 'function' } as BoundLogger;
  for (const level of LEVELS) {
    const method = logger?.[level];
    bound[level] =
      typeof method === 'function'
        ? (message: string) => {
            try {
              method.call(logger, `${prefix}: ${escapeControls(message)}`);
            } catch {
              // A broken logger must not take the feed down with it.
            }
          }
        : () => {};
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

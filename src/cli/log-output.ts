// What the CLI writes on stderr: log lines (text for people, `--log-format json` for log shippers) and
// the line a fatal error ends with. Pure: the sink (write, clock, colour) comes in.
import { ConfigError, PgnudgeError } from '../errors.js';
import { escapeControls, type Logger, type LogLevel, printable } from '../logger.js';
import { type Palette, PLAIN } from './color.js';

export type LogFormat = 'text' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

/** Where log lines go. */
export interface LogSink {
  write(text: string): void;
  now(): Date;
  format: LogFormat;
  paint?: Palette;
}

const LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];
const TEXT_LABEL: Record<LogLevel, string> = {
  trace: 'TRACE',
  debug: 'DEBUG',
  info: 'INFO ',
  warn: 'WARN ',
  error: 'ERROR',
};

/**
 * The level a command logs at: `quietest` (warnings and errors, for commands whose stdout is the
 * output) or one step more for each -v: info, then debug (a line per change), then trace (per message).
 */
export function cliLogLevel(verbosity: number, quietest: LogLevel = 'warn'): LogLevel {
  const index = Math.min(LEVELS.indexOf(quietest), Math.max(0, LEVELS.indexOf('warn') - verbosity));
  return LEVELS[index] as LogLevel;
}

// Every line pgnudge logs starts with bindLogger's prefix; a JSON line says so in its own way.
const PREFIX = 'pgnudge: ';

/** One log line, without the newline. */
export function formatLogLine(level: LogLevel, message: string, time: Date, sink: LogSink): string {
  if (sink.format === 'json') {
    const text = message.startsWith(PREFIX) ? message.slice(PREFIX.length) : message;
    return JSON.stringify({ time: time.toISOString(), level, message: text });
  }
  const paint = sink.paint ?? PLAIN;
  const label =
    level === 'error'
      ? paint.red(TEXT_LABEL[level])
      : level === 'warn'
        ? paint.yellow(TEXT_LABEL[level])
        : paint.dim(TEXT_LABEL[level]);
  // Controls escaped whoever logs (escapeControls); JSON.stringify escapes them in the other format.
  return `${paint.dim(time.toISOString())} ${label} ${escapeControls(message)}`;
}

/** A logger for the CLI with a method for `level` and every more severe one, and none below. */
export function cliLogger(level: LogLevel, sink: LogSink): Logger {
  const logger: Logger = {};
  for (const name of LEVELS.slice(LEVELS.indexOf(level))) {
    logger[name] = (message: string) => sink.write(`${formatLogLine(name, message, sink.now(), sink)}\n`);
  }
  return logger;
}

/**
 * What a fatal error prints on stderr: the cause with its fix and the stable code as two plain lines,
 * or (under --json or --log-format json) one JSON object: `{"time","level":"fatal","code","message"}`,
 * `code` null for a failure that is not pgnudge's own.
 */
export function formatFatal(error: unknown, time: Date, sink: LogSink): string {
  const known = error instanceof PgnudgeError;
  const message = known ? error.message : `unexpected failure: ${(error as Error)?.stack ?? error}`;
  const code = known ? error.code : null;
  if (sink.format === 'json') {
    return `${JSON.stringify({ time: time.toISOString(), level: 'fatal', code, message })}\n`;
  }
  const paint = sink.paint ?? PLAIN;
  // A runtime error may carry a server's text, so it is printable; a usage error holds only what the
  // user gave (already printable where it was an argument), so its controls are escaped, never twice.
  const text =
    error instanceof ConfigError
      ? escapeControls(message)
      : known
        ? printable(message)
        : message.split('\n').map(escapeControls).join('\n');
  return `${paint.red('pgnudge:')} ${text}\n${code === null ? '' : `  ${paint.dim(`(${code})`)}\n`}`;
}

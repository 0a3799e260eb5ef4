// Command-line parsing for `pgnudge`: argv in, a command with its options out. Pure: no I/O, so every
// flag and every usage error is unit-tested. Usage errors are ConfigErrors (exit status 2).
import { parseArgs } from 'node:util';
import { ConfigError } from '../errors.js';
import type { PluginChoice, WalFeedOptions } from '../feed/options.js';

export type CommandName = 'watch' | 'help' | 'version';

/** A parsed command line. */
export interface ParsedCommand {
  command: CommandName;
  /** For `help`: the command whose help was asked for, if any. */
  topic?: CommandName;
  json: boolean;
  verbosity: number;
  feed: WalFeedOptions;
}

/** Commands and their one-line summaries, in the order `--help` lists them. */
export const COMMANDS: Record<Exclude<CommandName, 'help' | 'version'>, string> = {
  watch: 'print each Resync and Batch as it arrives',
};

export const MAIN_HELP = `pgnudge: wakes your application the instant PostgreSQL tables change.

Usage: pgnudge <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, summary]) => `  ${name.padEnd(8)} ${summary}`)
  .join('\n')}

Connection: --dsn URL|key=value, or the PG* environment variables (PGHOST, PGPORT, PGUSER,
PGPASSWORD, PGDATABASE, PGSSLMODE, PGSSLROOTCERT, PGPASSFILE, ...), as libpq reads them.

Options for every command:
  --dsn DSN        postgres://user@host:5432/db?sslmode=verify-full, or "host=... dbname=..."
  -v, -vv, -vvv    more detail on stderr (info, debug, protocol trace)
  -h, --help       this help, or a command's: pgnudge watch --help
  --version        print the version

Exit status: 0 on a clean end (Ctrl-C), 1 on a fatal error, 2 on a usage error.`;

export const WATCH_HELP = `Usage: pgnudge watch [options]

Streams change wakeups from a temporary logical replication slot and prints each item:
a Resync (reload everything) first, then a Batch per debounce window naming the tables
that changed and how many rows. Nothing is left on the server when it stops.

Options:
  --table SCHEMA.TABLE      watch only this table (repeatable; quote identifiers as in SQL:
                            --table '"My Schema"."Orders"')
  --plugin NAME             auto (default: wal2json, else test_decoding), wal2json, test_decoding
  --debounce MS             close a batch after MS quiet (default 50)
  --max-batch-wait MS       ...and at most MS after its first change (default 20 x debounce)
  --failsafe MS             also print a failsafe Resync every MS (default off)
  --status-interval MS      standby status update interval (default 10000)
  --liveness-timeout MS     reconnect after MS of silence (default 30000; 0 disables)
  --json                    one JSON object per item and line on stdout
  --dsn DSN                 connection string (else the PG* environment variables)
  -v, -vv, -vvv             more detail on stderr

Examples:
  pgnudge watch --dsn postgres://app@db.internal/shop --table public.orders
  PGHOST=localhost PGUSER=replicator pgnudge watch --json | jq .
  pgnudge watch --plugin test_decoding --debounce 0 -v`;

function milliseconds(
  flag: string,
  text: string | undefined,
  allowZeroAsOff = false,
): number | null | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) {
    throw new ConfigError(`--${flag} takes a whole number of milliseconds; got "${text}"`, `--${flag}`);
  }
  const value = Number(text);
  // Checked here so the message names the flag the user typed, not the library option behind it.
  if (value > MAX_MS) {
    throw new ConfigError(`--${flag} must be at most ${MAX_MS} milliseconds; got ${text}`, `--${flag}`);
  }
  if (allowZeroAsOff && value === 0) return null;
  return value;
}

/** setTimeout's limit, as the feed options enforce it. */
const MAX_MS = 2 ** 31 - 1;

/** Whether `name` is a command (own keys only: `toString` or `constructor` is not one). */
function isCommand(name: string): name is keyof typeof COMMANDS {
  return Object.hasOwn(COMMANDS, name);
}

/**
 * One plain line for a node:util parseArgs error. Its messages may span lines and advise `--` (meant
 * for positionals); an "ambiguous" value is almost always a negative number or a forgotten value.
 */
function usageMessage(error: Error, argv: readonly string[]): string {
  const ambiguous = /^Option '(--[\w-]+)' argument is ambiguous/.exec(error.message);
  if (ambiguous) {
    const flag = ambiguous[1] as string;
    const next = argv[argv.indexOf(flag) + 1] ?? '';
    return `${flag} needs a value, but the next argument "${next}" looks like an option`;
  }
  return error.message
    .replace(/\. To specify.*$/s, '')
    .replace(/\s*\n\s*/g, ' ')
    .replace(/\.$/, '');
}

/** Parses `argv` (without node and the script). Throws ConfigError on any usage error. */
export function parseCommandLine(argv: readonly string[]): ParsedCommand {
  const [first, ...rest] = argv;
  const base = { json: false, verbosity: 0, feed: {} };
  if (first === undefined || first === '-h' || first === '--help' || first === 'help') {
    const topic = rest[0];
    if (first === 'help' && topic !== undefined) {
      if (!isCommand(topic))
        throw new ConfigError(`unknown command "${topic}"; run pgnudge --help`, 'command');
      return { ...base, command: 'help', topic };
    }
    return { ...base, command: 'help' };
  }
  if (first === '--version' || first === '-V') return { ...base, command: 'version' };
  if (first.startsWith('-')) {
    throw new ConfigError(
      `"${first}" comes before a command; usage: pgnudge <command> [options] (see pgnudge --help)`,
      'command',
    );
  }
  if (!isCommand(first)) {
    throw new ConfigError(
      `unknown command "${first}"; commands: ${Object.keys(COMMANDS).join(', ')}`,
      'command',
    );
  }
  return parseWatch(rest);
}

function parseWatch(argv: string[]): ParsedCommand {
  const verbosity = countVerbosity(argv);
  const rest = argv.filter((arg) => !/^-v+$/.test(arg));
  let parsed: ReturnType<typeof parseWatchArgs>;
  try {
    parsed = parseWatchArgs(rest);
  } catch (error) {
    throw new ConfigError(`${usageMessage(error as Error, rest)}; see pgnudge watch --help`, 'argv', {
      cause: error,
    });
  }
  const { values } = parsed;
  if (values.help) return { command: 'help', topic: 'watch', json: false, verbosity, feed: {} };
  const feed: WalFeedOptions = {};
  if (values.dsn !== undefined) feed.connectionString = values.dsn;
  if (values.table !== undefined) feed.tables = values.table;
  if (values.plugin !== undefined) {
    if (!['auto', 'wal2json', 'test_decoding'].includes(values.plugin)) {
      throw new ConfigError(
        `--plugin must be auto, wal2json or test_decoding; got "${values.plugin}"`,
        '--plugin',
      );
    }
    feed.plugin = values.plugin as PluginChoice;
  }
  const debounce = milliseconds('debounce', values.debounce);
  if (debounce != null) feed.debounce = debounce;
  const maxBatchWait = milliseconds('max-batch-wait', values['max-batch-wait']);
  if (maxBatchWait != null) feed.maxBatchWait = maxBatchWait;
  const failsafe = milliseconds('failsafe', values.failsafe, true);
  if (failsafe !== undefined) feed.failsafe = failsafe;
  const statusInterval = milliseconds('status-interval', values['status-interval']);
  if (statusInterval != null) feed.statusInterval = statusInterval;
  const liveness = milliseconds('liveness-timeout', values['liveness-timeout'], true);
  if (liveness !== undefined) feed.livenessTimeout = liveness;
  return { command: 'watch', json: values.json ?? false, verbosity, feed };
}

function parseWatchArgs(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      dsn: { type: 'string' },
      table: { type: 'string', multiple: true },
      plugin: { type: 'string' },
      debounce: { type: 'string' },
      'max-batch-wait': { type: 'string' },
      failsafe: { type: 'string' },
      'status-interval': { type: 'string' },
      'liveness-timeout': { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

/** `-v` = info, `-vv` = debug, `-vvv` = trace; repeated flags add up. */
function countVerbosity(argv: readonly string[]): number {
  let level = 0;
  for (const arg of argv) if (/^-v+$/.test(arg)) level += arg.length - 1;
  return Math.min(level, 3);
}

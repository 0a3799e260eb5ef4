// Command-line parsing for `pgnudge`: argv in, a command with its options out. Pure: no I/O, so every
// flag and every usage error is unit-tested. Usage errors are ConfigErrors (exit status 2).
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { PLUGIN_CHOICES, type PluginChoice } from '../decode/change.js';
import { ConfigError } from '../errors.js';
import { PARTITION_NAMINGS, type PartitionNaming } from '../feed/catalog.js';
import { closestName, type WalFeedOptions } from '../feed/options.js';
import { parseTableName } from '../feed/tables.js';
import { printable } from '../logger.js';
import { count, describeChoices, duration } from '../option-rules.js';
import { redactConnectionString } from '../transport/connection-string.js';
import { COMMANDS } from './help.js';
import { LOG_FORMATS, type LogFormat } from './log-output.js';

export type CommandName = 'watch' | 'doctor' | 'demo' | 'bridge' | 'listen' | 'serve' | 'help' | 'version';

/** Where `pgnudge serve` listens, and where its token comes from. */
export interface ServeFlags {
  port: number;
  host: string;
  /** --token-file PATH; else PGNUDGE_TOKEN; else no token (loopback only). */
  tokenFile?: string;
}

/** A parsed command line. */
export interface ParsedCommand {
  command: CommandName;
  /** For `help`: the command whose help was asked for, if any. */
  topic?: CommandName;
  json: boolean;
  verbosity: number;
  feed: WalFeedOptions;
  /** For `bridge` and `listen`: the NOTIFY channel. */
  channel?: string;
  /** For `serve`. */
  serve?: ServeFlags;
  /** For `bridge`, `listen` and `serve --channel`: --secret-file PATH (else PGNUDGE_SECRET). */
  secretFile?: string;
  /** For `bridge`, `listen` and `serve --channel`: --insecure, no secret (docs/fanout.md states the threat). */
  insecure?: true;
  /** For `listen` and `serve --channel`: --heartbeat-timeout MS. */
  heartbeatTimeout?: number;
  /** --log-format; absent means text. */
  logFormat?: LogFormat;
  /** For `help`: it was asked for by giving no command at all, a usage error (help on stderr, exit 2). */
  misuse?: true;
  /** For `watch --physical`: a RawFeed (physical WAL, no slot) instead of a WalFeed. */
  physical?: true;
  /** For `bridge`: --to notify|URL, where to publish (default NOTIFY on the channel). */
  to?: string[];
  /** For `listen` and `serve`: --from URL, the broker to read a bridge's messages from. */
  from?: string;
}

/** Commands and their one-line summaries, in the order `--help` lists them. */

/**
 * The accepted name nearest to `given`, as a did-you-mean clause (`; did you mean "--table"?`), or
 * nothing: the library's nearest-name rule, so a flag and an option are guessed alike.
 */
function didYouMean(given: string, accepted: readonly string[]): string {
  const near = closestName(given, accepted);
  return near === undefined ? '' : `; did you mean "${near}"?`;
}

function milliseconds(
  flag: string,
  text: string | undefined,
  allowZeroAsOff = false,
): number | null | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) {
    throw new ConfigError(`--${flag} takes a whole number of milliseconds; got "${text}"`, `--${flag}`);
  }
  // Checked here too, so the message names the flag the user typed, not the library option behind it.
  const value = duration(`--${flag}`, Number(text), 0);
  if (allowZeroAsOff && value === 0) return null;
  return value;
}

/** A flag's whole number of `unit`, at least `min`; undefined when the flag is absent. */
function wholeNumber(flag: string, text: string | undefined, unit: string, min: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) {
    throw new ConfigError(`--${flag} takes a whole number of ${unit}; got "${text}"`, `--${flag}`);
  }
  return count(`--${flag}`, Number(text), unit, min);
}

/** Whether `name` is a command (own keys only: `toString` or `constructor` is not one). */
function isCommand(name: string): name is keyof typeof COMMANDS {
  return Object.hasOwn(COMMANDS, name);
}

/**
 * An argument as a usage error may show it. One shaped like a connection string (`key=value`, a URL, or
 * `--flag=` either) is redacted as every connection string is: it is most often a `--dsn` that the shell
 * cut apart at a space, or a URL whose `--dsn` was forgotten, and may hold a password.
 */
export function shownArgument(arg: string): string {
  const flag = /^(--?[^=]*=)(.*)$/s.exec(arg);
  if (flag) return printable(`${flag[1]}${redactConnectionString(flag[2] as string)}`);
  if (arg.includes('=') || arg.includes('://')) return printable(redactConnectionString(arg));
  return printable(arg);
}

/**
 * One plain line for a node:util parseArgs error. Its messages may span lines and advise `--` (meant
 * for positionals); an "ambiguous" value is almost always a negative number or a forgotten value. A
 * stray argument is shown redacted (shownArgument), never as node quotes it.
 */
function usageMessage(error: Error, argv: readonly string[]): string {
  const stray = /^Unexpected argument '(.*)'\. This command does not take positional arguments/s.exec(
    error.message,
  );
  if (stray) {
    const arg = stray[1] as string;
    const hint = arg.includes('=') ? ": a --dsn with spaces needs quotes: --dsn 'host=... password=...'" : '';
    return `Unexpected argument '${shownArgument(arg)}'${hint}`;
  }
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
  // No command at all is a usage error: the help goes to stderr, and the exit status is 2.
  if (first === undefined) return { ...base, command: 'help', misuse: true };
  if (first === '-h' || first === '--help' || first === 'help') {
    const topic = rest[0];
    if (first === 'help' && topic !== undefined) {
      if (!isCommand(topic))
        throw new ConfigError(
          `unknown command "${shownArgument(topic)}"${didYouMean(topic, Object.keys(COMMANDS))}; run pgnudge --help`,
          'command',
        );
      return { ...base, command: 'help', topic };
    }
    return { ...base, command: 'help' };
  }
  if (first === '--version' || first === '-V') return { ...base, command: 'version' };
  if (first.startsWith('-')) {
    throw new ConfigError(
      `"${shownArgument(first)}" comes before a command; usage: pgnudge <command> [options] (see pgnudge --help)`,
      'command',
    );
  }
  if (!isCommand(first)) {
    throw new ConfigError(
      `unknown command "${shownArgument(first)}"${didYouMean(first, Object.keys(COMMANDS))}; commands: ${Object.keys(COMMANDS).join(', ')}`,
      'command',
    );
  }
  if (first === 'doctor') return parseDoctor(rest);
  if (first === 'demo') return parseDemo(rest);
  if (first === 'bridge') return parseBridge(rest);
  if (first === 'listen') return parseListen(rest);
  if (first === 'serve') return parseServe(rest);
  return parseWatch(rest);
}

/** A command's flag definitions, as node:util's parseArgs takes them. */
type FlagOptions = NonNullable<ParseArgsConfig['options']>;

/** Flags every command's parser shares, so `--help`, `-h` and `--log-format` mean the same everywhere. */
const COMMON_FLAGS = {
  help: { type: 'boolean', short: 'h' },
  'log-format': { type: 'string' },
} as const satisfies FlagOptions;

/** The flags of `watch` and `bridge` (bridge adds --channel). */
const FEED_FLAGS = {
  dsn: { type: 'string' },
  table: { type: 'string', multiple: true },
  plugin: { type: 'string' },
  publication: { type: 'string' },
  partitions: { type: 'string' },
  keys: { type: 'boolean' },
  debounce: { type: 'string' },
  'max-batch-wait': { type: 'string' },
  'max-keys': { type: 'string' },
  failsafe: { type: 'string' },
  'status-interval': { type: 'string' },
  'liveness-timeout': { type: 'string' },
  'first-connect-timeout': { type: 'string' },
  'read-pacing': { type: 'string' },
  channel: { type: 'string' },
  json: { type: 'boolean' },
} as const satisfies FlagOptions;

/**
 * Parses one command's flags strictly. `-v`, `-vv`, `-vvv` are counted apart (node's parser cannot
 * count them), and a parser error becomes one plain ConfigError line that points at the command's help.
 */
function parseFlags<const T extends FlagOptions>(command: CommandName, argv: readonly string[], options: T) {
  const verbosity = countVerbosity(argv);
  const rest = argv.filter((arg) => !/^-v+$/.test(arg));
  try {
    const config = {
      args: rest,
      strict: true,
      allowPositionals: false,
      options: { ...options, ...COMMON_FLAGS },
    } as const;
    const { values } = parseArgs(config);
    const logFormat = (values as { 'log-format'?: string })['log-format'];
    if (logFormat !== undefined && !LOG_FORMATS.includes(logFormat as LogFormat)) {
      throw new ConfigError(
        `--log-format must be ${describeChoices(LOG_FORMATS)}; got "${logFormat}"`,
        '--log-format',
      );
    }
    return { values, verbosity, ...(logFormat === undefined ? {} : { logFormat: logFormat as LogFormat }) };
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    // Not kept as the cause: node's message quotes a stray argument, which may hold a password.
    throw new ConfigError(
      `${usageMessage(error as Error, rest)}${unknownFlagHint(error as NodeJS.ErrnoException, options)}; see pgnudge ${command} --help`,
      'argv',
    );
  }
}

/** The flags of the fan-out's authentication (contract R29): where the secret comes from, or none. */
const SECRET_FLAGS = {
  'secret-file': { type: 'string' },
  insecure: { type: 'boolean' },
} as const satisfies FlagOptions;

/**
 * Refuses `--secret VALUE` by name rather than as an unknown option: a secret in argv is readable by
 * every user of the machine (ps).
 */
function refuseSecretArgument(command: CommandName, argv: readonly string[]): void {
  if (argv.some((arg) => arg === '--secret' || arg.startsWith('--secret='))) {
    throw new ConfigError(
      `pgnudge ${command} takes no --secret: arguments are visible to every user of the machine (ps); set PGNUDGE_SECRET or use --secret-file PATH`,
      '--secret',
    );
  }
}

/** --secret-file, --insecure and --heartbeat-timeout into `parsed`, set only when given. */
function applySecretFlags(
  parsed: ParsedCommand,
  values: {
    'secret-file'?: string | undefined;
    insecure?: boolean | undefined;
    'heartbeat-timeout'?: string | undefined;
  },
): ParsedCommand {
  if (values['secret-file'] !== undefined) parsed.secretFile = values['secret-file'];
  if (values.insecure === true) parsed.insecure = true;
  const heartbeatTimeout = milliseconds('heartbeat-timeout', values['heartbeat-timeout']);
  if (heartbeatTimeout != null)
    parsed.heartbeatTimeout = duration('--heartbeat-timeout', heartbeatTimeout, 1);
  return parsed;
}

/** For an unknown flag, the command's flag nearest to it. */
function unknownFlagHint(error: NodeJS.ErrnoException, options: FlagOptions): string {
  const unknown =
    error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /'(--?[^']+)'/.exec(error.message)?.[1] : undefined;
  if (unknown === undefined || !unknown.startsWith('--')) return '';
  const flags = Object.keys({ ...options, ...COMMON_FLAGS }).map((name) => `--${name}`);
  return didYouMean(unknown.split('=')[0] as string, flags);
}

/** --debounce, --max-batch-wait and --max-keys, which every consuming command takes. */
function applyBatchFlags(
  feed: WalFeedOptions,
  values: {
    debounce?: string | undefined;
    'max-batch-wait'?: string | undefined;
    'max-keys'?: string | undefined;
  },
): void {
  const debounce = milliseconds('debounce', values.debounce);
  if (debounce != null) feed.debounce = debounce;
  const maxBatchWait = milliseconds('max-batch-wait', values['max-batch-wait']);
  if (maxBatchWait != null) feed.maxBatchWait = maxBatchWait;
  const maxKeys = wholeNumber('max-keys', values['max-keys'], 'keys per table', 1);
  if (maxKeys !== undefined) feed.maxKeys = maxKeys;
}

function parseListen(argv: string[]): ParsedCommand {
  refuseSecretArgument('listen', argv);
  const { values, verbosity, ...format } = parseFlags('listen', argv, {
    dsn: { type: 'string' },
    channel: { type: 'string' },
    from: { type: 'string' },
    debounce: { type: 'string' },
    'max-batch-wait': { type: 'string' },
    'first-connect-timeout': { type: 'string' },
    'max-keys': { type: 'string' },
    json: { type: 'boolean' },
    ...SECRET_FLAGS,
    'heartbeat-timeout': { type: 'string' },
  });
  if (values.help) return { command: 'help', topic: 'listen', json: false, verbosity, feed: {} };
  const feed: WalFeedOptions = {};
  if (values.dsn !== undefined) feed.connectionString = values.dsn;
  applyBatchFlags(feed, values);
  const firstConnect = milliseconds('first-connect-timeout', values['first-connect-timeout'], true);
  if (firstConnect !== undefined) feed.firstConnectTimeout = firstConnect;
  const json = values.json ?? false;
  if (values.from !== undefined) {
    refuseWithFrom(values, 'listen');
    return applySecretFlags(
      { command: 'listen', json, verbosity, feed, from: values.from, ...format },
      values,
    );
  }
  const channel = requireChannel(values.channel, 'listen');
  return applySecretFlags({ command: 'listen', json, verbosity, feed, channel, ...format }, values);
}

/** --from reads a broker: no database, so neither --channel nor --dsn goes with it. */
function refuseWithFrom(values: { channel?: string | undefined; dsn?: string | undefined }, command: string) {
  if (values.channel !== undefined || values.dsn !== undefined) {
    const flag = values.channel !== undefined ? '--channel' : '--dsn';
    throw new ConfigError(
      `pgnudge ${command} --from reads a broker, with no database connection: drop ${flag}`,
      flag,
    );
  }
}

function requireChannel(channel: string | undefined, command: string): string {
  if (channel === undefined || channel === '') {
    throw new ConfigError(
      `pgnudge ${command} needs --channel NAME, the NOTIFY channel; see pgnudge ${command} --help`,
      '--channel',
    );
  }
  return channel;
}

function parseDoctor(argv: string[]): ParsedCommand {
  const { values, verbosity, ...format } = parseFlags('doctor', argv, {
    dsn: { type: 'string' },
    publication: { type: 'string' },
    table: { type: 'string', multiple: true },
    json: { type: 'boolean' },
  });
  if (values.help) return { command: 'help', topic: 'doctor', json: false, verbosity, feed: {} };
  const feed: WalFeedOptions = {};
  if (values.dsn !== undefined) feed.connectionString = values.dsn;
  if (values.publication !== undefined) feed.publication = values.publication;
  if (values.table !== undefined) {
    // Checked now, so a malformed name is a usage error (exit 2) like watch's.
    for (const name of values.table) parseTableName(name);
    feed.tables = values.table;
  }
  return { command: 'doctor', json: values.json ?? false, verbosity, feed, ...format };
}

function parseDemo(argv: string[]): ParsedCommand {
  const { values, verbosity, ...format } = parseFlags('demo', argv, {});
  if (values.help) return { command: 'help', topic: 'demo', json: false, verbosity, feed: {} };
  return { command: 'demo', json: false, verbosity, feed: {}, ...format };
}

function parseWatch(argv: string[]): ParsedCommand {
  const { values, verbosity, ...format } = parseFlags('watch', argv, {
    ...FEED_FLAGS,
    physical: { type: 'boolean' },
  });
  if (values.help) return { command: 'help', topic: 'watch', json: false, verbosity, feed: {} };
  if (values.channel !== undefined) {
    throw new ConfigError('--channel belongs to pgnudge bridge and pgnudge listen, not watch', '--channel');
  }
  if (values.physical) {
    const logical = (['plugin', 'publication', 'keys', 'partitions'] as const).find(
      (flag) => values[flag] !== undefined,
    );
    if (logical !== undefined) {
      throw new ConfigError(
        `--${logical} belongs to logical decoding; pgnudge watch --physical decodes physical WAL itself (table-level events under the partition root)`,
        `--${logical}`,
      );
    }
  }
  const feed = feedFromFlags(values);
  const parsed: ParsedCommand = { command: 'watch', json: values.json ?? false, verbosity, feed, ...format };
  if (values.physical) parsed.physical = true;
  return parsed;
}

function parseBridge(argv: string[]): ParsedCommand {
  refuseSecretArgument('bridge', argv);
  const { values, verbosity, ...format } = parseFlags('bridge', argv, {
    ...FEED_FLAGS,
    ...SECRET_FLAGS,
    to: { type: 'string', multiple: true },
  });
  if (values.help) return { command: 'help', topic: 'bridge', json: false, verbosity, feed: {} };
  const { to, ...rest } = values;
  const feed = feedFromFlags(rest);
  const channel = requireChannel(values.channel, 'bridge');
  return applySecretFlags(
    {
      command: 'bridge',
      json: values.json ?? false,
      verbosity,
      feed,
      channel,
      ...format,
      ...(to === undefined ? {} : { to }),
    },
    values,
  );
}

/** A feed's options from watch's flags. */
function feedFromFlags(values: {
  dsn?: string | undefined;
  table?: string[] | undefined;
  plugin?: string | undefined;
  publication?: string | undefined;
  partitions?: string | undefined;
  keys?: boolean | undefined;
  debounce?: string | undefined;
  'max-batch-wait'?: string | undefined;
  'max-keys'?: string | undefined;
  failsafe?: string | undefined;
  'status-interval'?: string | undefined;
  'liveness-timeout'?: string | undefined;
  'first-connect-timeout'?: string | undefined;
  'read-pacing'?: string | undefined;
}): WalFeedOptions {
  const feed: WalFeedOptions = {};
  if (values.dsn !== undefined) feed.connectionString = values.dsn;
  if (values.table !== undefined) feed.tables = values.table;
  if (values.plugin !== undefined) {
    const plugin = values.plugin as PluginChoice;
    if (!PLUGIN_CHOICES.includes(plugin)) {
      throw new ConfigError(
        `--plugin must be ${describeChoices(PLUGIN_CHOICES)}; got "${values.plugin}"`,
        '--plugin',
      );
    }
    feed.plugin = plugin;
  }
  if (values.publication !== undefined) feed.publication = values.publication;
  if (values.partitions !== undefined) {
    const partitions = values.partitions as PartitionNaming;
    if (!PARTITION_NAMINGS.includes(partitions)) {
      throw new ConfigError(
        `--partitions must be ${describeChoices(PARTITION_NAMINGS)}; got "${values.partitions}"`,
        '--partitions',
      );
    }
    feed.partitions = partitions;
  }
  if (values.keys) feed.keys = true;
  applyBatchFlags(feed, values);
  const failsafe = milliseconds('failsafe', values.failsafe, true);
  if (failsafe !== undefined) feed.failsafe = failsafe;
  const statusInterval = milliseconds('status-interval', values['status-interval']);
  if (statusInterval != null) feed.statusInterval = statusInterval;
  const liveness = milliseconds('liveness-timeout', values['liveness-timeout'], true);
  if (liveness !== undefined) feed.livenessTimeout = liveness;
  const firstConnect = milliseconds('first-connect-timeout', values['first-connect-timeout'], true);
  if (firstConnect !== undefined) feed.firstConnectTimeout = firstConnect;
  const readPacing = milliseconds('read-pacing', values['read-pacing']);
  if (readPacing != null) feed.readPacing = readPacing;
  return feed;
}

function parseServe(argv: string[]): ParsedCommand {
  // Named apart from "unknown option": a token in argv is readable by every user of the machine (ps).
  if (argv.some((arg) => arg === '--token' || arg.startsWith('--token='))) {
    throw new ConfigError(
      'pgnudge serve takes no --token: arguments are visible to every user of the machine (ps); set PGNUDGE_TOKEN or use --token-file PATH',
      '--token',
    );
  }
  refuseSecretArgument('serve', argv);
  const { json: _json, channel: _channel, ...feedFlags } = FEED_FLAGS;
  const { values, verbosity, ...format } = parseFlags('serve', argv, {
    ...feedFlags,
    channel: { type: 'string' },
    from: { type: 'string' },
    port: { type: 'string' },
    host: { type: 'string' },
    'token-file': { type: 'string' },
    ...SECRET_FLAGS,
    'heartbeat-timeout': { type: 'string' },
  });
  if (values.help) return { command: 'help', topic: 'serve', json: false, verbosity, feed: {} };
  const {
    channel,
    from,
    port,
    host,
    'token-file': tokenFile,
    'secret-file': secretFile,
    insecure,
    'heartbeat-timeout': heartbeatTimeout,
    'log-format': _logFormat,
    ...rest
  } = values;
  const feed = feedFromFlags(rest);
  if (from !== undefined) refuseWithFrom({ channel, dsn: rest.dsn }, 'serve');
  if (channel !== undefined || from !== undefined) {
    const own = (['table', 'plugin', 'publication', 'partitions', 'keys'] as const).find(
      (flag) => rest[flag] !== undefined,
    );
    if (own !== undefined) {
      throw new ConfigError(
        '--table, --plugin, --publication, --partitions and --keys belong to a feed of its own; with --channel or --from, the bridge decides them',
        `--${own}`,
      );
    }
    if (rest['read-pacing'] !== undefined) {
      throw new ConfigError(
        '--read-pacing paces a replication stream; with --channel, serve reads NOTIFY messages instead',
        '--read-pacing',
      );
    }
    if (from === undefined) requireChannel(channel, 'serve');
  } else {
    const flag =
      secretFile !== undefined
        ? '--secret-file'
        : insecure !== undefined
          ? '--insecure'
          : heartbeatTimeout !== undefined
            ? '--heartbeat-timeout'
            : undefined;
    if (flag !== undefined) {
      throw new ConfigError(`${flag} belongs to --channel or --from (serving a bridge's stream)`, flag);
    }
  }
  const serve: ServeFlags = { port: portNumber(port), host: host ?? '127.0.0.1' };
  if (serve.host === '')
    throw new ConfigError('--host needs an address, e.g. 127.0.0.1 or 0.0.0.0', '--host');
  if (tokenFile !== undefined) serve.tokenFile = tokenFile;
  return applySecretFlags(
    {
      command: 'serve',
      json: false,
      verbosity,
      feed,
      ...(channel !== undefined ? { channel } : {}),
      ...(from !== undefined ? { from } : {}),
      serve,
      ...format,
    },
    { 'secret-file': secretFile, insecure, 'heartbeat-timeout': heartbeatTimeout },
  );
}

function portNumber(text: string | undefined): number {
  if (text === undefined) return 8080;
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) {
    throw new ConfigError(`--port takes a TCP port from 0 to 65535; got "${text}"`, '--port');
  }
  return Number(text);
}

/** `-v` = info, `-vv` = debug, `-vvv` = trace; repeated flags add up. */
function countVerbosity(argv: readonly string[]): number {
  let level = 0;
  for (const arg of argv) if (/^-v+$/.test(arg)) level += arg.length - 1;
  return Math.min(level, 3);
}

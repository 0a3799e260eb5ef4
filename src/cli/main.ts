#!/usr/bin/env node
// The `pgnudge` executable: wiring only. Parsing lives in args.ts, printing in format.ts.
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { NotifyBridge } from '../fanout/bridge.js';
import type { BrokerFeed } from '../fanout/broker-feed.js';
import type { NotifyFeed } from '../fanout/notify-feed.js';
import { RawFeed } from '../feed/raw-feed.js';
import { parseTableName } from '../feed/tables.js';
import { WalFeed } from '../feed/wal-feed.js';
import { type BoundLogger, bindLogger, type Logger } from '../logger.js';
import { parseConnectionString, resolveConnectionSettings } from '../transport/settings.js';
import { nodeSettingsIo } from '../transport/settings-io.js';
import { parseCommandLine } from './args.js';
import { type Palette, paletteFor } from './color.js';
import { bridgeConsumer } from './consumer.js';
import { runDemo } from './demo.js';
import { doctorWatch, runDoctor } from './doctor/run.js';
import { formatHumanLine, formatJsonLine } from './format.js';
import { COMMAND_HELP, MAIN_HELP } from './help.js';
import { cliLogger, cliLogLevel, formatFatal, type LogFormat, type LogSink } from './log-output.js';
import { startProgress } from './progress.js';
import { cliChannelAuth } from './secret.js';
import { runServe } from './serve.js';

const EXIT_OK = 0;
const EXIT_FATAL = 1;
const EXIT_USAGE = 2;

/** How the process writes on stderr: its colour, and the format --log-format asked for. */
function stderrSink(format: LogFormat): LogSink {
  return {
    write: (text) => process.stderr.write(text),
    now: () => new Date(),
    format,
    paint: paletteFor(process.stderr.isTTY, process.env),
  };
}

/**
 * Before the command line is parsed (a usage error), whether it asked for JSON on stderr: --json, or
 * --log-format json.
 */
function wantsJson(argv: readonly string[]): boolean {
  return argv.some(
    (arg, i) =>
      arg === '--json' || arg === '--log-format=json' || (arg === '--log-format' && argv[i + 1] === 'json'),
  );
}

/**
 * Warns when --dsn carries a password: every user of the machine can read a process's arguments (ps,
 * /proc/PID/cmdline). A DSN that does not parse is left to the command, which reports it.
 */
function warnAboutPasswordInDsn(dsn: string | undefined, log: Logger): void {
  if (dsn === undefined) return;
  let password: string | undefined;
  try {
    password = parseConnectionString(dsn).password;
  } catch {
    return;
  }
  if (password === undefined) return;
  log.warn?.(
    'pgnudge: the password in --dsn is visible to every user of this machine (ps, /proc); set PGPASSWORD, or put it in ~/.pgpass (PGPASSFILE), and leave it out of --dsn',
  );
}

/**
 * The package's version. package.json is two levels above dist/cli/main.js, but three above the
 * test build's build/src/cli/main.js, so look in both and take the one that is ours.
 */
function version(): string {
  const paths = ['../../package.json', '../../../package.json'];
  for (const path of paths) {
    try {
      const manifest = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (manifest.name === 'pgnudge' && typeof manifest.version === 'string') return manifest.version;
    } catch {
      // Not there in this layout; try the next.
    }
  }
  // Not a configuration the user can correct: the installation itself is broken, so no error code applies.
  const looked = paths.map((path) => new URL(path, import.meta.url).pathname).join(' or ');
  throw new Error(
    `the pgnudge installation is incomplete: its package.json is not at ${looked}; reinstall pgnudge`,
  );
}

/** Prints a fatal error on stderr (see formatFatal) and returns the exit status it means. */
function reportError(error: unknown, sink: LogSink): number {
  sink.write(formatFatal(error, sink.now(), sink));
  return error instanceof ConfigError ? EXIT_USAGE : EXIT_FATAL;
}

/**
 * Prints the feed's items on stdout until it ends; given `progressLog` (-v), a status line while changes
 * arrive unprinted.
 */
async function watch(
  feed: WalFeed | RawFeed | NotifyFeed | BrokerFeed,
  json: boolean,
  paint: Palette,
  progressLog: BoundLogger | null,
): Promise<void> {
  const progress = progressLog ? startProgress(feed, progressLog) : null;
  const stop = () => void feed.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // A closed pipe (`pgnudge watch | head`) is a clean end, not a crash.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') stop();
  });
  try {
    for await (const item of feed) {
      process.stdout.write(`${json ? formatJsonLine(item) : formatHumanLine(item, new Date(), paint)}\n`);
      progress?.printed();
    }
  } finally {
    progress?.stop();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  let errors = stderrSink(wantsJson(argv) ? 'json' : 'text');
  try {
    const parsed = parseCommandLine(argv);
    const format = parsed.logFormat ?? 'text';
    const sink = stderrSink(format);
    // Under --json a fatal error is JSON too, so a script reading the items can read why they stopped.
    errors = stderrSink(parsed.json || format === 'json' ? 'json' : 'text');
    const out = paletteFor(process.stdout.isTTY, process.env);
    // A bridge prints nothing on stdout: its lifecycle (connected, active or standby) is how it shows it is
    // alive, so it logs at info without -v. Every other command's stdout is its output.
    const logLevel = cliLogLevel(parsed.verbosity, parsed.command === 'bridge' ? 'info' : 'warn');
    const logger = cliLogger(logLevel, sink);
    const feed = { ...parsed.feed, logLevel };
    // -v: a status line every 2 s while changes arrive and nothing is printed (a large transaction draining).
    const progressLog = parsed.verbosity >= 1 ? bindLogger(logger, logLevel) : null;
    warnAboutPasswordInDsn(parsed.feed.connectionString, logger);
    switch (parsed.command) {
      case 'help': {
        const text = `${parsed.topic && Object.hasOwn(COMMAND_HELP, parsed.topic) ? COMMAND_HELP[parsed.topic as keyof typeof COMMAND_HELP] : MAIN_HELP}\n`;
        // `pgnudge` alone is a usage error: the help goes where errors go, and the status says so.
        if (parsed.misuse) {
          process.stderr.write(text);
          return EXIT_USAGE;
        }
        process.stdout.write(text);
        return EXIT_OK;
      }
      case 'version':
        process.stdout.write(`${version()}\n`);
        return EXIT_OK;
      case 'watch': {
        const watched = parsed.physical ? new RawFeed({ ...feed, logger }) : new WalFeed({ ...feed, logger });
        await watch(watched, parsed.json, out, progressLog);
        return EXIT_OK;
      }
      case 'doctor': {
        const log = bindLogger(logger, logLevel);
        const { publication, tables, ...connection } = parsed.feed;
        // A bad DSN or PG* value is a ConfigError here: exit 2, like every usage error.
        const settings = resolveConnectionSettings(connection, process.env, nodeSettingsIo(process.env, log));
        return await runDoctor({
          settings: { ...settings, applicationName: settings.applicationName ?? 'pgnudge doctor' },
          watch: doctorWatch(publication, tables),
          json: parsed.json,
          write: (text) => process.stdout.write(text),
          logger: log,
          paint: out,
          ...(parsed.feed.tables === undefined ? {} : { tables: parsed.feed.tables.map(parseTableName) }),
        });
      }
      case 'demo':
        return await runDemo({
          write: (text) => process.stdout.write(text),
          ...(parsed.verbosity > 0 ? { logger, logLevel } : {}),
          paint: out,
        });
      case 'bridge': {
        const bridge = new NotifyBridge({
          ...feed,
          channel: parsed.channel ?? '',
          ...(parsed.to === undefined ? {} : { to: parsed.to }),
          ...cliChannelAuth(parsed, process.env),
          logger,
        });
        const stop = () => void bridge.close();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        await bridge.run();
        return EXIT_OK;
      }
      case 'listen': {
        const consumer = bridgeConsumer({ ...parsed, feed }, process.env, logger);
        await watch(consumer, parsed.json, out, progressLog);
        return EXIT_OK;
      }
      case 'serve': {
        let stop = () => {};
        const stopped = new Promise<void>((resolve) => {
          stop = resolve;
        });
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          return await runServe(
            { ...parsed, feed },
            {
              env: process.env,
              logger,
              out: (text) => process.stdout.write(text),
              err: (text) => process.stderr.write(text),
              stopped,
            },
          );
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      }
    }
  } catch (error) {
    return reportError(error, errors);
  }
}

process.exitCode = await main(process.argv.slice(2));

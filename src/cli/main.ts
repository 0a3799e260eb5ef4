#!/usr/bin/env node
// The `pgnudge` executable: wiring only. Parsing lives in args.ts, printing in format.ts.
import { readFileSync } from 'node:fs';
import { ConfigError, PgnudgeError } from '../errors.js';
import { NotifyBridge } from '../fanout/bridge.js';
import { NotifyFeed } from '../fanout/notify-feed.js';
import { WalFeed } from '../feed/wal-feed.js';
import { bindLogger, type Logger } from '../logger.js';
import { resolveConnectionSettings } from '../transport/settings.js';
import { nodeSettingsIo } from '../transport/settings-io.js';
import { COMMAND_HELP, MAIN_HELP, parseCommandLine } from './args.js';
import { runDemo } from './demo.js';
import { doctorWatch, runDoctor } from './doctor/run.js';
import { formatHumanLine, formatJsonLine } from './format.js';
import { startProgress } from './progress.js';
import { runServe } from './serve.js';

const EXIT_OK = 0;
const EXIT_FATAL = 1;
const EXIT_USAGE = 2;

function stderrLogger(verbosity: number): Logger {
  const write = (level: string) => (message: string) => {
    process.stderr.write(`${new Date().toISOString()} ${level} ${message}\n`);
  };
  const logger: Logger = { warn: write('WARN '), error: write('ERROR') };
  if (verbosity >= 1) logger.info = write('INFO ');
  if (verbosity >= 2) logger.debug = write('DEBUG');
  if (verbosity >= 3) logger.trace = write('TRACE');
  return logger;
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

/** Prints an error as one or two plain lines: the cause (with its fix) and the stable code. */
function reportError(error: unknown): number {
  if (error instanceof PgnudgeError) {
    process.stderr.write(`pgnudge: ${error.message}\n  (${error.code})\n`);
    return error instanceof ConfigError ? EXIT_USAGE : EXIT_FATAL;
  }
  process.stderr.write(`pgnudge: unexpected failure: ${(error as Error)?.stack ?? error}\n`);
  return EXIT_FATAL;
}

/** Prints the feed's items on stdout until it ends; with `-v`, a status line while changes arrive unprinted. */
async function watch(
  feed: WalFeed | NotifyFeed,
  json: boolean,
  verbosity: number,
  logger: Logger,
): Promise<void> {
  const progress = verbosity >= 1 ? startProgress(feed, bindLogger(logger)) : null;
  const stop = () => void feed.close();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // A closed pipe (`pgnudge watch | head`) is a clean end, not a crash.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') stop();
  });
  try {
    for await (const item of feed) {
      process.stdout.write(`${json ? formatJsonLine(item) : formatHumanLine(item, new Date())}\n`);
      progress?.printed();
    }
  } finally {
    progress?.stop();
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  try {
    const parsed = parseCommandLine(argv);
    switch (parsed.command) {
      case 'help':
        process.stdout.write(
          `${parsed.topic && Object.hasOwn(COMMAND_HELP, parsed.topic) ? COMMAND_HELP[parsed.topic as keyof typeof COMMAND_HELP] : MAIN_HELP}\n`,
        );
        return EXIT_OK;
      case 'version':
        process.stdout.write(`${version()}\n`);
        return EXIT_OK;
      case 'watch': {
        const logger = stderrLogger(parsed.verbosity);
        const feed = new WalFeed({ ...parsed.feed, logger });
        await watch(feed, parsed.json, parsed.verbosity, logger);
        return EXIT_OK;
      }
      case 'doctor': {
        const log = bindLogger(stderrLogger(parsed.verbosity));
        const { publication, tables, ...connection } = parsed.feed;
        // A bad DSN or PG* value is a ConfigError here: exit 2, like every usage error.
        const settings = resolveConnectionSettings(connection, process.env, nodeSettingsIo(process.env, log));
        return await runDoctor({
          settings: { ...settings, applicationName: settings.applicationName ?? 'pgnudge doctor' },
          watch: doctorWatch(publication, tables),
          json: parsed.json,
          write: (text) => process.stdout.write(text),
          logger: log,
        });
      }
      case 'demo':
        return await runDemo({
          write: (text) => process.stdout.write(text),
          ...(parsed.verbosity > 0 ? { logger: stderrLogger(parsed.verbosity) } : {}),
        });
      case 'bridge': {
        const bridge = new NotifyBridge({
          ...parsed.feed,
          channel: parsed.channel ?? '',
          logger: stderrLogger(parsed.verbosity),
        });
        const stop = () => void bridge.close();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        await bridge.run();
        return EXIT_OK;
      }
      case 'listen': {
        const logger = stderrLogger(parsed.verbosity);
        const feed = new NotifyFeed({ ...parsed.feed, channel: parsed.channel ?? '', logger });
        await watch(feed, parsed.json, parsed.verbosity, logger);
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
          return await runServe(parsed, {
            env: process.env,
            logger: stderrLogger(parsed.verbosity),
            out: (text) => process.stdout.write(text),
            err: (text) => process.stderr.write(text),
            stopped,
          });
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      }
    }
  } catch (error) {
    return reportError(error);
  }
}

process.exitCode = await main(process.argv.slice(2));

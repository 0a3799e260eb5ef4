#!/usr/bin/env node
// The `pgnudge` executable: wiring only. Parsing lives in args.ts, printing in format.ts.
import { readFileSync } from 'node:fs';
import { ConfigError, PgnudgeError } from '../errors.js';
import { NotifyBridge } from '../fanout/bridge.js';
import type { BrokerFeed } from '../fanout/broker-feed.js';
import type { NotifyFeed } from '../fanout/notify-feed.js';
import { WalFeed } from '../feed/wal-feed.js';
import { bindLogger, escapeControls, type Logger, printable } from '../logger.js';
import { resolveConnectionSettings } from '../transport/settings.js';
import { nodeSettingsIo } from '../transport/settings-io.js';
import { COMMAND_HELP, MAIN_HELP, parseCommandLine } from './args.js';
import { bridgeConsumer } from './consumer.js';
import { runDemo } from './demo.js';
import { runDoctor } from './doctor/run.js';
import { formatHumanLine, formatJsonLine } from './format.js';
import { cliChannelAuth } from './secret.js';
import { runServe } from './serve.js';

const EXIT_OK = 0;
const EXIT_FATAL = 1;
const EXIT_USAGE = 2;

/** Log lines on stderr, one per message: controls escaped whoever logs (escapeControls). */
function stderrLogger(verbosity: number): Logger {
  const write = (level: string) => (message: string) => {
    process.stderr.write(`${new Date().toISOString()} ${level} ${escapeControls(message)}\n`);
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

/**
 * Prints an error as one or two plain lines: the cause (with its fix) and the stable code. A runtime
 * error may carry a server's text, so it is printable; a usage error holds only what the user gave
 * (already printable where it was an argument), so its controls are escaped without escaping twice.
 */
function reportError(error: unknown): number {
  if (error instanceof PgnudgeError) {
    const text = error instanceof ConfigError ? escapeControls(error.message) : printable(error.message);
    process.stderr.write(`pgnudge: ${text}\n  (${error.code})\n`);
    return error instanceof ConfigError ? EXIT_USAGE : EXIT_FATAL;
  }
  const stack = String((error as Error)?.stack ?? error);
  process.stderr.write(`pgnudge: unexpected failure: ${stack.split('\n').map(escapeControls).join('\n')}\n`);
  return EXIT_FATAL;
}

async function watch(feed: WalFeed | NotifyFeed | BrokerFeed, json: boolean): Promise<void> {
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
    }
  } finally {
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
        const feed = new WalFeed({ ...parsed.feed, logger: stderrLogger(parsed.verbosity) });
        await watch(feed, parsed.json);
        return EXIT_OK;
      }
      case 'doctor': {
        const log = bindLogger(stderrLogger(parsed.verbosity));
        // A bad DSN or PG* value is a ConfigError here: exit 2, like every usage error.
        const settings = resolveConnectionSettings(
          parsed.feed,
          process.env,
          nodeSettingsIo(process.env, log),
        );
        return await runDoctor({
          settings: { ...settings, applicationName: settings.applicationName ?? 'pgnudge doctor' },
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
          ...(parsed.to === undefined ? {} : { to: parsed.to }),
          ...cliChannelAuth(parsed, process.env),
          logger: stderrLogger(parsed.verbosity),
        });
        const stop = () => void bridge.close();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        await bridge.run();
        return EXIT_OK;
      }
      case 'listen': {
        const feed = bridgeConsumer(parsed, process.env, stderrLogger(parsed.verbosity));
        await watch(feed, parsed.json);
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

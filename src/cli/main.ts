#!/usr/bin/env node
// The `pgnudge` executable: wiring only. Parsing lives in args.ts, printing in format.ts.
import { readFileSync } from 'node:fs';
import { ConfigError, PgnudgeError } from '../errors.js';
import { WalFeed } from '../feed/wal-feed.js';
import type { Logger } from '../logger.js';
import { MAIN_HELP, parseCommandLine, WATCH_HELP } from './args.js';
import { formatHumanLine, formatJsonLine } from './format.js';

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

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return manifest.version;
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

async function watch(feed: WalFeed, json: boolean): Promise<void> {
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
        process.stdout.write(`${parsed.topic === 'watch' ? WATCH_HELP : MAIN_HELP}\n`);
        return EXIT_OK;
      case 'version':
        process.stdout.write(`${version()}\n`);
        return EXIT_OK;
      case 'watch': {
        const feed = new WalFeed({ ...parsed.feed, logger: stderrLogger(parsed.verbosity) });
        await watch(feed, parsed.json);
        return EXIT_OK;
      }
    }
  } catch (error) {
    return reportError(error);
  }
}

process.exitCode = await main(process.argv.slice(2));

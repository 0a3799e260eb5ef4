// `pgnudge serve` (contract R31): one feed, or a bridge's channel, served over node:http to many browsers
// through one EventHub. Wiring only: the routes live in src/http/server.ts, the token rules in token.ts.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { ConfigError } from '../errors.js';
import { WalFeed } from '../feed/wal-feed.js';
import { EventHub } from '../http/event-hub.js';
import { createRequestHandler } from '../http/server.js';
import { TokenCheck } from '../http/token.js';
import { bindLogger, type Logger } from '../logger.js';
import type { ParsedCommand } from './args.js';
import { bridgeConsumer } from './consumer.js';
import { resolveToken } from './token-file.js';

/** What `serve` needs from the process. */
export interface ServeIo {
  env: Record<string, string | undefined>;
  logger: Logger;
  /** One line for the user (where it listens) on stdout. */
  out(text: string): void;
  /** Notices on stderr (serving without a token). */
  err(text: string): void;
  /** Resolves when the process is asked to stop (SIGINT, SIGTERM). */
  stopped: Promise<void>;
}

/** Whether `host` can only be reached from this machine: 127.0.0.0/8, ::1, or the name localhost. */
export function isLoopbackHost(host: string): boolean {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (bare.toLowerCase() === 'localhost') return true;
  const family = isIP(bare);
  if (family === 4) return bare.startsWith('127.');
  if (family === 6) return /^(0*:)*:?0*1$/.test(bare) || /^::ffff:127\./i.test(bare);
  return false;
}

/** Runs `serve` until stopped (exit status 0) or until the feed fails (thrown, so main reports it). */
export async function runServe(parsed: ParsedCommand, io: ServeIo): Promise<number> {
  const flags = parsed.serve ?? { port: 8080, host: '127.0.0.1' };
  const token = resolveToken(flags.tokenFile, io.env);
  if (token === null && !isLoopbackHost(flags.host)) {
    throw new ConfigError(
      `--host ${flags.host} would serve without authentication beyond this machine; set PGNUDGE_TOKEN or --token-file PATH, or listen on 127.0.0.1`,
      '--host',
    );
  }
  const log = bindLogger(io.logger);
  // Built before listening, so a bad option is a usage error (exit 2) and no port was ever open.
  const feed =
    parsed.channel !== undefined || parsed.from !== undefined
      ? bridgeConsumer(parsed, io.env, io.logger)
      : new WalFeed({ ...parsed.feed, logger: io.logger });
  const check = token === null ? null : new TokenCheck(token);
  // Requests arrive only once listening, by which time the handler is set.
  let handle: ((req: IncomingMessage, res: ServerResponse) => void) | null = null;
  const server = createServer({ noDelay: true }, (req, res) => handle?.(req, res));
  try {
    await listen(server, flags.port, flags.host);
  } catch (error) {
    await feed.close();
    throw error;
  }
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : flags.port;
  const bound = typeof address === 'object' && address !== null ? address.address : flags.host;
  if (token === null && !isLoopbackHost(bound)) {
    await Promise.all([feed.close(), new Promise((resolve) => server.close(resolve))]);
    throw new ConfigError(
      `--host ${flags.host} resolved to ${bound}, which is not loopback; set a token to serve beyond this machine`,
      '--host',
    );
  }
  // Only now is the feed started: a port that cannot be had costs no connection to the server. The
  // hub follows the feed's state for /healthz; /metrics reads its stats.
  const hub = new EventHub(feed, { logger: io.logger });
  handle = createRequestHandler({ hub, token: check, log, stats: () => feed.stats() });
  const origin = `http://${isIP(bound) === 6 ? `[${bound}]` : bound}:${port}`;
  if (token === null) {
    io.err(
      `pgnudge: no token set (PGNUDGE_TOKEN or --token-file): serving without authentication, on loopback only\n`,
    );
  }
  io.out(
    `serving ${origin}/ (live page${token === null ? '' : ': add ?token=<token>'}), ${origin}/events, ${origin}/metrics, ${origin}/healthz\n`,
  );
  try {
    await Promise.race([hub.done, io.stopped]);
  } finally {
    await shutdown(server, hub);
  }
  return 0;
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException) => {
      reject(
        new ConfigError(
          `cannot listen on ${host}:${port} (${error.code ?? error.message}): ${error.code === 'EADDRINUSE' ? 'another process uses the port; choose another with --port' : 'check --host and --port'}`,
          '--port',
          { cause: error },
        ),
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/** Ends the feed and every stream, then every connection: browsers reconnect when serve is back. */
async function shutdown(server: Server, hub: EventHub): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  await hub.close();
  server.closeAllConnections();
  await closed;
}

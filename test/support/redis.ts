// A throwaway redis-server for live tests of the Redis transport: loopback only, on a free port, nothing
// persisted (no RDB, no AOF, no Unix socket), optionally with a password and/or TLS only (`rediss://`)
// under a CA of its own. kill() and restart() act on the same port, as a broker crash would.
import { readFileSync } from 'node:fs';
import { BackgroundServer } from './background-server.js';
import { freePort } from './cluster.js';
import { RespClient } from './resp-client.js';
import { serverTlsFiles } from './tls-files.js';

export const REDIS_SERVER = '/usr/bin/redis-server';

export interface RedisInfo {
  host: string;
  port: number;
  /** The `requirepass` password, or null when the server asks none. */
  password: string | null;
  /** With TLS the port speaks TLS only; verify against `caFile` for `localhost`. */
  tls: { caFile: string } | null;
  /** `redis://` or `rediss://` URL with the password, for transports addressed by URL. */
  url: string;
}

export interface RedisOptions {
  password?: string;
  tls?: boolean;
}

export class RedisServer {
  readonly info: RedisInfo;
  readonly #server: BackgroundServer;

  private constructor(info: RedisInfo, server: BackgroundServer) {
    this.info = info;
    this.#server = server;
  }

  static async start(options: RedisOptions = {}): Promise<RedisServer> {
    const port = await freePort();
    const password = options.password ?? null;
    let tls: { caFile: string; certFile: string; keyFile: string } | null = null;
    const server = await BackgroundServer.start({
      name: 'redis',
      command: REDIS_SERVER,
      prepare: (root) => {
        if (options.tls) tls = serverTlsFiles(root, 'redis');
      },
      args: (root) => [
        '--bind',
        '127.0.0.1',
        ...(tls
          ? [
              '--port',
              '0',
              '--tls-port',
              String(port),
              '--tls-cert-file',
              tls.certFile,
              '--tls-key-file',
              tls.keyFile,
              '--tls-ca-cert-file',
              tls.caFile,
              '--tls-auth-clients',
              'no',
            ]
          : ['--port', String(port)]),
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        root,
        '--daemonize',
        'no',
        ...(password !== null ? ['--requirepass', password] : []),
      ],
      ready: async () => {
        const client = await RespClient.connect(connectOptions(describe()));
        try {
          return (await client.command('PING')) === 'PONG';
        } finally {
          client.close();
        }
      },
    });
    function describe(): RedisInfo {
      const scheme = tls ? 'rediss' : 'redis';
      const auth = password !== null ? `:${encodeURIComponent(password)}@` : '';
      return {
        host: '127.0.0.1',
        port,
        password,
        tls: tls ? { caFile: tls.caFile } : null,
        url: `${scheme}://${auth}127.0.0.1:${port}`,
      };
    }
    return new RedisServer(describe(), server);
  }

  /** A raw RESP connection to this server, authenticated when it has a password. */
  connect(): Promise<RespClient> {
    return RespClient.connect(connectOptions(this.info));
  }

  /** SIGKILL: every client is cut, every subscription and unsent message lost. */
  kill(): Promise<void> {
    return this.#server.kill();
  }

  /** Kills the server if it runs and starts it again on the same port; resolves once it answers PING. */
  restart(): Promise<void> {
    return this.#server.restart();
  }

  stop(): void {
    this.#server.stop();
  }

  get pid(): number | null {
    return this.#server.pid;
  }

  /** The temp dir holding the server's files (removed by stop()). */
  get dir(): string {
    return this.#server.root;
  }

  log(): string {
    return this.#server.log();
  }
}

function connectOptions(info: RedisInfo) {
  return {
    host: info.host,
    port: info.port,
    ...(info.password !== null ? { password: info.password } : {}),
    ...(info.tls ? { tls: { ca: readFileSync(info.tls.caFile, 'utf8') } } : {}),
  };
}

/** Starts a redis-server; see RedisServer. */
export function startRedis(options: RedisOptions = {}): Promise<RedisServer> {
  return RedisServer.start(options);
}

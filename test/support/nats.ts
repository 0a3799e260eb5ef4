// A throwaway nats-server for live tests of the NATS transport: loopback only, on a free port, optionally
// with a user and password and a smaller max_payload. kill() and restart() act on the same port, as a
// broker crash would.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BackgroundServer } from './background-server.js';
import { freePort } from './cluster.js';
import { NatsClient } from './nats-client.js';

export const NATS_SERVER = '/usr/sbin/nats-server';

export interface NatsInfo {
  host: string;
  port: number;
  /** The credentials the server demands, or null when it accepts anyone. */
  auth: { user: string; pass: string } | null;
  /** `nats://` URL with the credentials, for transports addressed by URL. */
  url: string;
}

export interface NatsOptions {
  auth?: { user: string; pass: string };
  /** The largest payload the server takes (bytes; its default is 1 MiB), announced in its INFO. */
  maxPayload?: number;
}

export class NatsServer {
  readonly info: NatsInfo;
  readonly #server: BackgroundServer;

  private constructor(info: NatsInfo, server: BackgroundServer) {
    this.info = info;
    this.#server = server;
  }

  static async start(options: NatsOptions = {}): Promise<NatsServer> {
    const port = await freePort();
    const auth = options.auth ?? null;
    const credentials = auth ? `${encodeURIComponent(auth.user)}:${encodeURIComponent(auth.pass)}@` : '';
    const info: NatsInfo = { host: '127.0.0.1', port, auth, url: `nats://${credentials}127.0.0.1:${port}` };
    const server = await BackgroundServer.start({
      name: 'nats',
      command: NATS_SERVER,
      // max_payload has no command-line flag: a config file of one line.
      prepare: (root) => {
        if (options.maxPayload !== undefined)
          writeFileSync(join(root, 'nats.conf'), `max_payload: ${options.maxPayload}\n`);
      },
      args: (root) => [
        ...(options.maxPayload !== undefined ? ['-c', join(root, 'nats.conf')] : []),
        '-a',
        '127.0.0.1',
        '-p',
        String(port),
        ...(auth ? ['--user', auth.user, '--pass', auth.pass] : []),
      ],
      ready: async () => {
        const client = await NatsClient.connect(connectOptions(info));
        client.close();
        return true;
      },
    });
    return new NatsServer(info, server);
  }

  /** A raw NATS connection to this server (CONNECT sent and answered), with its credentials. */
  connect(): Promise<NatsClient> {
    return NatsClient.connect(connectOptions(this.info));
  }

  /** SIGKILL: every client is cut, every subscription and in-flight message lost. */
  kill(): Promise<void> {
    return this.#server.kill();
  }

  /** Kills the server if it runs and starts it again on the same port; resolves once it accepts CONNECT. */
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

function connectOptions(info: NatsInfo) {
  return { host: info.host, port: info.port, ...(info.auth ?? {}) };
}

/** Starts a nats-server; see NatsServer. */
export function startNats(options: NatsOptions = {}): Promise<NatsServer> {
  return NatsServer.start(options);
}

// A TCP forwarder for fault tests that can stop listening and come back on the same port, or cut its
// links so that the client is reset while the server's end stays open and mute.
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { freePort } from './cluster.js';

/**
 * A forwarder on a fixed port that can disappear (connection refused) and come back on the same port,
 * or cut its links silently: the client is reset while the server keeps an open, mute socket, so the
 * server learns of the loss only from its own wal_sender_timeout.
 */
export class Gate {
  readonly port: number;
  readonly #target: { host: string; port: number };
  readonly #links = new Set<{ client: Socket; server: Socket; cut: boolean }>();
  readonly #held = new Set<Socket>();
  #server: Server | null = null;
  accepted = 0;

  private constructor(port: number, target: { host: string; port: number }) {
    this.port = port;
    this.#target = target;
  }

  static async open(target: { host: string; port: number }): Promise<Gate> {
    const gate = new Gate(await freePort(), target);
    await gate.up();
    return gate;
  }

  async up(): Promise<void> {
    if (this.#server) return;
    const server = createServer((client) => this.#accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.#server = server;
  }

  /** Stops listening and closes every link: new connections are refused until `up()`. */
  async down(): Promise<void> {
    const server = this.#server;
    this.#server = null;
    for (const link of this.#links) {
      link.client.destroy();
      link.server.destroy();
    }
    this.#links.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Resets every client; each server socket stays open and is read but never answered or closed. */
  cut(): void {
    for (const link of this.#links) {
      link.cut = true;
      this.#held.add(link.server);
      link.server.once('close', () => this.#held.delete(link.server));
      link.client.resetAndDestroy();
    }
    this.#links.clear();
  }

  /** Server sockets kept open by `cut()` that the server has not closed yet. */
  get held(): number {
    return this.#held.size;
  }

  async close(): Promise<void> {
    await this.down();
    for (const socket of this.#held) socket.destroy();
    this.#held.clear();
  }

  #accept(client: Socket): void {
    this.accepted += 1;
    const server = tcpConnect(this.#target);
    const link = { client, server, cut: false };
    this.#links.add(link);
    client.on('data', (chunk: Buffer) => {
      if (!link.cut) server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (!link.cut) client.write(chunk);
    });
    const close = () => {
      if (link.cut) return;
      this.#links.delete(link);
      client.destroy();
      server.destroy();
    };
    for (const socket of [client, server]) {
      socket.on('close', close);
      socket.on('error', close);
    }
  }
}

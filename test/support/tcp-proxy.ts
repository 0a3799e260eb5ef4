// A TCP proxy for live tests: records what the client sent, and can blackhole the link (stop
// forwarding without closing) or reset it, which a real server cannot be asked to do.
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';

interface Pair {
  client: Socket;
  server: Socket;
}

/** Forwards 127.0.0.1:<port> to a target. One instance can carry many connections. */
export class TcpProxy {
  readonly #server: Server;
  readonly #pairs = new Set<Pair>();
  readonly #sent: Buffer[] = [];
  #blackholed = false;
  #held = false;
  #trigger: string | null = null;
  /** Connections accepted so far. */
  accepted = 0;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(target: { host: string; port: number }): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(server);
    server.on('connection', (client) => proxy.#accept(client, target));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return proxy;
  }

  get host(): string {
    return '127.0.0.1';
  }

  get port(): number {
    const address = this.#server.address();
    if (address === null || typeof address === 'string') throw new Error('proxy is not listening');
    return address.port;
  }

  /** Connections currently open through the proxy. */
  get open(): number {
    return this.#pairs.size;
  }

  #accept(client: Socket, target: { host: string; port: number }): void {
    this.accepted += 1;
    const server = netConnect(target);
    const pair = { client, server };
    this.#pairs.add(pair);
    if (this.#held) server.pause();
    client.on('data', (chunk: Buffer) => {
      this.#sent.push(chunk);
      if (this.#trigger !== null && chunk.includes(this.#trigger)) {
        this.#trigger = null;
        this.#blackholed = true;
      }
      if (!this.#blackholed) server.write(chunk);
    });
    server.on('data', (chunk: Buffer) => {
      if (!this.#blackholed) client.write(chunk);
    });
    const close = () => {
      this.#pairs.delete(pair);
      client.destroy();
      server.destroy();
    };
    client.on('close', close);
    server.on('close', close);
    client.on('error', close);
    server.on('error', close);
  }

  /** Every byte any client sent through the proxy, in order. */
  clientBytes(): Buffer {
    return Buffer.concat(this.#sent);
  }

  /** Stops forwarding in both directions while keeping every socket open: a dead link that never says so. */
  blackhole(): void {
    this.#blackholed = true;
  }

  /**
   * Blackholes the link the moment a client sends bytes containing `text` (plaintext links only), that
   * chunk included: a link that dies at one exact step of a handshake.
   */
  blackholeOn(text: string): void {
    this.#trigger = text;
  }

  /**
   * Stops reading from the server while the client's bytes still go through: what the server sends
   * waits in the kernel's buffers, as it does for a client that lags behind the stream.
   */
  holdDownstream(): void {
    this.#held = true;
    for (const pair of this.#pairs) pair.server.pause();
  }

  /** Delivers what the server sent while held, and forwards as usual again. */
  releaseDownstream(): void {
    this.#held = false;
    for (const pair of this.#pairs) pair.server.resume();
  }

  /** Forwards again (new traffic only; what was swallowed stays lost). */
  restore(): void {
    this.#blackholed = false;
    this.#trigger = null;
  }

  /** Resets every open connection (RST to the client), as a crashed middlebox would. */
  reset(): void {
    for (const pair of this.#pairs) {
      pair.client.resetAndDestroy();
      pair.server.destroy();
    }
    this.#pairs.clear();
  }

  async close(): Promise<void> {
    for (const pair of this.#pairs) {
      pair.client.destroy();
      pair.server.destroy();
    }
    this.#pairs.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

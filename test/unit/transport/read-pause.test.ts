// Stopping a socket's reads (read-pause.ts) through the handle and through the public fallback, over
// plain TCP and TLS: no 'data' while stopped, every byte after, in order, on a real loopback socket.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { createServer as createTlsServer, connect as tlsConnect } from 'node:tls';
import { readHandle, stopReading } from '../../../src/transport/read-pause.js';
import { tlsMaterial } from '../../support/hostile-run.js';
import { waitFor } from '../../support/wait.js';

const material = tlsMaterial();
const servers: Record<'tcp' | 'tls', Server> = {
  tcp: createServer(),
  tls: createTlsServer({ cert: material.cert, key: material.key }),
};

/** A connected pair: `socket` reads (flowing, like PgConnection's), `writer` is the server's end. */
async function pair(
  transport: 'tcp' | 'tls',
): Promise<{ socket: Socket; writer: Socket; received: Buffer[] }> {
  const server = servers[transport];
  const accepted = once(server, transport === 'tls' ? 'secureConnection' : 'connection') as Promise<[Socket]>;
  const port = (server.address() as { port: number }).port;
  const socket =
    transport === 'tls'
      ? // What is read matters here, not whom: the throwaway certificate is a CA's, not a server's.
        tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false })
      : netConnect({ host: '127.0.0.1', port });
  await once(socket, transport === 'tls' ? 'secureConnect' : 'connect');
  const [writer] = await accepted;
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  return { socket, writer, received };
}

/** Writes `text` and waits until the kernel took it (on loopback: it sits in the reader's queue). */
async function send(writer: Socket, text: string): Promise<void> {
  await new Promise<void>((resolve, reject) =>
    writer.write(text, (error) => (error ? reject(error) : resolve())),
  );
}

/** A few full turns of the event loop, in which a reading socket would have read and emitted. */
async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

before(async () => {
  for (const server of Object.values(servers)) {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  }
});
after(() => {
  for (const server of Object.values(servers)) server.close();
  material.remove();
});

for (const transport of ['tcp', 'tls'] as const) {
  describe(`stopReading over ${transport}`, () => {
    test('a connected socket has the handle interface; a destroyed one has none', async () => {
      const { socket, writer } = await pair(transport);
      assert.notEqual(readHandle(socket), null);
      socket.destroy();
      writer.destroy();
      assert.equal(readHandle(socket), null);
    });

    for (const path of ['the handle', 'the public fallback (pause/resume)'] as const) {
      test(`through ${path}: nothing arrives while stopped, everything after, in order`, async () => {
        const { socket, writer, received } = await pair(transport);
        try {
          await send(writer, 'before;');
          await waitFor(() => received.length > 0, { timeoutMs: 5000, what: 'the first bytes' });
          const resume = stopReading(socket, path === 'the handle' ? readHandle(socket) : null);
          if (path === 'the handle') assert.equal(readHandle(socket), null, 'the handle no longer reads');
          else assert.ok(socket.isPaused(), 'the fallback pauses the stream');
          await send(writer, 'during;');
          await turns(5);
          assert.equal(Buffer.concat(received).toString(), 'before;');
          resume();
          await send(writer, 'after;');
          await waitFor(() => Buffer.concat(received).toString() === 'before;during;after;', {
            timeoutMs: 5000,
            what: 'the bytes sent while stopped, then the later ones',
          });
          assert.equal(socket.isPaused(), false);
        } finally {
          socket.destroy();
          writer.destroy();
        }
      });
    }

    test('resuming a socket that was destroyed meanwhile does nothing', async () => {
      const { socket, writer } = await pair(transport);
      const resume = stopReading(socket);
      socket.destroy();
      writer.destroy();
      assert.doesNotThrow(resume);
    });
  });
}

// Stopping a socket's reads (read-pause.ts) through the handle and through the public fallback, over
// plain TCP and TLS, read as a stream, through onread (slab-reads.ts), or switched to a slab after a
// handshake that wrapped the socket (wrapped-tls-reads.ts): nothing arrives while
// stopped, every byte after, in order, on a real loopback socket.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { readHandle, stopReading } from '../../../src/transport/read-pause.js';
import { SlabReads } from '../../../src/transport/slab-reads.js';
import { slabReadsForWrappedTls } from '../../../src/transport/wrapped-tls-reads.js';
import { loopbackServers } from '../../support/loopback-servers.js';
import { waitFor } from '../../support/wait.js';

const servers = loopbackServers();

/**
 * How PgConnection reads a socket: as a flowing stream, through `onread` into a slab (slab-reads.ts),
 * or, for TLS that wraps a connected socket (after an SSLRequest), switched to a slab after its
 * handshake (wrapped-tls-reads.ts).
 */
type Reading = 'stream' | 'slab' | 'wrapped slab';

/** A connected pair: `socket` reads as PgConnection's does, `writer` is the server's end. */
async function pair(
  transport: 'tcp' | 'tls',
  reading: Reading = 'stream',
): Promise<{ socket: Socket; writer: Socket; received: Buffer[] }> {
  const server = servers[transport];
  const accepted = once(server, transport === 'tls' ? 'secureConnection' : 'connection') as Promise<[Socket]>;
  const port = (server.address() as { port: number }).port;
  let reads = reading === 'slab' ? new SlabReads() : null;
  const onread = reads === null ? {} : { onread: reads.onread };
  let socket: Socket;
  if (reading === 'wrapped slab') {
    const raw = netConnect({ host: '127.0.0.1', port });
    await once(raw, 'connect');
    const secure = tlsConnect({ socket: raw, servername: 'localhost', rejectUnauthorized: false });
    await once(secure, 'secureConnect');
    reads = slabReadsForWrappedTls(secure);
    assert.ok(reads !== null, 'this Node lets a wrapped TLS socket read into a slab');
    socket = secure;
  } else {
    socket =
      transport === 'tls'
        ? // What is read matters here, not whom: the throwaway certificate is a CA's, not a server's.
          tlsConnect({
            host: '127.0.0.1',
            port,
            servername: 'localhost',
            rejectUnauthorized: false,
            ...onread,
          } as ConnectionOptions)
        : netConnect({ host: '127.0.0.1', port, ...onread });
    await once(socket, transport === 'tls' ? 'secureConnect' : 'connect');
  }
  const [writer] = await accepted;
  const received: Buffer[] = [];
  if (reads === null) socket.on('data', (chunk: Buffer) => received.push(chunk));
  else reads.deliverTo((chunk) => received.push(Buffer.from(chunk)));
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

for (const [transport, reading] of [
  ['tcp', 'stream'],
  ['tls', 'stream'],
  ['tcp', 'slab'],
  ['tls', 'slab'],
  ['tls', 'wrapped slab'],
] as const) {
  describe(`stopReading over ${transport}, read as a ${reading}`, () => {
    test('a connected socket has the handle interface; a destroyed one has none', async () => {
      const { socket, writer } = await pair(transport, reading);
      assert.notEqual(readHandle(socket), null);
      socket.destroy();
      writer.destroy();
      assert.equal(readHandle(socket), null);
    });

    for (const path of ['the handle', 'the public fallback (pause/resume)'] as const) {
      test(`through ${path}: nothing arrives while stopped, everything after, in order`, async () => {
        const { socket, writer, received } = await pair(transport, reading);
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
      const { socket, writer } = await pair(transport, reading);
      const resume = stopReading(socket);
      socket.destroy();
      writer.destroy();
      assert.doesNotThrow(resume);
    });
  });
}

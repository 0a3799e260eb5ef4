// Slab reads for TLS that wraps a connected socket (wrapped-tls-reads.ts), as after an SSLRequest: on a
// real loopback TLS server, the switched socket hands every record to the slab, intact and in order,
// and emits no 'data'; where the switch cannot be made (no onread symbols, bytes already in the
// stream) the socket stays a stream and loses nothing.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { type TLSSocket, connect as tlsConnect } from 'node:tls';
import { onreadSlots, slabReadsForWrappedTls } from '../../../src/transport/wrapped-tls-reads.js';
import {
  collectReads,
  loopbackServers,
  recordSizedParts,
  writeEach,
} from '../../support/loopback-servers.js';
import { waitFor } from '../../support/wait.js';

const DEADLINE = { timeout: 20_000 };
const servers = loopbackServers();

/** A TLS session over a connected plain socket, as after an SSLRequest, and the server's end. */
async function wrapped(): Promise<{ socket: TLSSocket; writer: Socket }> {
  const server = servers.tls;
  const accepted = once(server, 'secureConnection') as Promise<[Socket]>;
  const raw = netConnect({ host: '127.0.0.1', port: (server.address() as { port: number }).port });
  await once(raw, 'connect');
  // What is read matters here, not whom: the throwaway certificate is a CA's, not a server's.
  const socket = tlsConnect({ socket: raw, servername: 'localhost', rejectUnauthorized: false });
  await once(socket, 'secureConnect');
  const [writer] = await accepted;
  return { socket, writer };
}

describe('slabReadsForWrappedTls', () => {
  test('this Node keeps onread under the symbols the switch needs', () => {
    const slots = onreadSlots();
    assert.ok(slots !== null);
    assert.deepEqual(
      [slots.buffer.description, slots.callback.description, slots.generator.description],
      ['kBuffer', 'kBufferCb', 'kBufferGen'],
    );
  });

  test(
    'after the switch, every record reaches the slab intact and in order, and no data event fires',
    DEADLINE,
    async () => {
      const { socket, writer } = await wrapped();
      try {
        const reads = slabReadsForWrappedTls(socket);
        assert.ok(reads !== null);
        const { chunks, bytes: received } = collectReads(reads);
        // Counted without a 'data' listener, which would make the stream flow: PgConnection never does.
        let dataEvents = 0;
        const emit = socket.emit.bind(socket);
        socket.emit = (event: string | symbol, ...args: unknown[]) => {
          if (event === 'data') dataEvents++;
          return emit(event, ...args);
        };
        const parts = recordSizedParts();
        await writeEach(writer, parts);
        const total = parts.reduce((sum, part) => sum + part.byteLength, 0);
        await waitFor(() => received() >= total, { timeoutMs: 15_000, what: `${total} bytes` });
        assert.equal(received(), total);
        assert.ok(Buffer.concat(chunks).equals(Buffer.concat(parts)), 'the bytes, in order, unchanged');
        assert.equal(dataEvents, 0, "a switched socket emits no 'data'");
        assert.ok(chunks.length >= parts.length, `a read per record (${chunks.length} reads)`);
        // The stream's end still arrives, so a server's close is seen.
        const ended = once(socket, 'end');
        writer.end();
        await ended;
      } finally {
        socket.destroy();
        writer.destroy();
      }
    },
  );

  test(
    'without the symbols it makes no change: the socket stays a stream and loses nothing',
    DEADLINE,
    async () => {
      const { socket, writer } = await wrapped();
      try {
        assert.equal(slabReadsForWrappedTls(socket, null), null);
        const received: Buffer[] = [];
        socket.on('data', (chunk: Buffer) => received.push(chunk));
        const parts = Array.from({ length: 50 }, (_, i) => randomBytes(1 + i * 13));
        await writeEach(writer, parts);
        const total = parts.reduce((sum, part) => sum + part.byteLength, 0);
        await waitFor(() => Buffer.concat(received).byteLength >= total, {
          timeoutMs: 10_000,
          what: `${total} bytes`,
        });
        assert.ok(Buffer.concat(received).equals(Buffer.concat(parts)));
      } finally {
        socket.destroy();
        writer.destroy();
      }
    },
  );

  test(
    'bytes already in the stream keep it a stream, so nothing arrives out of order',
    DEADLINE,
    async () => {
      const { socket, writer } = await wrapped();
      try {
        await writeEach(writer, [Buffer.from('early;')]);
        await once(socket, 'readable');
        assert.ok(socket.readableLength > 0);
        assert.equal(slabReadsForWrappedTls(socket), null);
        let text = '';
        const drain = () => {
          for (let chunk = socket.read(); chunk !== null; chunk = socket.read()) text += chunk.toString();
        };
        socket.on('readable', drain);
        drain();
        await writeEach(writer, [Buffer.from('late;')]);
        await waitFor(() => text === 'early;late;', { timeoutMs: 5000, what: 'both writes, in order' });
      } finally {
        socket.destroy();
        writer.destroy();
      }
    },
  );

  test('a destroyed socket is not switched', DEADLINE, async () => {
    const { socket, writer } = await wrapped();
    socket.destroy();
    writer.destroy();
    assert.equal(slabReadsForWrappedTls(socket), null);
  });
});

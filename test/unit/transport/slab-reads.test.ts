// SlabReads (slab-reads.ts): reads land in successive, never reused parts of a slab. By hand against
// the onread protocol Node follows, then through real loopback sockets, plain and TLS, where every chunk
// handed out must still hold its bytes once the whole stream is in.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { describe, test } from 'node:test';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { MIN_READ_BYTES, SLAB_BYTES, SlabReads } from '../../../src/transport/slab-reads.js';
import {
  collectReads,
  loopbackServers,
  recordSizedParts,
  writeEach,
} from '../../support/loopback-servers.js';
import { waitFor } from '../../support/wait.js';

const DEADLINE = { timeout: 20_000 };

/** What Node does per read: fill the room handed out last, call back, ask for the next room. */
function read(reads: SlabReads, room: Uint8Array, bytes: Uint8Array): Uint8Array {
  room.set(bytes);
  reads.onread.callback(bytes.byteLength, room);
  return (reads.onread.buffer as () => Uint8Array)();
}

describe('SlabReads by hand', () => {
  test('each read gets the room after the last; what was handed out is never written again', () => {
    const reads = new SlabReads();
    const chunks: Uint8Array[] = [];
    reads.deliverTo((chunk) => chunks.push(chunk));
    let room = (reads.onread.buffer as () => Uint8Array)();
    assert.ok(room.byteLength >= MIN_READ_BYTES);
    const sent: Uint8Array[] = [];
    // Enough reads of varied sizes to fill several slabs.
    for (let i = 0; i < 200; i++) {
      const bytes = randomBytes(1 + ((i * 7919) % 16_384));
      sent.push(bytes);
      room = read(reads, room, bytes);
      assert.ok(room.byteLength >= MIN_READ_BYTES, 'every read is offered at least MIN_READ_BYTES');
    }
    assert.equal(chunks.length, sent.length);
    for (let i = 0; i < sent.length; i++)
      assert.ok(Buffer.from(chunks[i]!).equals(sent[i]!), `chunk ${i} kept its bytes`);
    const slabs = new Set(chunks.map((chunk) => chunk.buffer));
    assert.ok(slabs.size > 1, 'the reads outgrew one slab');
    for (const slab of slabs) assert.equal(slab.byteLength, SLAB_BYTES);
  });

  test('reads before a reader are kept and handed over in order, later ones straight through', () => {
    const reads = new SlabReads();
    let room = (reads.onread.buffer as () => Uint8Array)();
    room = read(reads, room, Buffer.from('one;'));
    room = read(reads, room, Buffer.from('two;'));
    const seen: string[] = [];
    reads.deliverTo((chunk) => seen.push(Buffer.from(chunk).toString()));
    assert.deepEqual(seen, ['one;', 'two;']);
    read(reads, room, Buffer.from('three;'));
    assert.deepEqual(seen, ['one;', 'two;', 'three;']);
  });

  test('the callback never asks Node to pause: paced reads decide that', () => {
    const reads = new SlabReads();
    const room = (reads.onread.buffer as () => Uint8Array)();
    room.set([1, 2, 3]);
    assert.equal(reads.onread.callback(3, room), true);
  });
});

const servers = loopbackServers();

for (const transport of ['tcp', 'tls'] as const) {
  describe(`SlabReads on a real ${transport} socket`, () => {
    test(
      'a stream of many small writes and some large ones arrives whole, every chunk intact',
      DEADLINE,
      async () => {
        const server = servers[transport];
        const accepted = once(server, transport === 'tls' ? 'secureConnection' : 'connection') as Promise<
          [Socket]
        >;
        const port = (server.address() as { port: number }).port;
        const reads = new SlabReads();
        const socket =
          transport === 'tls'
            ? tlsConnect({
                host: '127.0.0.1',
                port,
                servername: 'localhost',
                rejectUnauthorized: false,
                onread: reads.onread,
              } as ConnectionOptions)
            : netConnect({ host: '127.0.0.1', port, onread: reads.onread });
        const { chunks, bytes: received } = collectReads(reads);
        let dataEvents = 0;
        socket.on('data', () => dataEvents++);
        const [writer] = await accepted;
        try {
          // Each write waits for the last, so that each becomes its own TLS record, as a walsender's
          // changes do: the case onread is for.
          const parts = recordSizedParts();
          await writeEach(writer, parts);
          const total = parts.reduce((sum, part) => sum + part.byteLength, 0);
          await waitFor(() => received() >= total, { timeoutMs: 15_000, what: `${total} bytes` });
          assert.equal(received(), total);
          assert.ok(Buffer.concat(chunks).equals(Buffer.concat(parts)), 'the bytes, in order, unchanged');
          assert.equal(dataEvents, 0, "an onread socket emits no 'data'");
          if (transport === 'tls') {
            assert.ok(chunks.length >= parts.length, `a read per record (${chunks.length} reads)`);
          }
        } finally {
          socket.destroy();
          writer.destroy();
        }
      },
    );
  });
}

// A plain and a TLS server on loopback for the tests of how a socket is read (read-pause, slab-reads,
// wrapped-tls-reads): listening before the file's tests, closed after them, with a throwaway
// certificate for localhost; and the stream of TLS records those tests write and collect.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import type { SlabReads } from '../../src/transport/slab-reads.js';
import { tlsMaterial } from './hostile-run.js';

/** Call at a test file's top level: the servers listen from its `before` hook on, until its `after`. */
export function loopbackServers(): Record<'tcp' | 'tls', Server> {
  const material = tlsMaterial();
  const servers: Record<'tcp' | 'tls', Server> = {
    tcp: createServer(),
    tls: createTlsServer({ cert: material.cert, key: material.key }),
  };
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
  return servers;
}

/**
 * 1,000 writes of 1–300 bytes, with a 100 kB one every 250: written one by one ({@link writeEach}), each
 * becomes a TLS record of its own, as a walsender's changes do.
 */
export function recordSizedParts(): Buffer[] {
  const parts: Buffer[] = [];
  for (let i = 0; i < 1000; i++) parts.push(randomBytes(i % 250 === 0 ? 100_000 : 1 + (i % 300)));
  return parts;
}

/** Writes each part once the last was taken, so that each becomes a TLS record of its own. */
export async function writeEach(writer: Socket, parts: readonly Buffer[]): Promise<void> {
  for (const part of parts) {
    await new Promise<void>((resolve, reject) =>
      writer.write(part, (error) => (error ? reject(error) : resolve())),
    );
  }
}

/** Collects every chunk `reads` delivers, and counts their bytes. */
export function collectReads(reads: SlabReads): { chunks: Uint8Array[]; bytes(): number } {
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  reads.deliverTo((chunk) => {
    chunks.push(chunk);
    bytes += chunk.byteLength;
  });
  return { chunks, bytes: () => bytes };
}

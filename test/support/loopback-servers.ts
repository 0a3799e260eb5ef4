// A plain and a TLS server on loopback for the tests of how a socket is read (read-pause, slab-reads):
// listening before the file's tests, closed after them, with a throwaway certificate for localhost.
import { once } from 'node:events';
import { createServer, type Server } from 'node:net';
import { after, before } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
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

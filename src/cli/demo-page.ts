// The demo's live page: the items the demo prints, served to a browser on loopback by the same code as
// `pgnudge serve`, with a token made for this run (so other users of the machine cannot watch).
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventHub } from '../http/event-hub.js';
import { createRequestHandler } from '../http/server.js';
import { TokenCheck } from '../http/token.js';
import { bindLogger } from '../logger.js';
import { ItemRelay } from './item-relay.js';

/** A running page: push the demo's items into `relay`; `url` carries the token. */
export interface DemoPage {
  url: string;
  relay: ItemRelay;
  stop(): Promise<void>;
}

/** Serves the live page on 127.0.0.1, on a free port. */
export async function startDemoPage(): Promise<DemoPage> {
  const token = randomBytes(16).toString('hex');
  const relay = new ItemRelay();
  const hub = new EventHub(relay);
  const server = createServer(
    { noDelay: true },
    createRequestHandler({ hub, token: new TokenCheck(token), log: bindLogger(undefined) }),
  );
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
  } catch (error) {
    await hub.close();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    relay,
    async stop() {
      const closed = new Promise((resolve) => server.close(resolve));
      await hub.close();
      server.closeAllConnections();
      await closed;
    },
  };
}

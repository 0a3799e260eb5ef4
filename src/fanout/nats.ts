// NATS core as a fan-out transport (contract R30), through the official client `@nats-io/transport-node`,
// an optional peer dependency loaded only here, on first use. The server says in its INFO how large a
// payload it takes (max_payload, 1 MiB by default): the wire splits batches to fit it.
import {
  BrokerConnection,
  type BrokerPublisher,
  type BrokerTransport,
  brokerError,
  optionalPeer,
  redact,
} from './broker-link.js';
import type { BrokerAddress } from './broker-url.js';

/** The largest payload a bridge sends through NATS (bytes), whatever larger max_payload a server allows. */
export const NATS_PAYLOAD_CAP = 1_048_576;

const load = optionalPeer(
  () => import('@nats-io/transport-node'),
  '@nats-io/transport-node',
  'a nats:// address',
);

function connectOptions(address: BrokerAddress) {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return {
    servers: `${host}:${address.port}`,
    name: 'pgnudge',
    timeout: 10_000,
    ...(address.username === undefined ? {} : { user: address.username }),
    ...(address.password === undefined ? {} : { pass: address.password }),
  };
}

export const natsTransport: BrokerTransport = {
  maxPayloadBytes: NATS_PAYLOAD_CAP,
  async connect(address, log, signal) {
    const { connect } = await load();
    let nc: Awaited<ReturnType<typeof connect>>;
    try {
      // A consumer never reconnects by itself: its feed does, with a Resync.
      nc = await connect({ ...connectOptions(address), reconnect: false });
    } catch (error) {
      throw brokerError(address, 'connecting to', error);
    }
    const connection = new BrokerConnection(address.target, () => {
      void nc.close().catch(() => {});
    });
    void nc.closed().then((error) => {
      if (error) log.debug(`nats ${address.target}: ${redact(error.message, address)}`);
      connection.lost(error);
    });
    if (signal.aborted) connection.abort();
    return {
      connection,
      subscribe: async (deliver) => {
        nc.subscribe(address.channel, {
          callback: (error, message) => {
            if (error !== null) {
              connection.lost(error);
              return;
            }
            connection.received(message.data.byteLength);
            deliver(message.string());
          },
        });
        // The server has the subscription once it answered the PING that follows it.
        await nc.flush();
      },
      ping: async () => {
        await nc.flush();
        connection.received(1);
      },
    };
  },

  async publisher(address, log): Promise<BrokerPublisher> {
    const { connect } = await load();
    let nc: Awaited<ReturnType<typeof connect>>;
    try {
      // Awaited: the server's INFO says how large a payload may be. While the client reconnects, it
      // buffers what is published and sends it once back; what is lost meanwhile shows as a gap.
      nc = await connect({
        ...connectOptions(address),
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
      });
    } catch (error) {
      throw brokerError(address, 'connecting to', error);
    }
    void (async () => {
      for await (const status of nc.status()) {
        if (status.type === 'disconnect') {
          log.warn(`nats ${address.target}: disconnected; reconnecting (consumers resync on the gap)`);
        } else if (status.type === 'reconnect') log.info(`nats ${address.target}: reconnected`);
      }
    })().catch(() => {});
    const limit = Math.min(nc.info?.max_payload ?? NATS_PAYLOAD_CAP, NATS_PAYLOAD_CAP);
    return {
      limit,
      async publish(payloads) {
        for (const payload of payloads) nc.publish(address.channel, payload);
      },
      async close() {
        await nc.close().catch(() => {});
      },
    };
  },
};

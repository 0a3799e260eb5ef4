// Redis pub/sub as a fan-out transport (contract R30), through the official client `redis` (node-redis),
// an optional peer dependency loaded only here, on first use. Redis has no payload limit, but one big
// message blocks the server and every subscriber's read while it is copied: the wire splits at 64 KiB.

import { isIP } from 'node:net';
import { TlsError } from '../errors.js';
import { readPem } from '../transport/tls.js';
import {
  BrokerConnection,
  type BrokerPublisher,
  type BrokerTransport,
  brokerError,
  optionalPeer,
  redact,
} from './broker-link.js';
import type { BrokerAddress } from './broker-url.js';

/** The largest payload a bridge sends through Redis (bytes). */
export const REDIS_PAYLOAD_LIMIT = 65_536;

const load = optionalPeer(() => import('redis'), 'redis', 'a redis:// or rediss:// address');

/**
 * node:tls options for a `rediss://` address: the server's certificate must chain to `sslrootcert`'s CAs
 * (read now, so that an unreadable file is a ConfigError before any connection) or the system's, and
 * name the host. SNI carries host names only.
 */
function tlsOptions(address: BrokerAddress) {
  if (!address.tls) return {};
  return {
    tls: true as const,
    ...(isIP(address.host) === 0 ? { servername: address.host } : {}),
    ...(address.sslrootcert === undefined ? {} : { ca: readPem(address.sslrootcert, 'sslrootcert') }),
  };
}

/** OpenSSL's certificate verification failures and Node's host name check, by error code. */
const CERTIFICATE_FAILURE = /CERT|CRL|ISSUER|SIGNATURE|HOSTNAME|INVALID_CA|PATH_LENGTH|INVALID_PURPOSE/;

function certificateFailure(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  return typeof code === 'string' && CERTIFICATE_FAILURE.test(code);
}

/** What to check when a server's certificate did not verify. */
function certificateHint(address: BrokerAddress): string {
  return address.sslrootcert === undefined
    ? "the server's certificate does not chain to a system CA: name its CA with ?sslrootcert=PATH in the rediss:// URL"
    : `check that ${address.sslrootcert} holds the CA that signed the server's certificate, and that the certificate names ${address.host}`;
}

function clientOptions(address: BrokerAddress, reconnect: boolean) {
  return {
    socket: {
      host: address.host,
      port: address.port,
      ...tlsOptions(address),
      connectTimeout: 10_000,
      // A consumer never reconnects by itself: its feed does, with a Resync. A publisher does, within 2 s.
      reconnectStrategy: reconnect
        ? (retries: number) => Math.min(50 * 2 ** Math.min(retries, 6), 2_000)
        : (false as const),
    },
    ...(address.username === undefined ? {} : { username: address.username }),
    ...(address.password === undefined ? {} : { password: address.password }),
    // A publish while the link is down fails at once rather than wait: it is lost anyway (pub/sub keeps
    // nothing), and a queue would only deliver it late.
    disableOfflineQueue: true,
  };
}

export const redisTransport: BrokerTransport = {
  maxPayloadBytes: REDIS_PAYLOAD_LIMIT,
  async connect(address, log, signal) {
    const { createClient } = await load();
    const client = createClient(clientOptions(address, false));
    const connection = new BrokerConnection(address.target, () => client.destroy());
    client.on('error', (error: unknown) => {
      log.debug(`redis ${address.target}: ${redact(String((error as Error)?.message ?? error), address)}`);
      connection.lost(error);
    });
    client.on('end', () => connection.lost());
    const onAbort = () => connection.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await client.connect();
    } catch (error) {
      // A certificate that does not verify is the configuration's, not the link's: no retry heals it.
      const failure = certificateFailure(error)
        ? new TlsError(
            `TLS handshake with ${address.target} failed: ${redact(String((error as Error).message), address)}; ${certificateHint(address)}`,
            { cause: error },
          )
        : brokerError(address, 'connecting to', error);
      connection.fail(failure);
      throw failure;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
    if (connection.closed) throw brokerError(address, 'connecting to', new Error('closed while connecting'));
    return {
      connection,
      subscribe: async (deliver) => {
        await client.subscribe(address.channel, (message: string) => {
          connection.received(message.length);
          deliver(message);
        });
      },
      // RESP3 (the client's default) lets a subscribed connection PING.
      ping: async () => {
        await client.ping();
        connection.received(1);
      },
    };
  },

  async publisher(address, log): Promise<BrokerPublisher> {
    // Awaited only for the package: a missing one must fail the bridge, not retry forever.
    const { createClient } = await load();
    const client = createClient(clientOptions(address, true));
    let down = false;
    client.on('error', (error: unknown) => {
      if (down) return;
      down = true;
      const hint = certificateFailure(error) ? ` (${certificateHint(address)})` : '';
      log.warn(
        `redis ${address.target}: ${redact(String((error as Error)?.message ?? error), address)}${hint}; reconnecting (consumers resync on the gap)`,
      );
    });
    client.on('ready', () => {
      if (down) log.info(`redis ${address.target}: reconnected`);
      down = false;
    });
    // Not awaited: a broker that is down delays no activation; the client connects and reconnects by itself,
    // and a publish meanwhile fails, which consumers see as a gap.
    client.connect().catch(() => {});
    return {
      limit: REDIS_PAYLOAD_LIMIT,
      async publish(payloads) {
        await Promise.all(payloads.map((payload) => client.publish(address.channel, payload)));
      },
      async close() {
        client.destroy();
      },
    };
  },
};

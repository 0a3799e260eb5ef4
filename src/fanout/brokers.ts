// Which client speaks to which broker. The client packages load only when a transport is first used.
import type { BrokerTransport } from './broker-link.js';
import type { BrokerKind } from './broker-url.js';
import { natsTransport } from './nats.js';
import { redisTransport } from './redis.js';

export function transportFor(kind: BrokerKind): BrokerTransport {
  return kind === 'redis' ? redisTransport : natsTransport;
}

// The consumer a `listen` or `serve --channel|--from` command reads a bridge through: NOTIFY on the
// channel, or the broker of --from (contract R30).
import { BrokerFeed } from '../fanout/broker-feed.js';
import { NotifyFeed } from '../fanout/notify-feed.js';
import type { Logger } from '../logger.js';
import type { ParsedCommand } from './args.js';
import { cliChannelAuth } from './secret.js';

export function bridgeConsumer(
  parsed: ParsedCommand,
  env: Record<string, string | undefined>,
  logger: Logger | undefined,
): NotifyFeed | BrokerFeed {
  const common = {
    ...cliChannelAuth(parsed, env),
    ...(parsed.heartbeatTimeout === undefined ? {} : { heartbeatTimeout: parsed.heartbeatTimeout }),
    ...(logger === undefined ? {} : { logger }),
  };
  if (parsed.from === undefined) {
    return new NotifyFeed({ ...parsed.feed, channel: parsed.channel ?? '', ...common });
  }
  // Only the batching and liveness options: a broker consumer has no database connection.
  const { debounce, maxBatchWait, maxKeys, statusInterval, livenessTimeout, failsafe } = parsed.feed;
  return new BrokerFeed({
    from: parsed.from,
    ...(debounce === undefined ? {} : { debounce }),
    ...(maxBatchWait === undefined ? {} : { maxBatchWait }),
    ...(maxKeys === undefined ? {} : { maxKeys }),
    ...(statusInterval === undefined ? {} : { statusInterval }),
    ...(livenessTimeout === undefined ? {} : { livenessTimeout }),
    ...(failsafe === undefined ? {} : { failsafe }),
    ...common,
  });
}

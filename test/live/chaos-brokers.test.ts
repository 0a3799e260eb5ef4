// Chaos with the no-lost-wakeup oracle through a broker (contract R29, R30, R7): a NotifyBridge publishes
// to a redis-server and a nats-server the harness boots, and BrokerFeed consumers on each are checked by
// the oracle while the bridge's walsender is terminated, the server crashes, its links are reset, and
// either broker is SIGKILLed and restarted at random moments. Every commit must be followed at every
// consumer by a Batch naming its table or by a Resync, and nothing of the bridge (feed slot, election
// slot, sessions) may be left on the server once it is closed. The run is test/support/chaos-run.ts, on a
// cluster of its own; the brokers do not depend on the PostgreSQL major, so it runs once per test run.
// PGNUDGE_CHAOS_BROKERS_SECONDS (default 20) sets the length; PGNUDGE_CHAOS_SEED and PGNUDGE_CHAOS_VERBOSE
// as in chaos.test.ts.
import { randomInt } from 'node:crypto';
import { after, before, test } from 'node:test';
import { BrokerFeed, NotifyBridge } from '../../src/index.js';
import { binaryUnavailable } from '../support/background-server.js';
import { type ChaosFanout, type ChaosFeedOptions, runChaos } from '../support/chaos-run.js';
import { pace } from '../support/chaos-writer.js';
import { liveCluster, selectedMajors, serverInstall } from '../support/cluster.js';
import { NATS_SERVER, type NatsServer, startNats } from '../support/nats.js';
import { REDIS_SERVER, type RedisServer, startRedis } from '../support/redis.js';
import { runsInAnotherSuite } from '../support/run-once.js';

const SECONDS = Number(process.env.PGNUDGE_CHAOS_BROKERS_SECONDS ?? 20);
const SEED = process.env.PGNUDGE_CHAOS_SEED ? Number(process.env.PGNUDGE_CHAOS_SEED) : randomInt(2 ** 31);
if (!Number.isSafeInteger(SEED) || !(SECONDS > 0)) {
  throw new Error(
    'PGNUDGE_CHAOS_SEED must be an integer and PGNUDGE_CHAOS_BROKERS_SECONDS a positive number',
  );
}
const SECRET = 'chaos through the brokers secret';
const CHANNEL = 'pgnudge.chaos';
/** Consumers per broker: more than one, so a broker's fan-out to several subscribers is under the oracle. */
const PER_BROKER = 2;

let major: number;
let skip: string | undefined;
let redis: RedisServer | undefined;
let nats: NatsServer | undefined;

before(async () => {
  if (process.env.PGNUDGE_TEST_DSN) {
    skip = 'external server: the chaos test restarts a cluster of its own';
  } else if (process.env.PGNUDGE_TEST_CLUSTER) {
    const info = await liveCluster();
    major = info.major;
    skip = runsInAnotherSuite(info);
  } else {
    const found = selectedMajors().find((m) => serverInstall(m) !== null);
    if (found === undefined) throw new Error('no PostgreSQL server is installed for live tests');
    major = found;
  }
  skip ??= binaryUnavailable(REDIS_SERVER, 'redis-server') ?? binaryUnavailable(NATS_SERVER, 'nats-server');
  if (skip !== undefined) return;
  redis = await startRedis({ password: 'chaos redis pass' });
  nats = await startNats({ auth: { user: 'chaos', pass: 'chaos nats pass' } });
});

after(() => {
  redis?.stop();
  nats?.stop();
});

/** The bridge on both brokers, and PER_BROKER consumers on each, logging into the run's stamped log. */
function openFanout(options: ChaosFeedOptions): ChaosFanout {
  const { logger, ...connection } = options;
  const urls = { redis: `${redis?.info.url}/${CHANNEL}`, nats: `${nats?.info.url}/${CHANNEL}` };
  const bridge = new NotifyBridge({
    ...connection,
    channel: CHANNEL,
    secret: SECRET,
    to: [urls.redis, urls.nats],
    logger: prefixed(logger, 'bridge'),
  });
  const running = bridge.run().catch((error: unknown) => {
    logger.error(`bridge: failed: ${String(error)}`);
  });
  const consumers = (['redis', 'nats'] as const).flatMap((kind) =>
    Array.from({ length: PER_BROKER }, (_, i) => {
      const name = `${kind}-${i + 1}`;
      const feed = new BrokerFeed({
        from: urls[kind],
        secret: SECRET,
        debounce: options.debounce,
        statusInterval: options.statusInterval,
        livenessTimeout: options.livenessTimeout,
        backoff: options.backoff,
        logger: prefixed(logger, name),
      });
      return { name, feed };
    }),
  );
  return {
    consumers,
    async close() {
      await Promise.all(consumers.map(({ feed }) => feed.close()));
      await bridge.close();
      await running;
    },
  };
}

function prefixed(logger: ChaosFeedOptions['logger'], who: string): ChaosFeedOptions['logger'] {
  return {
    info: (message) => logger.info(`${who}: ${message}`),
    warn: (message) => logger.warn(`${who}: ${message}`),
    error: (message) => logger.error(`${who}: ${message}`),
  };
}

/** SIGKILL, down for a random while (what the bridge publishes meanwhile is lost), then up on the same port. */
async function killAndRestart(server: RedisServer | NatsServer | undefined): Promise<string> {
  const down = randomInt(100, 1500);
  await server?.kill();
  await pace(down, new AbortController().signal);
  await server?.restart();
  return `down ${down} ms`;
}

test(`chaos: a bridge on Redis and NATS, ${SECONDS} s of faults, no lost wakeup at any broker consumer, nothing left`, {
  timeout: SECONDS * 1000 + 120_000,
}, async (t) => {
  if (skip) return t.skip(skip);
  await runChaos(t, {
    name: 'bridge on brokers',
    seconds: SECONDS,
    seed: SEED,
    major,
    walLevel: 'logical',
    settings: { max_wal_senders: 10 },
    // No blackhole or slot theft: what those do to a feed is chaos.test.ts's subject; here the brokers are.
    faults: ['terminate', 'restart-immediate', 'reset', 'kill-redis', 'kill-nats'],
    openFeed: openFanout,
    customFaults: {
      'kill-redis': () => killAndRestart(redis),
      'kill-nats': () => killAndRestart(nats),
    },
    // A broker's death resyncs its own consumers; everything on the database side resyncs them all.
    affects: (kind, consumer) =>
      kind === 'kill-redis'
        ? consumer.startsWith('redis')
        : kind === 'kill-nats'
          ? consumer.startsWith('nats')
          : true,
  });
});

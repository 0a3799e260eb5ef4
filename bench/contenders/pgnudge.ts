// pgnudge's feeds as contenders: every Batch event carries its row count, under its table whether it names
// the whole table or one row (row keys on). A variant is one entry in
// index.ts: a name, the plugin the server must have, and the options laid over the connection's.
// pgnudgeRaw is the RawFeed (physical WAL, no slot), on a cluster of its own at wal_level = replica.
import { type FeedItem, RawFeed, WalFeed, type WalFeedOptions } from '../../src/index.js';
import { feedConnection } from '../../test/support/feed-probe.js';
import type { Contender, Plugin, Running, Sink, Target } from './contender.js';

/** What a pgnudge contender iterates: a WalFeed, or any feed kind with the same items. */
export type PgnudgeFeed = AsyncIterable<FeedItem> & { close(): Promise<void> };

/** The feed options for `target`: its role, database and transport, and its debounce. */
export function pgnudgeOptions(target: Target): WalFeedOptions {
  const connection = feedConnection(target.info, target.database);
  if (target.transport === 'tcp') {
    connection.sslmode = 'disable';
    delete connection.sslrootcert;
  }
  return { ...connection, debounce: target.debounceMs };
}

/** `options` less TLS negotiation when `base` is plain TCP, so one variant runs on both transports. */
function withoutTlsOnTcp(options: WalFeedOptions, base: WalFeedOptions): WalFeedOptions {
  if (base.sslmode !== 'disable' || options.sslnegotiation === undefined) return options;
  const { sslnegotiation: _, ...rest } = options;
  return rest;
}

/**
 * A pgnudge contender named `name` (`pgnudge-…`): `open` makes the feed from the target's options
 * (`pgnudgeOptions`). Defaults to a WalFeed with `plugin` and `options` laid over them.
 */
export function pgnudge(
  name: string,
  plugin: Plugin | undefined,
  options: WalFeedOptions = {},
  open: (base: WalFeedOptions, target: Target) => PgnudgeFeed = (base) =>
    new WalFeed({ ...base, ...(plugin ? { plugin } : {}), ...withoutTlsOnTcp(options, base) }),
): Contender {
  return {
    name,
    ...(plugin ? { plugin } : {}),
    countsRows: true,
    walsender: true,
    async start(target: Target, sink: Sink): Promise<Running> {
      const feed = open(pgnudgeOptions(target), target);
      const consumed = (async () => {
        for await (const item of feed) {
          if (item.type === 'resync') {
            if (item.reason !== 'connected') throw new Error(`unexpected Resync(${item.reason})`);
            sink.ready();
            continue;
          }
          for (const event of item.events) sink.rows(event.table, event.count);
        }
      })();
      consumed.catch((error: unknown) => sink.fail(error));
      return {
        async close() {
          await feed.close();
          await consumed.catch(() => {});
        },
      };
    },
  };
}

/**
 * pgnudge's RawFeed. Its physical walsender has no database, so its sessions carry the bench's
 * application_name: that is how the bench finds the walsender whose CPU it reports.
 */
export const pgnudgeRaw: Contender = {
  ...pgnudge(
    'pgnudge-raw',
    undefined,
    {},
    (base, target) => new RawFeed({ ...base, applicationName: target.applicationName }),
  ),
  walLevel: 'replica',
};

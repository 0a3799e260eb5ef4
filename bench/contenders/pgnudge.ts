// pgnudge's WalFeed with a given output plugin: every Batch event carries its row count.
import { WalFeed } from '../../src/index.js';
import { feedConnection } from '../../test/support/feed-probe.js';
import type { Contender, Plugin, Running, Sink, Target } from './contender.js';

export function pgnudge(plugin: Plugin): Contender {
  return {
    name: `pgnudge-${plugin}`,
    plugin,
    countsRows: true,
    walsender: true,
    async start(target: Target, sink: Sink): Promise<Running> {
      const feed = new WalFeed({
        ...feedConnection(target.info, target.database),
        plugin,
        debounce: target.debounceMs,
      });
      const consumed = (async () => {
        for await (const item of feed) {
          if (item.type === 'resync') {
            if (item.reason !== 'connected') throw new Error(`unexpected Resync(${item.reason})`);
            sink.ready();
            continue;
          }
          for (const event of item.events) sink.rows(event.payload, event.count);
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

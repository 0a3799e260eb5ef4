// A listener keeps the row keys a bridge sends (contract R22 over the fan-out; contract R29): a signed
// batch whose events name rows yields NudgeEvents with the same table and key, coalesced per row like a
// WalFeed's.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ChannelKey } from '../../../src/fanout/auth.js';
import { NotifyFeed } from '../../../src/fanout/notify-feed.js';
import { newBridgeId, WireEncoder } from '../../../src/fanout/wire.js';
import { Batch } from '../../../src/feed/items.js';
import { cstr, frame, i32 } from '../../support/bytes.js';
import { FeedProbe } from '../../support/feed-probe.js';
import { CASE_DEADLINE_MS, fakeOptions, ProcessLeakGuard } from '../../support/hostile-run.js';
import { HostileServer, type HostileSession, walsenderAnswer } from '../../support/hostile-server.js';
import { waitFor } from '../../support/wait.js';

const TEST = { timeout: 15_000 } as const;
const SECRET = 'a shared secret of enough bytes';
const CHANNEL = 'orders';
const guard = new ProcessLeakGuard();
before(() => guard.install());
after(() => guard.uninstall());

/** A NotificationResponse from the backend with pid 4242 (the bridge's session) on `channel`. */
const notification = (channel: string, payload: string) =>
  frame('A', i32(4242), cstr(channel), cstr(payload));

describe('NotifyFeed: row keys from the bridge', () => {
  test('keyed events arrive with their table and key, coalesced per row', TEST, async () => {
    let listening: HostileSession | null = null;
    const fake = await HostileServer.start({
      query: (session, sql) => {
        if (sql.startsWith('LISTEN')) listening = session;
        return walsenderAnswer(sql);
      },
    });
    const feed = new NotifyFeed(
      { ...fakeOptions(fake), channel: CHANNEL, secret: SECRET, debounce: 5 },
      { env: {} },
    );
    const probe = new FeedProbe(feed);
    try {
      await probe.resync('connected', 0, CASE_DEADLINE_MS);
      const session = await waitFor(() => listening ?? undefined, { what: 'the LISTEN session' });
      const wire = new WireEncoder({ bridgeId: newBridgeId(), key: ChannelKey.derive(SECRET, CHANNEL) });
      const now = Date.now();
      const messages = [
        ...wire.resync('connected', now),
        ...wire.batch(
          [
            { table: 'public.orders', key: ['42'], count: 2, firstSeenMs: now - 10 },
            { table: 'public.orders', key: ['7', 'a b'], count: 1, firstSeenMs: now - 5 },
            { table: 'public.orders', key: ['42'], count: 1, firstSeenMs: now - 1 },
            { table: 'public.items', key: null, count: 3, firstSeenMs: now - 1 },
          ],
          now,
        ),
      ];
      session.send(messages.map((payload) => notification(CHANNEL, payload)));
      const from = probe.mark();
      await waitFor(
        () => {
          const events = probe.items
            .slice(from)
            .flatMap((item) => (item instanceof Batch ? item.events : []));
          return events.length >= 3 ? true : undefined;
        },
        { timeoutMs: CASE_DEADLINE_MS, what: 'the batch' },
      );
      const events = probe.items
        .slice(from)
        .flatMap((item) => (item instanceof Batch ? item.events : []))
        .map((event) => ({ table: event.table, key: event.key, payload: event.payload, count: event.count }));
      assert.deepEqual(
        events.sort((a, b) => a.payload.localeCompare(b.payload)),
        [
          { table: 'public.items', key: null, payload: 'public.items', count: 3 },
          { table: 'public.orders', key: ['42'], payload: 'public.orders:42', count: 3 },
          { table: 'public.orders', key: ['7', 'a b'], payload: 'public.orders:7,"a b"', count: 1 },
        ],
      );
    } finally {
      await feed.close();
      await fake.close();
    }
    await guard.assertNone('row keys');
  });
});

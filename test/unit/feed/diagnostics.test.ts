// The feed's node:diagnostics_channel channels (contract R32, docs/observability.md): each lifecycle event on
// its channel with its documented message, in order, across a reconnect and close(); nothing published
// while a channel has no subscriber.
import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { describe, test } from 'node:test';
import { ConnectionError, PgnudgeError } from '../../../src/errors.js';
import { FEED_CHANNEL_NAMES } from '../../../src/feed/diagnostics.js';
import type { FeedItem } from '../../../src/feed/items.js';
import { handFeed, settle } from '../../support/hand-feed.js';
import { waitFor, withDeadline } from '../../support/wait.js';

const DEADLINE_MS = 2_000;

/** Subscribes to every feed channel; `messages` holds [channel, message] in publishing order. */
function listen(t: { after(fn: () => void): void }) {
  const messages: [string, Record<string, unknown>][] = [];
  for (const name of Object.values(FEED_CHANNEL_NAMES)) {
    const onMessage = (message: unknown) => messages.push([name, message as Record<string, unknown>]);
    diagnostics.subscribe(name, onMessage);
    t.after(() => diagnostics.unsubscribe(name, onMessage));
  }
  return messages;
}

async function nextItem(iterator: AsyncIterator<FeedItem>, what: string): Promise<FeedItem> {
  const result = await withDeadline(iterator.next(), DEADLINE_MS, what);
  return result.value as FeedItem;
}

describe('diagnostics channels of a feed', () => {
  test('the names are pgnudge:*', () => {
    assert.deepEqual(Object.values(FEED_CHANNEL_NAMES), [
      'pgnudge:connect',
      'pgnudge:live',
      'pgnudge:disconnect',
      'pgnudge:backoff',
      'pgnudge:resync',
      'pgnudge:batch',
      'pgnudge:close',
    ]);
  });

  test('connect, live, resync, batch, disconnect, backoff, a reconnect, close: in order, with their messages', async (t) => {
    const messages = listen(t);
    const { feed, body, clock, iterator } = handFeed();
    const first = iterator.next();
    await waitFor(() => body.sessions.length === 1, { timeoutMs: DEADLINE_MS, what: 'the first session' });
    body.current.session.live();
    await withDeadline(first, DEADLINE_MS, 'the connect Resync');
    body.current.sink.change('public.t', 3);
    clock.advance(50);
    const batch = await nextItem(iterator, 'the batch');
    const error = new ConnectionError('PGNUDGE_ERR_CONNECTION', 'the server closed the connection');
    body.current.end(error);
    await settle();
    clock.advance(10);
    await waitFor(() => body.sessions.length === 2, { timeoutMs: DEADLINE_MS, what: 'the second session' });
    body.current.session.live();
    await nextItem(iterator, 'the reconnect Resync');
    await feed.close();

    assert.deepEqual(
      messages.map(([name]) => name),
      [
        'pgnudge:connect',
        'pgnudge:live',
        'pgnudge:resync',
        'pgnudge:batch',
        'pgnudge:disconnect',
        'pgnudge:backoff',
        'pgnudge:connect',
        'pgnudge:live',
        'pgnudge:resync',
        'pgnudge:close',
      ],
    );
    for (const [name, message] of messages) assert.equal(message.feed, feed, `${name} names its feed`);
    const fields = (index: number) => {
      const { feed: _feed, ...rest } = messages[index]![1];
      return rest;
    };
    assert.deepEqual(fields(0), { target: 'fake@link:5432/db' });
    assert.deepEqual(fields(1), { reconnect: false });
    assert.deepEqual(fields(2), { reason: 'connected' });
    assert.deepEqual(fields(3), { batch });
    assert.deepEqual(fields(4), { error });
    assert.deepEqual(fields(5), { error, delayMs: 10, attempt: 1 });
    assert.deepEqual(fields(7), { reconnect: true });
    assert.deepEqual(fields(8), { reason: 'reconnected' });
    assert.deepEqual(fields(9), { error: null });
  });

  test('a fatal error: the connection’s disconnect, then close with the error, and no backoff', async (t) => {
    const messages = listen(t);
    const { body, iterator } = handFeed();
    const pending = iterator.next();
    await waitFor(() => body.sessions.length === 1, { timeoutMs: DEADLINE_MS, what: 'the session' });
    const fatal = new PgnudgeError('PGNUDGE_ERR_PROTOCOL', 'refused for good', false);
    body.current.end(fatal);
    await assert.rejects(withDeadline(pending, DEADLINE_MS, 'the fatal error'), /refused for good/);
    assert.deepEqual(
      messages.map(([name, message]) => [name, message.error]),
      [
        ['pgnudge:connect', undefined],
        ['pgnudge:disconnect', fatal],
        ['pgnudge:close', fatal],
      ],
    );
  });

  test('nothing is published on a channel without subscribers', async () => {
    const calls: string[] = [];
    const channels = Object.values(FEED_CHANNEL_NAMES).map((name) => diagnostics.channel(name));
    for (const channel of channels) {
      assert.equal(channel.hasSubscribers, false, `${String(channel.name)} has no subscriber in this test`);
      // An own property shadows the prototype's publish: any call is recorded.
      Object.defineProperty(channel, 'publish', {
        value: () => calls.push(String(channel.name)),
        configurable: true,
      });
    }
    try {
      const { feed, body, clock, iterator } = handFeed();
      const first = iterator.next();
      await waitFor(() => body.sessions.length === 1, { timeoutMs: DEADLINE_MS, what: 'the session' });
      body.current.session.live();
      await withDeadline(first, DEADLINE_MS, 'the connect Resync');
      body.current.sink.change('public.t');
      clock.advance(50);
      await nextItem(iterator, 'the batch');
      await feed.close();
    } finally {
      for (const channel of channels) delete (channel as { publish?: unknown }).publish;
    }
    assert.deepEqual(calls, []);
  });
});

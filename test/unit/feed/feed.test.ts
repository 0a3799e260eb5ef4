// The feed base driven without a server: a FakeLink session whose body feeds the engine by hand, and a
// ManualClock. Pins how concurrent next() calls settle (contract R10: close() ends pending calls), that a
// session's live() queues the connect Resync (contract R1), and that nothing is armed before the first next().
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { PgnudgeError } from '../../../src/errors.js';
import { Feed, type FeedBody, type FeedSink, feedSetup } from '../../../src/feed/feed.js';
import type { FeedItem } from '../../../src/feed/items.js';
import type { WalFeedOptions } from '../../../src/feed/options.js';
import type { Session } from '../../../src/feed/session.js';
import { WalFeed } from '../../../src/feed/wal-feed.js';
import { FakeLink } from '../../support/fake-link.js';
import { handFeed, settle } from '../../support/hand-feed.js';
import { ManualClock } from '../../support/manual-clock.js';
import { waitFor, withDeadline } from '../../support/wait.js';

const DEADLINE_MS = 2_000;

/** A body whose sessions connect to a FakeLink and wait until `fail` is called, then reject with that error. */
class HandBody implements FeedBody<FakeLink> {
  readonly target = 'fake';
  sink: FeedSink | null = null;
  session: Session<FakeLink> | null = null;
  #ran: () => void = () => {};
  /** Resolves once a session runs. */
  readonly running = new Promise<void>((resolve) => {
    this.#ran = resolve;
  });
  #fail: (error: PgnudgeError) => void = () => {};

  async connect(): Promise<FakeLink> {
    return new FakeLink();
  }

  run(session: Session<FakeLink>, sink: FeedSink): Promise<never> {
    this.session = session;
    this.sink = sink;
    this.#ran();
    return new Promise<never>((_, reject) => {
      this.#fail = reject;
    });
  }

  fail(error: PgnudgeError): void {
    this.#fail(error);
  }
}

class HandFeed extends Feed {
  constructor(body: HandBody, clock: ManualClock, options: WalFeedOptions = {}) {
    super(feedSetup('HandFeed', options, { clock, random: () => 0.5, env: { PGUSER: 'tester' } }), body);
  }
}

function feed(options: WalFeedOptions = {}) {
  const body = new HandBody();
  const clock = new ManualClock();
  return { feed: new HandFeed(body, clock, options), body, clock };
}

/** Records when each promise settles, in order. */
function track<T>(promises: Promise<T>[]): { settled: (number | undefined)[]; order: number[] } {
  const state = { settled: promises.map(() => undefined as number | undefined), order: [] as number[] };
  promises.forEach((promise, index) => {
    promise.then(
      () => {
        state.settled[index] = 1;
        state.order.push(index);
      },
      () => {
        state.settled[index] = -1;
        state.order.push(index);
      },
    );
  });
  return state;
}

describe('Feed: concurrent next() calls', () => {
  test('close() settles every pending next() with done', async () => {
    const { feed: hand } = feed();
    const iterator = hand[Symbol.asyncIterator]();
    const pending = [iterator.next(), iterator.next(), iterator.next()];
    await hand.close();
    const results = await withDeadline(Promise.all(pending), DEADLINE_MS, 'every pending next() to end');
    assert.deepEqual(results, [
      { done: true, value: undefined },
      { done: true, value: undefined },
      { done: true, value: undefined },
    ]);
  });

  test('each item goes to exactly one waiter, in call order', async () => {
    const { feed: hand, body } = feed();
    const iterator = hand[Symbol.asyncIterator]();
    const pending = [iterator.next(), iterator.next(), iterator.next()];
    const state = track(pending);
    await withDeadline(body.running, DEADLINE_MS, 'the session to run');
    body.sink!.resync('connected');
    const first = await withDeadline(pending[0]!, DEADLINE_MS, 'the first waiter');
    assert.equal((first.value as FeedItem).type, 'resync');
    // Let every microtask run: the other two must still wait, not share the item.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(state.order, [0]);
    body.sink!.resync('reconnected');
    const second = await withDeadline(pending[1]!, DEADLINE_MS, 'the second waiter');
    assert.equal((second.value as { reason: string }).reason, 'reconnected');
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(state.order, [0, 1]);
    await hand.close();
    assert.deepEqual(await withDeadline(pending[2]!, DEADLINE_MS, 'the third waiter'), {
      done: true,
      value: undefined,
    });
  });

  test('a fatal error settles every pending next(): the first with the error, the rest done', async () => {
    const { feed: hand, body } = feed();
    const iterator = hand[Symbol.asyncIterator]();
    const pending = [iterator.next(), iterator.next()];
    await withDeadline(body.running, DEADLINE_MS, 'the session to run');
    // Not retryable, on the first connection: the supervisor ends the feed with it.
    const error = new PgnudgeError('PGNUDGE_ERR_PROTOCOL', 'refused for good', false);
    body.fail(error);
    const [first, second] = await withDeadline(
      Promise.allSettled(pending),
      DEADLINE_MS,
      'both pending next() calls to end',
    );
    assert.deepEqual(first, { status: 'rejected', reason: error });
    assert.deepEqual(second, { status: 'fulfilled', value: { done: true, value: undefined } });
    assert.equal(hand.closed, true);
  });
});

describe('Feed: the session lifecycle', () => {
  test("a session's live() queues Resync('connected'), and after a reconnect Resync('reconnected') (contract R1, R7)", async () => {
    const { feed: hand, body, clock } = feed({ backoff: { initial: 10, maximum: 10 } });
    const iterator = hand[Symbol.asyncIterator]();
    const first = iterator.next();
    await withDeadline(body.running, DEADLINE_MS, 'the first session');
    body.session!.live();
    const connected = await withDeadline(first, DEADLINE_MS, 'the connect Resync');
    assert.deepEqual((connected.value as FeedItem).toJSON(), { type: 'resync', reason: 'connected' });
    const firstSession = body.session;
    body.fail(new PgnudgeError('PGNUDGE_ERR_CONNECTION', 'lost', true));
    const second = iterator.next();
    // The backoff sleep runs on the manual clock: advance until the next session runs.
    for (let i = 0; i < 100 && body.session === firstSession; i++) {
      clock.advance(10);
      await new Promise((resolve) => setImmediate(resolve));
    }
    assert.notEqual(body.session, firstSession, 'a second session ran');
    body.session!.live();
    const reconnected = await withDeadline(second, DEADLINE_MS, 'the reconnect Resync');
    assert.deepEqual((reconnected.value as FeedItem).toJSON(), { type: 'resync', reason: 'reconnected' });
    await hand.close();
  });

  test("what a session held for a lookup ends with it: the next session's batch closes on debounce", async () => {
    const { body, clock, iterator } = handFeed({ debounce: 50, maxBatchWait: 1000 });
    const connected = iterator.next();
    await waitFor(() => body.sessions.length === 1, { timeoutMs: 2000, what: 'the first session' });
    body.current.session.live();
    await withDeadline(connected, 2000, "Resync('connected')");
    body.current.sink.holding?.(true);
    body.current.end(new PgnudgeError('PGNUDGE_ERR_CONNECTION', 'the server closed the connection', true));
    await settle();
    clock.advance(10);
    await waitFor(() => body.sessions.length === 2, { timeoutMs: 2000, what: 'the second session' });
    body.current.session.live();
    const reconnected = await withDeadline(iterator.next(), 2000, "Resync('reconnected')");
    assert.equal((reconnected.value as FeedItem).type, 'resync');
    const batch = iterator.next();
    body.current.sink.change('public.a');
    clock.advance(50);
    const item = (await withDeadline(batch, 2000, 'the batch, 50 ms after its change')).value as FeedItem;
    assert.equal(item.type === 'batch' && item.events[0]?.payload, 'public.a');
  });

  test('an aborted signal ends the feed: pending next() calls end, no session remains', async () => {
    const controller = new AbortController();
    const { feed: hand, body } = feed({ signal: controller.signal });
    const iterator = hand[Symbol.asyncIterator]();
    const pending = iterator.next();
    await withDeadline(body.running, DEADLINE_MS, 'the session to run');
    controller.abort();
    assert.deepEqual(await withDeadline(pending, DEADLINE_MS, 'next() to end'), {
      done: true,
      value: undefined,
    });
    assert.equal(hand.closed, true);
    assert.notEqual(body.session!.connection.endedWith, null, 'the connection was aborted');
  });

  test('a signal aborted before construction: iterating ends at once, nothing connects', async () => {
    const controller = new AbortController();
    controller.abort();
    const { feed: hand, body, clock } = feed({ signal: controller.signal, failsafe: 1000 });
    assert.equal(hand.closed, true);
    const result = await withDeadline(hand[Symbol.asyncIterator]().next(), DEADLINE_MS, 'next()');
    assert.deepEqual(result, { done: true, value: undefined });
    assert.equal(body.session, null);
    assert.equal(clock.pendingTimers, 0);
  });
});

describe('Feed: nothing is armed before the first next() (contract R10)', () => {
  test('a feed with a failsafe, constructed and even given an iterator, holds no timer and connects nowhere', async () => {
    const { feed: hand, body, clock } = feed({ failsafe: 1000 });
    const iterator = hand[Symbol.asyncIterator]();
    assert.equal(clock.pendingTimers, 0);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(body.session, null, 'no session before next()');
    const pending = iterator.next();
    await withDeadline(body.running, DEADLINE_MS, 'the session to run');
    // The failsafe and the link's watchdog are armed now.
    assert.ok(clock.pendingTimers >= 2, `${clock.pendingTimers} timers`);
    await hand.close();
    await withDeadline(pending, DEADLINE_MS, 'next() to end');
    assert.equal(clock.pendingTimers, 0, 'close() cleared every timer');
  });

  test('new WalFeed({ failsafe }) never iterated holds no timer', () => {
    const clock = new ManualClock();
    const walFeed = new WalFeed({ failsafe: 1000, host: '127.0.0.1', user: 'nobody' }, { clock, env: {} });
    assert.equal(clock.pendingTimers, 0);
    assert.equal(walFeed.closed, false);
  });

  test('a process that builds a WalFeed with a failsafe and never iterates it exits by itself', async () => {
    // The compiled module beside this compiled test, as the import above resolves it.
    const module = new URL('../../../src/feed/wal-feed.js', import.meta.url).href;
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { WalFeed } = await import(${JSON.stringify(module)}); new WalFeed({ failsafe: 1000, host: '127.0.0.1', user: 'nobody' }, { env: {} });`,
      ],
      { stdio: 'ignore' },
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      assert.equal(await withDeadline(exited, 10_000, 'the process to exit'), 0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

// A feed kind whose sessions the test drives by hand: each connects to a FakeLink, and the test makes the
// current one live, feeds its sink, reports WAL positions, and ends it. With a ManualClock, the whole
// lifecycle of the feed base (stats, diagnostics channels, reconnects) runs without a server or a timer.
import type { PgnudgeError } from '../../src/errors.js';
import { Feed, type FeedBody, type FeedSink, feedSetup } from '../../src/feed/feed.js';
import type { WalFeedOptions } from '../../src/feed/options.js';
import type { Session } from '../../src/feed/session.js';
import { FakeLink } from './fake-link.js';
import { ManualClock } from './manual-clock.js';

/** One session the body is running: its link, session and sink, and how to end it. */
export interface HandSession {
  readonly link: FakeLink;
  readonly session: Session<FakeLink>;
  readonly sink: FeedSink;
  /** Ends the session's body with `error`, as a lost connection does. */
  end(error: PgnudgeError): void;
}

/** Sessions that connect to FakeLinks and live until the test ends them. */
export class HandBody implements FeedBody<FakeLink> {
  readonly target = 'fake@link:5432/db';
  readonly sessions: HandSession[] = [];
  /** Makes the next connect attempt fail with this error instead of connecting. */
  refuseNext: PgnudgeError | null = null;
  /** What a connect attempt connects to: a FakeLink, or a subclass that plays more of a server. */
  makeLink: () => FakeLink = () => new FakeLink();

  async connect(): Promise<FakeLink> {
    const refusal = this.refuseNext;
    this.refuseNext = null;
    if (refusal !== null) throw refusal;
    return this.makeLink();
  }

  run(session: Session<FakeLink>, sink: FeedSink): Promise<never> {
    return new Promise<never>((_, reject) => {
      this.sessions.push({ link: session.connection, session, sink, end: reject });
    });
  }

  /** The newest session. */
  get current(): HandSession {
    const last = this.sessions.at(-1);
    if (last === undefined) throw new Error('no session has run yet');
    return last;
  }
}

export class HandFeed extends Feed {
  constructor(body: HandBody, clock: ManualClock, options: WalFeedOptions = {}) {
    super(feedSetup('HandFeed', options, { clock, random: () => 0.5, env: { PGUSER: 'tester' } }), body);
  }
}

/** A HandFeed on a fresh ManualClock, with a 10 ms backoff so that a reconnect is one clock step. */
export function handFeed(options: WalFeedOptions = {}) {
  const body = new HandBody();
  const clock = new ManualClock();
  const feed = new HandFeed(body, clock, { backoff: { initial: 10, maximum: 10 }, ...options });
  return { feed, body, clock, iterator: feed[Symbol.asyncIterator]() };
}

/** Lets promise callbacks and I/O callbacks run (a session starting, a rejection reaching the supervisor). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

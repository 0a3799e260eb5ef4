// The session lifecycle on FakeLinks and a ManualClock (contract R7, R10, R11): what ends the loop, what is
// retried, the watchdog of every session armed before its body's first query, and close() at any point.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConnectionError, InternalError, type PgnudgeError, ServerError } from '../../../src/errors.js';
import type { Session } from '../../../src/feed/session.js';
import { type SessionTiming, Supervisor, type SupervisorOptions } from '../../../src/feed/supervisor.js';
import { bindLogger } from '../../../src/logger.js';
import { FakeLink } from '../../support/fake-link.js';
import { ManualClock } from '../../support/manual-clock.js';
import { waitFor } from '../../support/wait.js';

const TIMING = { backoffInitialMs: 10, backoffMaximumMs: 10, statusIntervalMs: 100, livenessTimeoutMs: 1000 };

/** A supervisor over FakeLinks; `run` is the session body, `ends` what onClose was called with. */
function supervise(
  run: (session: Session<FakeLink>) => Promise<never>,
  overrides: Partial<SupervisorOptions<FakeLink>> = {},
  signal?: AbortSignal,
  timing: Partial<SessionTiming> = {},
) {
  const clock = new ManualClock();
  const links: FakeLink[] = [];
  const ends: (PgnudgeError | null)[] = [];
  const warnings: string[] = [];
  const supervisor = new Supervisor<FakeLink>({
    setup: {
      options: { ...TIMING, ...timing },
      log: bindLogger({ warn: (message) => warnings.push(message) }),
      signal,
      clock,
      random: () => 0.5,
    },
    connect: async () => {
      const link = new FakeLink();
      links.push(link);
      return link;
    },
    run,
    onClose: (fatal) => ends.push(fatal),
    ...overrides,
  });
  return { supervisor, clock, links, ends, warnings };
}

/** Lets pending promise callbacks run, then moves the clock: one backoff sleep per step. */
async function step(clock: ManualClock, ms: number): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  clock.advance(ms);
  await new Promise((resolve) => setImmediate(resolve));
}

describe('Supervisor: failures', () => {
  test('a foreign exception in a session is an InternalError, fatal before the first live session', async () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'rows')");
    const { supervisor, ends, links } = supervise(async () => {
      throw bug;
    });
    supervisor.start();
    await waitFor(() => ends.length > 0, { timeoutMs: 2_000, what: 'the loop to end' });
    const [fatal] = ends;
    assert.ok(fatal instanceof InternalError, `got ${String(fatal)}`);
    assert.equal(fatal.code, 'PGNUDGE_ERR_INTERNAL');
    assert.equal(fatal.retryable, false);
    assert.equal(fatal.cause, bug);
    assert.match(fatal.message, /^internal error, please report it: TypeError: Cannot read properties/);
    assert.equal(links.length, 1, 'a bug is not retried before the first live session');
    assert.equal(supervisor.closed, true);
  });

  test('once a session was live, every failure is retried, a bug included', async () => {
    let sessions = 0;
    const { supervisor, clock, warnings, links } = supervise(async (session) => {
      sessions += 1;
      if (sessions === 1) session.live();
      throw sessions === 1
        ? new TypeError('a bug')
        : new ConnectionError('PGNUDGE_ERR_CONNECTION', 'refused');
    });
    supervisor.start();
    for (let i = 0; i < 20 && links.length < 3; i++) await step(clock, 10);
    assert.ok(links.length >= 3, `${links.length} sessions`);
    assert.match(
      warnings[0] ?? '',
      /internal error.*a bug.*\(PGNUDGE_ERR_INTERNAL\); reconnecting in 10 ms/s,
    );
    assert.equal(supervisor.closed, false);
    supervisor.close();
  });

  test('a retryable failure before the first live session is retried; one that is not is fatal (contract R11)', async () => {
    let sessions = 0;
    const refusal = new ServerError(
      { severity: 'FATAL', sqlState: '28000', message: 'no' },
      { retryable: false },
    );
    const { supervisor, clock, ends, links } = supervise(async () => {
      sessions += 1;
      throw sessions === 1 ? new ConnectionError('PGNUDGE_ERR_CONNECTION', 'refused') : refusal;
    });
    supervisor.start();
    for (let i = 0; i < 20 && ends.length === 0; i++) await step(clock, 10);
    assert.deepEqual(ends, [refusal]);
    assert.equal(links.length, 2);
  });
});

describe('Supervisor: firstConnectTimeout (issue 21)', () => {
  const refused = () =>
    new ConnectionError('PGNUDGE_ERR_CONNECTION', 'cannot connect to 127.0.0.1:1: ECONNREFUSED');

  test('a feed never live gives up once the next attempt would start after the deadline, with the last cause', async () => {
    const { supervisor, clock, ends, links, warnings } = supervise(
      async () => {
        throw refused();
      },
      {},
      undefined,
      { firstConnectTimeoutMs: 45 },
    );
    supervisor.start();
    for (let i = 0; i < 20 && ends.length === 0; i++) await step(clock, 10);
    const [fatal] = ends;
    assert.ok(fatal instanceof ConnectionError, String(fatal));
    assert.equal(fatal.code, 'PGNUDGE_ERR_CONNECTION');
    assert.match(
      fatal.message,
      /^cannot connect to 127\.0\.0\.1:1: ECONNREFUSED; gave up after 5 attempts in 40 ms without connecting once \(firstConnectTimeout 45 ms\)$/,
    );
    // Attempts at 0, 10, 20, 30 and 40 ms; a sixth would start at 40 + 10 >= 45.
    assert.equal(links.length, 5);
    assert.equal(warnings.length, 4, 'each retried failure is still logged');
    assert.equal(supervisor.closed, true);
  });

  test('null (the option at 0 or null) retries for ever', async () => {
    const { supervisor, clock, ends, links } = supervise(
      async () => {
        throw refused();
      },
      {},
      undefined,
      { firstConnectTimeoutMs: null },
    );
    supervisor.start();
    for (let i = 0; i < 30; i++) await step(clock, 10);
    assert.deepEqual(ends, []);
    assert.ok(links.length >= 20, `${links.length} attempts`);
    supervisor.close();
  });

  test('once a session was live, failures are retried past the deadline', async () => {
    let sessions = 0;
    const { supervisor, clock, ends, links } = supervise(
      async (session) => {
        sessions += 1;
        if (sessions === 1) session.live();
        throw refused();
      },
      {},
      undefined,
      { firstConnectTimeoutMs: 25 },
    );
    supervisor.start();
    for (let i = 0; i < 20; i++) await step(clock, 10);
    assert.deepEqual(ends, []);
    assert.ok(links.length >= 10, `${links.length} sessions`);
    supervisor.close();
  });
});

describe('Supervisor: every session is watched from the moment it connects', () => {
  test('a body whose first query is never answered is cut off after livenessTimeout and retried', async () => {
    const { supervisor, clock, links, warnings } = supervise(async (session) => {
      await session.wait('LISTEN', session.connection.query('LISTEN c'));
      session.live();
      return await session.ended;
    });
    supervisor.start();
    await waitFor(() => links.length === 1, { timeoutMs: 2_000, what: 'the first session' });
    await step(clock, 1100);
    assert.match(warnings[0] ?? '', /no answer to LISTEN from .* in 1000 ms .*PGNUDGE_ERR_LIVENESS_TIMEOUT/);
    for (let i = 0; i < 20 && links.length < 2; i++) await step(clock, 10);
    assert.equal(links.length, 2, 'a new session replaced the silent one');
    supervisor.close();
  });

  test("close() stops a session's timers even while its body ignores the end", async () => {
    const { supervisor, clock, links, ends } = supervise(async (session) => {
      session.every(50, () => undefined);
      return new Promise<never>(() => {});
    });
    supervisor.start();
    await waitFor(() => links.length === 1, { timeoutMs: 2_000, what: 'the session' });
    assert.ok(clock.pendingTimers >= 2);
    supervisor.close();
    assert.equal(clock.pendingTimers, 0);
    assert.notEqual(links[0]!.endedWith, null, 'the connection was aborted');
    assert.deepEqual(ends, [null]);
    supervisor.close();
    assert.deepEqual(ends, [null], 'onClose is called once');
  });
});

describe('Supervisor: closing', () => {
  test('close() while connecting aborts the connect and the connection that still arrives', async () => {
    let arrive: (link: FakeLink) => void = () => {};
    let connectSignal: AbortSignal | null = null;
    const late = new FakeLink();
    let ran = false;
    const { supervisor, ends } = supervise(
      async () => {
        ran = true;
        throw new Error('unreachable: the body of a closed supervisor ran');
      },
      {
        connect: (signal) => {
          connectSignal = signal;
          return new Promise((resolve) => {
            arrive = resolve;
          });
        },
      },
    );
    supervisor.start();
    await waitFor(() => connectSignal !== null, { timeoutMs: 2_000, what: 'the connect' });
    supervisor.close();
    assert.equal(connectSignal!.aborted, true);
    arrive(late);
    await waitFor(() => late.endedWith !== null, {
      timeoutMs: 2_000,
      what: 'the late connection to be aborted',
    });
    assert.equal(ran, false);
    assert.deepEqual(ends, [null]);
  });

  test('the owner signal closes the supervisor; one aborted before construction closes it at once', async () => {
    const controller = new AbortController();
    const { supervisor, ends } = supervise(async (session) => session.ended, {}, controller.signal);
    supervisor.start();
    controller.abort();
    assert.equal(supervisor.closed, true);
    assert.deepEqual(ends, [null]);

    const aborted = supervise(async (session) => session.ended, {}, AbortSignal.abort());
    assert.equal(aborted.supervisor.closed, true);
    assert.deepEqual(aborted.ends, [null]);
    aborted.supervisor.start();
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(aborted.links, [], 'a closed supervisor connects nowhere');
  });

  test('fail() ends the loop for good with the error, once', async () => {
    const error = new ConnectionError('PGNUDGE_ERR_CONNECTION', 'the bridge feed ended');
    const { supervisor, ends, links } = supervise(async (session) => {
      session.fail(error);
      return await session.ended;
    });
    supervisor.start();
    await waitFor(() => ends.length > 0, { timeoutMs: 2_000, what: 'the loop to end' });
    assert.deepEqual(ends, [error]);
    assert.notEqual(links[0]!.endedWith, null);
  });
});

// The link's timers on a ManualClock and a FakeLink (contract R8): the watchdog from the moment the link
// opens, the answer it names when one never comes, the one command allowed to be slow, and repeated
// tasks that never pile up behind an unanswered one.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConnectionError } from '../../../src/errors.js';
import { Link } from '../../../src/feed/link.js';
import { FakeLink } from '../../support/fake-link.js';
import { ManualClock } from '../../support/manual-clock.js';

function open(livenessTimeoutMs: number | null = 1000, statusIntervalMs = 100) {
  const clock = new ManualClock();
  const end = new FakeLink();
  const link = new Link(clock, end, { statusIntervalMs, livenessTimeoutMs });
  return { clock, end, link };
}

function livenessError(end: FakeLink): ConnectionError {
  const error = end.endedWith;
  assert.ok(error instanceof ConnectionError, `ended with ${String(error)}`);
  assert.equal(error.code, 'PGNUDGE_ERR_LIVENESS_TIMEOUT');
  return error;
}

describe('Link: the watchdog', () => {
  test('is armed when the link opens: silence before any query fails the link', () => {
    const { clock, end } = open(1000);
    assert.equal(clock.pendingTimers, 1);
    clock.advance(1000);
    assert.equal(end.endedWith, null, 'silence of exactly livenessTimeout is allowed');
    clock.advance(100);
    assert.match(
      livenessError(end).message,
      /^no data from fake@link:5432\/db for 1100 ms \(livenessTimeout 1000 ms\); the link is dead$/,
    );
    assert.equal(clock.pendingTimers, 0, 'a dead link keeps no timer');
  });

  test('bytes keep a link alive', () => {
    const { clock, end, link } = open(1000);
    for (let i = 0; i < 50; i++) {
      end.bytesReceived += 1;
      clock.advance(250);
    }
    assert.equal(end.endedWith, null);
    link.stop();
    assert.equal(clock.pendingTimers, 0);
  });

  test('an unanswered command is named, its silence counted from when it was sent', () => {
    const { clock, end, link } = open(1000);
    clock.advance(900);
    link.expect('LISTEN');
    clock.advance(1000);
    assert.equal(end.endedWith, null, 'the silence before the command does not count');
    clock.advance(100);
    assert.match(
      livenessError(end).message,
      /^no answer to LISTEN from fake@link:5432\/db in 1000 ms \(livenessTimeout 1000 ms\); the link is dead$/,
    );
  });

  test('an answered command is forgotten: later silence is plain silence', () => {
    const { clock, end, link } = open(1000);
    const done = link.expect('SHOW wal_sender_timeout');
    end.bytesReceived += 10;
    done();
    clock.advance(1200);
    assert.match(livenessError(end).message, /^no data from/);
  });

  test('a command allowed to be slow is reported once past livenessTimeout, never failed', () => {
    const { clock, end, link } = open(1000);
    const reported: number[] = [];
    const done = link.expect('CREATE_REPLICATION_SLOT', (waitedMs) => reported.push(waitedMs));
    clock.advance(10_000);
    assert.deepEqual(reported, [1000]);
    assert.equal(end.endedWith, null);
    end.bytesReceived += 1;
    done();
    clock.advance(1000);
    assert.equal(end.endedWith, null);
    clock.advance(200);
    assert.match(livenessError(end).message, /^no data from/, 'the watchdog is back once the answer came');
  });

  test('livenessTimeout null: no watchdog at all', () => {
    const { clock, end, link } = open(null);
    link.expect('LISTEN');
    assert.equal(clock.pendingTimers, 0);
    clock.advance(10_000_000);
    assert.equal(end.endedWith, null);
  });

  test('checks at least every statusInterval, and four times per livenessTimeout', () => {
    assert.equal(open(1000, 100).clock.pendingTimers, 1);
    const slow = open(1000, 5000);
    slow.clock.advance(1000);
    assert.equal(slow.end.endedWith, null);
    slow.clock.advance(250);
    assert.notEqual(slow.end.endedWith, null, 'found within a quarter of livenessTimeout past it');
  });
});

describe('Link: repeated tasks', () => {
  test('run every interval until stop()', () => {
    const { clock, link } = open(null);
    let runs = 0;
    link.every(100, () => {
      runs += 1;
    });
    clock.advance(1000);
    assert.equal(runs, 10);
    link.stop();
    clock.advance(1000);
    assert.equal(runs, 10);
    assert.equal(clock.pendingTimers, 0);
    link.every(100, () => {
      runs += 1;
    });
    assert.equal(clock.pendingTimers, 0, 'a stopped link starts nothing');
  });

  test('a task whose promise is unsettled is not called again: a stalled server never gets a queue of pings', async () => {
    const { clock, end, link } = open(null);
    link.every(100, () => end.query('SELECT 1'));
    clock.advance(100);
    assert.deepEqual(end.asked, ['SELECT 1']);
    clock.advance(100_000);
    assert.deepEqual(end.asked, ['SELECT 1'], 'no ping behind the one in flight');
    end.pending[0]!.answer();
    await Promise.resolve();
    clock.advance(100);
    assert.deepEqual(end.asked, ['SELECT 1', 'SELECT 1'], 'the next tick pings again');
  });

  test('a task whose promise rejects is called again on the next tick', async () => {
    const { clock, link } = open(null);
    let runs = 0;
    link.every(100, () => {
      runs += 1;
      return Promise.reject(new Error('refused'));
    });
    clock.advance(100);
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(100);
    assert.equal(runs, 2);
    link.stop();
  });
});

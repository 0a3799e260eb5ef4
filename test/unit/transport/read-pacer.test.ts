// The paced-read decision (read-pacer.ts): only a busy stream pauses, never longer than asked, and a
// lone arrival is always read at once.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  BUSY_BYTES_PER_MS,
  BUSY_GAP_MS,
  BUSY_WAKES,
  PAUSE_WORTH_BYTES,
  ReadPacer,
  WAKE_BUDGET_BYTES,
} from '../../../src/transport/read-pacer.js';

/** Feeds `count` wake-ups that each start `gapMs` after the previous one ended; returns the answers. */
function run(pacer: ReadPacer, count: number, gapMs: number, from = 1000, bytes = 200): number[] {
  const answers: number[] = [];
  let at = from;
  for (let i = 0; i < count; i++) {
    answers.push(pacer.wake(at, at + 0.01, bytes));
    at += 0.01 + gapMs;
  }
  return answers;
}

describe('ReadPacer', () => {
  test('pauses once a run of busy wake-ups is long enough, and not before', () => {
    const pacer = new ReadPacer({ pauseMs: 2 });
    // The first wake-up has no predecessor: it never counts towards a run.
    const answers = run(pacer, BUSY_WAKES + 1, BUSY_GAP_MS / 2, 1000, 400);
    assert.deepEqual(answers, [...Array(BUSY_WAKES).fill(0), 2]);
  });

  test('close wake-ups that bring little (a loop that commits after each wakeup) never pause', () => {
    const pacer = new ReadPacer({ pauseMs: 2 });
    // 190 bytes (one commit) every 0.2 ms: each within the busy gap, yet a pause would gather 1,900.
    assert.ok(BUSY_GAP_MS > 0.19);
    assert.ok(run(pacer, 20 * BUSY_WAKES, 0.19, 1000, 190).every((answer) => answer === 0));
    // The same commits ten times as fast do.
    assert.ok(run(pacer, BUSY_WAKES + 1, 0.01, 2000, 190).some((answer) => answer === 2));
  });

  test('a lone arrival after a quiet gap is read at once, and starts the run over', () => {
    const pacer = new ReadPacer({ pauseMs: 2, busyWakes: 3 });
    assert.deepEqual(run(pacer, 3, 0.01), [0, 0, 0]);
    assert.equal(pacer.wake(5000, 5000.01, 100), 0, 'a wake-up after a quiet gap');
    assert.deepEqual(run(pacer, 2, 0.01, 5000.02), [0, 0]);
    assert.equal(pacer.wake(5000.05, 5000.06, 100), 2);
  });

  test('after a pause, data waiting at once means the stream goes on: pause again', () => {
    const pacer = new ReadPacer({ pauseMs: 2, busyWakes: 2 });
    assert.deepEqual(run(pacer, 3, 0.01), [0, 0, 2]);
    pacer.resumed(2000);
    assert.equal(pacer.wake(2000.05, 2000.2, 5000), 2);
    pacer.resumed(2003);
    // Nothing was waiting: the next arrival came later, alone, and is read at once.
    assert.equal(pacer.wake(2010, 2010.01, 100), 0);
    assert.equal(pacer.wake(2010.02, 2010.03, 100), 0, 'a new run needs busyWakes again');
  });

  test('after a pause, one commit waiting is read on: a loop that commits after each wakeup is not held', () => {
    const pacer = new ReadPacer({ pauseMs: 2, busyWakes: 2 });
    assert.deepEqual(run(pacer, 3, 0.01), [0, 0, 2]);
    // The application heard of its commit and committed again during the pause: one commit waits.
    pacer.resumed(2000);
    assert.equal(pacer.wake(2000.01, 2000.02, 189), 0, 'one commit is no reason to pause again');
    // The run starts over.
    assert.deepEqual(run(pacer, 2, 0.01, 2000.03), [0, 2]);
    pacer.resumed(2003);
    assert.equal(pacer.wake(2003.01, 2003.02, PAUSE_WORTH_BYTES - 1), 0, 'nor is less than it takes');
    assert.deepEqual(run(pacer, 2, 0.01, 2003.03), [0, 2]);
    pacer.resumed(2006);
    assert.equal(pacer.wake(2006.01, 2006.5, PAUSE_WORTH_BYTES), 2, 'a pause that gathered enough');
  });

  test('a warm loop of larger commits (wal2json: 450 bytes in two close wake-ups every 0.3 ms) never pauses', () => {
    // 1.5 KiB per ms, every wake-up within the busy gap of the last: below BUSY_BYTES_PER_MS.
    const pacer = new ReadPacer({ pauseMs: 2 });
    let at = 1000;
    for (let commit = 0; commit < 5000; commit++) {
      assert.equal(pacer.wake(at, at + 0.02, 200), 0);
      assert.equal(pacer.wake(at + 0.04, at + 0.06, 250), 0);
      at += 0.3;
    }
    assert.ok(0.3 - 0.06 <= BUSY_GAP_MS);
  });

  test('a busy stream whose first read after a pause comes late keeps short runs', () => {
    // A drain: 2 KiB wake-ups back to back, and after each pause the event loop is slow to read again.
    const pacer = new ReadPacer({ pauseMs: 2 });
    assert.equal(pacer.wake(999, 999.01, 2048), 0);
    let at = 999.02;
    let pauses = 0;
    for (let wake = 0; wake < 2000; wake++) {
      const answer = pacer.wake(at, at + 0.01, 2048);
      at += 0.02;
      if (answer > 0) {
        pauses += 1;
        at += answer;
        pacer.resumed(at);
        at += 2 * BUSY_GAP_MS;
      }
    }
    assert.ok(pauses >= 2000 / (BUSY_WAKES + 2), `${pauses} pauses in 2,000 wake-ups`);
  });

  test('a drain whose wake-ups now and then come late keeps pausing', () => {
    // 300-byte wake-ups 0.02 ms apart, every 40th a millisecond late (a timer, a collection); the
    // first after a pause brings what 2 ms of the drain does.
    const pacer = new ReadPacer({ pauseMs: 2 });
    let at = 0;
    let pauses = 0;
    let afterPause = false;
    for (let wake = 0; wake < 40_000; wake++) {
      const answer = pacer.wake(at, at + 0.005, afterPause ? 24_000 : 300);
      at += 0.025 + (wake % 40 === 39 ? 1 : 0);
      afterPause = answer > 0;
      if (answer > 0) {
        pauses += 1;
        at += answer;
        pacer.resumed(at);
      }
    }
    assert.ok(pauses > 10_000, `${pauses} pauses in 40,000 wake-ups`);
  });

  test('a wake-up that reached the budget found a backlog: no pause, and the run starts over', () => {
    const pacer = new ReadPacer({ pauseMs: 2, busyWakes: 2 });
    assert.deepEqual(run(pacer, 2, 0.01), [0, 0]);
    assert.equal(pacer.wake(1000.1, 1003, WAKE_BUDGET_BYTES), 0);
    assert.equal(pacer.wake(1003.01, 1003.02, 100), 0);
    assert.equal(pacer.wake(1003.03, 1003.04, 100), 2);
  });

  test('pauseMs 0 never pauses', () => {
    const pacer = new ReadPacer({ pauseMs: 0 });
    assert.ok(run(pacer, 10 * BUSY_WAKES, 0).every((answer) => answer === 0));
  });

  test('property: never longer than pauseMs, never after a quiet gap or on a slow stream, never again on a pause that gathered little', () => {
    const wake = fc.record({
      // Mostly busy, so that runs reach busyWakes and pauses happen.
      gapMs: fc.oneof(
        { arbitrary: fc.double({ min: 0, max: 0.3, noNaN: true }), weight: 8 },
        { arbitrary: fc.double({ min: 0, max: 50, noNaN: true }), weight: 1 },
      ),
      lengthMs: fc.double({ min: 0, max: 5, noNaN: true }),
      bytes: fc.oneof(
        fc.integer({ min: 1, max: 4 * PAUSE_WORTH_BYTES }),
        fc.integer({ min: 1, max: 2 * WAKE_BUDGET_BYTES }),
      ),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: BUSY_WAKES }),
        fc.array(wake, { maxLength: 200 }),
        (pauseMs, busyWakes, wakes) => {
          // Each wake-up brings less than BUSY_BYTES_PER_MS over its own span: never a pause.
          const pacer = new ReadPacer({ pauseMs, busyWakes });
          let end = 0;
          for (const { gapMs, lengthMs, bytes } of wakes) {
            const slow = Math.min(bytes, Math.floor(BUSY_BYTES_PER_MS * (gapMs + lengthMs)) - 1);
            const start = end + gapMs;
            end = start + lengthMs;
            assert.equal(pacer.wake(start, end, Math.max(0, slow)), 0);
          }
        },
      ),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 1, max: BUSY_WAKES }),
        fc.array(wake, { maxLength: 200 }),
        (pauseMs, busyWakes, wakes) => {
          const pacer = new ReadPacer({ pauseMs, busyWakes });
          let end = 0;
          let afterPause = false;
          for (const { gapMs, lengthMs, bytes } of wakes) {
            const start = end + gapMs;
            end = start + lengthMs;
            const answer = pacer.wake(start, end, bytes);
            assert.ok(answer === 0 || answer === pauseMs, `paused ${answer} ms`);
            if (gapMs > BUSY_GAP_MS || bytes >= WAKE_BUDGET_BYTES) assert.equal(answer, 0);
            if (afterPause && bytes < PAUSE_WORTH_BYTES)
              assert.equal(answer, 0, 'a pause that gathered little');
            afterPause = answer > 0;
            if (answer > 0) {
              end += answer;
              pacer.resumed(end);
            }
          }
        },
      ),
    );
  });
});

// The paced-read decision (read-pacer.ts): only a busy stream pauses, never longer than asked, and a
// lone arrival is always read at once.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  BUSY_GAP_MS,
  BUSY_WAKES,
  MAX_BUSY_WAKES,
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
    const answers = run(pacer, BUSY_WAKES + 1, BUSY_GAP_MS / 2);
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
    // The run starts over, and now needs twice as many wake-ups.
    assert.equal(pacer.needed, 4);
    assert.deepEqual(run(pacer, 4, 0.01, 2000.03), [0, 0, 0, 2]);
    pacer.resumed(2003);
    assert.equal(pacer.wake(2003.01, 2003.02, PAUSE_WORTH_BYTES - 1), 0, 'nor is less than it takes');
    assert.equal(pacer.needed, 8);
    assert.deepEqual(run(pacer, 8, 0.01, 2003.03), [0, 0, 0, 0, 0, 0, 0, 2]);
    pacer.resumed(2006);
    assert.equal(pacer.wake(2006.01, 2006.5, PAUSE_WORTH_BYTES), 2, 'a pause that gathered enough');
    assert.equal(pacer.needed, 2, 'and the runs are short again');
  });

  test('the doubling stops at MAX_BUSY_WAKES; a pause after which nothing waited changes nothing', () => {
    const pacer = new ReadPacer({ pauseMs: 2, busyWakes: 2 });
    // The first wake-up has no predecessor: it starts the first run without counting in it.
    assert.equal(pacer.wake(999, 999.01, 100), 0);
    let at = 999.02;
    for (let pauses = 0; pauses < 20; pauses++) {
      const answers = run(pacer, pacer.needed, 0.01, at);
      assert.equal(answers.at(-1), 2, `pause ${pauses + 1} after a run of ${answers.length}`);
      at += answers.length * 0.02 + 2;
      pacer.resumed(at);
      // One small commit was waiting.
      assert.equal(pacer.wake(at + 0.01, at + 0.02, 100), 0);
      at += 0.03;
    }
    assert.equal(pacer.needed, MAX_BUSY_WAKES);
    const quiet = new ReadPacer({ pauseMs: 2, busyWakes: 2 });
    assert.deepEqual(run(quiet, 3, 0.01), [0, 0, 2]);
    quiet.resumed(2000);
    // Nothing was waiting: the next arrival comes after a quiet gap, and was delayed by nothing.
    assert.equal(quiet.wake(2010, 2010.01, 100), 0);
    assert.equal(quiet.needed, 2);
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
    assert.equal(pacer.needed, BUSY_WAKES);
    assert.ok(pauses >= 2000 / (BUSY_WAKES + 2), `${pauses} pauses in 2,000 wake-ups`);
  });

  test('a wake-up that reached the budget found a backlog: no pause, and the run starts over', () => {
    const pacer = new ReadPacer({ pauseMs: 2, busyWakes: 2 });
    assert.deepEqual(run(pacer, 2, 0.01), [0, 0]);
    assert.equal(pacer.wake(1000.1, 1003, WAKE_BUDGET_BYTES), 0);
    assert.equal(pacer.wake(1003.01, 1003.02, 100), 0);
    assert.equal(pacer.wake(1003.03, 1003.04, 100), 2);
  });

  test('property: a stream whose pauses never gather enough pauses a logarithmic few times, then one in MAX_BUSY_WAKES', () => {
    // Close wake-ups of any rate, but never PAUSE_WORTH_BYTES at once: a loop of commit-and-wait.
    const wake = fc.record({
      gapMs: fc.double({ min: 0, max: BUSY_GAP_MS, noNaN: true }),
      lengthMs: fc.double({ min: 0, max: 0.05, noNaN: true }),
      bytes: fc.integer({ min: 1, max: PAUSE_WORTH_BYTES - 1 }),
    });
    fc.assert(
      fc.property(fc.array(wake, { minLength: 500, maxLength: 3000, size: 'max' }), (wakes) => {
        const pacer = new ReadPacer({ pauseMs: 2 });
        let end = 0;
        let pauses = 0;
        for (const { gapMs, lengthMs, bytes } of wakes) {
          const start = end + gapMs;
          end = start + lengthMs;
          const answer = pacer.wake(start, end, bytes);
          if (answer > 0) {
            pauses += 1;
            end += answer;
            pacer.resumed(end);
          }
        }
        const doublings = Math.log2(MAX_BUSY_WAKES / BUSY_WAKES);
        assert.ok(
          pauses <= doublings + 1 + wakes.length / MAX_BUSY_WAKES,
          `${pauses} pauses in ${wakes.length} wake-ups`,
        );
      }),
      { numRuns: 50 },
    );
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
          // Each wake-up brings less than a pause's worth at the rate of its own span: never a pause.
          const pacer = new ReadPacer({ pauseMs, busyWakes });
          let end = 0;
          for (const { gapMs, lengthMs, bytes } of wakes) {
            const slow = Math.min(bytes, Math.floor((PAUSE_WORTH_BYTES * (gapMs + lengthMs)) / pauseMs) - 1);
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

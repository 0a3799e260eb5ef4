// systemClock: the only real timers of src/feed. A 0 ms timer must not cost the 1 ms that setTimeout
// rounds it up to (a floor under every debounce-0 wakeup), and must still be cancellable.
import assert from 'node:assert/strict';
import { stat } from 'node:fs';
import { describe, test } from 'node:test';
import { systemClock } from '../../../src/feed/clock.js';

/** Runs `fn` inside an I/O callback, where Node orders setImmediate before every timer. */
function inIoCallback(fn: () => void): void {
  stat('.', () => fn());
}

describe('systemClock', () => {
  test('a 0 ms timer fires before a setTimeout(0) scheduled at the same moment', {
    timeout: 5_000,
  }, async () => {
    const order: string[] = [];
    await new Promise<void>((resolve) =>
      inIoCallback(() => {
        setTimeout(() => {
          order.push('setTimeout(0)');
          resolve();
        }, 0);
        systemClock.setTimer(0, () => order.push('clock 0 ms'));
      }),
    );
    assert.deepEqual(order, ['clock 0 ms', 'setTimeout(0)']);
  });

  test('a cleared 0 ms timer never fires', { timeout: 5_000 }, async () => {
    let fired = false;
    const handle = systemClock.setTimer(0, () => {
      fired = true;
    });
    systemClock.clearTimer(handle);
    await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(fired, false);
  });

  test('a cleared positive timer never fires, and clearing twice is harmless', {
    timeout: 5_000,
  }, async () => {
    let fired = false;
    const handle = systemClock.setTimer(1, () => {
      fired = true;
    });
    systemClock.clearTimer(handle);
    systemClock.clearTimer(handle);
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(fired, false);
  });
});

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ManualClock } from '../../support/manual-clock.js';

describe('ManualClock', () => {
  test('fires due timers in (due, creation) order, including timers set by timers', () => {
    const clock = new ManualClock(1000);
    const fired: string[] = [];
    clock.setTimer(20, () => fired.push(`b@${clock.now()}`));
    clock.setTimer(10, () => {
      fired.push(`a@${clock.now()}`);
      clock.setTimer(0, () => fired.push(`a0@${clock.now()}`));
      clock.setTimer(15, () => fired.push(`a15@${clock.now()}`));
    });
    clock.setTimer(20, () => fired.push(`c@${clock.now()}`));
    clock.advance(24);
    assert.deepEqual(fired, ['a@1010', 'a0@1010', 'b@1020', 'c@1020']);
    assert.equal(clock.now(), 1024);
    assert.equal(clock.pendingTimers, 1);
    clock.advance(1);
    assert.deepEqual(fired.at(-1), 'a15@1025');
    assert.equal(clock.pendingTimers, 0);
  });

  test('cleared timers never fire; advance(0) fires timers due now', () => {
    const clock = new ManualClock(0);
    let fired = 0;
    const handle = clock.setTimer(5, () => fired++);
    clock.clearTimer(handle);
    clock.clearTimer(handle);
    clock.setTimer(0, () => fired++);
    assert.equal(clock.pendingTimers, 1);
    clock.advance(0);
    clock.advance(10);
    assert.equal(fired, 1);
  });
});

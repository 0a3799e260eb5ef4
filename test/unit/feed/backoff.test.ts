import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Backoff } from '../../../src/feed/backoff.js';

describe('Backoff', () => {
  test('doubles from initial up to maximum (jitter factor 1 at random 0.5)', () => {
    const backoff = new Backoff({ initialMs: 100, maximumMs: 5000, random: () => 0.5 });
    const delays = Array.from({ length: 9 }, () => backoff.next());
    assert.deepEqual(delays, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    assert.equal(backoff.attempts, 9);
  });

  test('jitter spans [0.5, 1.5) of the base delay', () => {
    assert.equal(new Backoff({ initialMs: 100, maximumMs: 5000, random: () => 0 }).next(), 50);
    assert.equal(new Backoff({ initialMs: 100, maximumMs: 5000, random: () => 0.999 }).next(), 150);
  });

  test('reset starts over', () => {
    const backoff = new Backoff({ initialMs: 100, maximumMs: 5000, random: () => 0.5 });
    backoff.next();
    backoff.next();
    backoff.reset();
    assert.equal(backoff.attempts, 0);
    assert.equal(backoff.next(), 100);
  });

  test('a very long outage stays at the maximum, never NaN or Infinity', () => {
    const backoff = new Backoff({ initialMs: 0, maximumMs: 5000, random: () => 0.5 });
    for (let i = 0; i < 2000; i++) assert.ok(Number.isFinite(backoff.next()));
    const long = new Backoff({ initialMs: 100, maximumMs: 5000, random: () => 0.5 });
    for (let i = 0; i < 2000; i++) long.next();
    assert.equal(long.next(), 5000);
  });
});

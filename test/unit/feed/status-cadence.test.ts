// The status cadence against the server's wal_sender_timeout (contract R8): SHOW's text parsed as the
// server prints it, and the interval shortened only when the server's timeout demands it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseServerDuration, statusCadence } from '../../../src/feed/status-cadence.js';

describe('parseServerDuration', () => {
  const cases: [string, number | null][] = [
    ['1min', 60_000],
    ['60s', 60_000],
    ['5s', 5_000],
    ['500ms', 500],
    ['0', 0],
    ['250', 250],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
    ['1500us', 1.5],
    [' 5s ', 5_000],
    ['', null],
    ['5 parsecs', null],
    ['-1', null],
    ['s', null],
    ['1e400s', null],
  ];
  for (const [text, expected] of cases) {
    test(`${JSON.stringify(text)} → ${expected}`, () => {
      assert.equal(parseServerDuration(text), expected);
    });
  }
});

describe('statusCadence', () => {
  test('the default server timeout (60 s) leaves the default interval (10 s)', () => {
    assert.equal(statusCadence(10_000, 60_000), 10_000);
  });
  test('a short server timeout shortens the interval to a quarter of it', () => {
    assert.equal(statusCadence(10_000, 5_000), 1_250);
    assert.equal(statusCadence(10_000, 30_000), 7_500);
  });
  test('a shorter configured interval is kept', () => {
    assert.equal(statusCadence(100, 5_000), 100);
  });
  test('a disabled (0) or unknown server timeout leaves the configured interval', () => {
    assert.equal(statusCadence(10_000, 0), 10_000);
    assert.equal(statusCadence(10_000, null), 10_000);
  });
  test('never below 1 ms, and always an integer', () => {
    assert.equal(statusCadence(10_000, 2), 1);
    assert.equal(statusCadence(10_000, 1.5), 1);
    assert.ok(Number.isInteger(statusCadence(10_000, 4_999)));
  });
});

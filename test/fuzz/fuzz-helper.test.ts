// The fuzz helper itself: a failing property must say how to replay it and how to keep it as a fixture.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { assertProperty } from '../support/fuzz.js';

test('a failing property reports its seed and the fixture command for its input', () => {
  assert.throws(
    () =>
      assertProperty(
        fc.property(fc.uint8Array({ maxLength: 8 }), (bytes) => bytes.length < 3),
        { seed: 42, numRuns: 100 },
        ([bytes]) => ({ target: 'wal2json', inputs: [bytes] }),
      ),
    (error: Error) => {
      assert.match(error.message, /seed: 42/);
      assert.match(error.message, /Counterexample: \[Uint8Array\.from\(\[0,0,0\]\)\]/);
      assert.match(
        error.message,
        /node scripts\/fuzz-fixture\.mjs wal2json <short-name> "<what it broke>" 000000/,
      );
      return true;
    },
  );
});

test('a passing property is silent', () => {
  assertProperty(
    fc.property(fc.nat(), (n) => n >= 0),
    { seed: 1, numRuns: 50 },
  );
});

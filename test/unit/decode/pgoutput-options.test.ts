// The options pgoutput is started with: the protocol version per server version, the option pairs
// (quoted into START_REPLICATION by formatStartPgoutput, test/unit/feed/commands.test.ts), and the names
// the server could not hold.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pgoutputOptionPairs, resolvePgoutputOptions } from '../../../src/decode/pgoutput-options.js';
import { ConfigError } from '../../../src/errors.js';

describe('pgoutput options', () => {
  test('the highest protocol version the server speaks: 3 on 15, 4 on 16 and later', () => {
    const versions = [150_000, 150_020, 160_014, 170_010, 180_004, 190_000];
    assert.deepEqual(
      versions.map((version) => resolvePgoutputOptions(version, 'app').protoVersion),
      [3, 3, 4, 4, 4, 4],
    );
  });

  test('defaults: streaming on, text values, no logical messages, never two_phase', () => {
    assert.deepEqual(pgoutputOptionPairs(resolvePgoutputOptions(170_010, 'app')), [
      ['proto_version', '4'],
      ['publication_names', '"app"'],
      ['streaming', 'on'],
      ['messages', 'false'],
    ]);
    assert.deepEqual(
      pgoutputOptionPairs(resolvePgoutputOptions(150_020, 'app', { binary: true, streaming: 'off' })),
      [
        ['proto_version', '3'],
        ['publication_names', '"app"'],
        ['binary', 'true'],
        ['messages', 'false'],
      ],
    );
    assert.deepEqual(pgoutputOptionPairs(resolvePgoutputOptions(160_000, 'app', { streaming: 'parallel' })), [
      ['proto_version', '4'],
      ['publication_names', '"app"'],
      ['streaming', 'parallel'],
      ['messages', 'false'],
    ]);
  });

  test('the name is one quoted identifier', () => {
    const options = resolvePgoutputOptions(160_000, `pub "keys", 'odd' \\ Ünï`);
    // The server splits publication_names as identifiers: quoted, so neither the comma nor the
    // capitals change it. formatStartPgoutput then makes the value one string literal.
    assert.deepEqual(pgoutputOptionPairs(options)[1], ['publication_names', `"pub ""keys"", 'odd' \\ Ünï"`]);
  });

  test('names the server cannot hold, old servers and parallel streaming before 16 are ConfigErrors', () => {
    const cases: [() => unknown, RegExp][] = [
      [() => resolvePgoutputOptions(160_000, ''), /invalid publication name "": it is empty/],
      [() => resolvePgoutputOptions(160_000, 'a\0b'), /cannot contain NUL/],
      [() => resolvePgoutputOptions(160_000, 'x'.repeat(64)), /63-byte limit/],
      [() => resolvePgoutputOptions(160_000, 'é'.repeat(32)), /63-byte limit/],
      [() => resolvePgoutputOptions(160_000, '\ud800'), /lone surrogate/],
      [() => resolvePgoutputOptions(140_011, 'app'), /needs PostgreSQL 15 or later.*140011/],
      [() => resolvePgoutputOptions(150_020, 'app', { streaming: 'parallel' }), /PostgreSQL 16 or later/],
      [() => resolvePgoutputOptions(160_000, 'app', { streaming: 'yes' as 'on' }), /streaming must be/],
    ];
    for (const [fn, pattern] of cases) {
      assert.throws(fn, (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.equal(error.option, 'publication');
        assert.match(error.message, pattern);
        return true;
      });
    }
    assert.equal(resolvePgoutputOptions(160_000, `${'é'.repeat(31)}x`).publication.length, 32);
  });
});

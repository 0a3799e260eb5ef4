// Channel validation and quoting: no channel name or payload can change SQL.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../../src/errors.js';
import { formatListen, formatNotify, validateChannel } from '../../../src/fanout/channel.js';

describe('validateChannel', () => {
  test('accepts any 1-63 byte name, case, spaces, quotes and dots included', () => {
    for (const name of [
      'pgnudge',
      'Orders.v1',
      'with space',
      'a"b',
      "it's",
      'x'.repeat(63),
      'ü'.repeat(31),
    ]) {
      assert.equal(validateChannel(name), name);
    }
  });

  test('refuses empty, non-string, NUL and names longer than 63 bytes (PostgreSQL would truncate them)', () => {
    const bad: [unknown, RegExp][] = [
      ['', /non-empty/],
      [undefined, /non-empty/],
      [42, /non-empty/],
      ['a\0b', /NUL/],
      ['x'.repeat(64), /at most 63 bytes/],
      ['ü'.repeat(32), /at most 63 bytes.*is 64/],
    ];
    for (const [name, message] of bad) {
      assert.throws(
        () => validateChannel(name),
        (error: unknown) => error instanceof ConfigError && message.test(error.message),
        String(name),
      );
    }
  });
});

// Identifier and literal quoting themselves: test/unit/protocol/quote.test.ts.
describe('quoting', () => {
  test('LISTEN always quotes the channel, doubling its quotes', () => {
    assert.equal(formatListen('Orders'), 'LISTEN "Orders"');
    assert.equal(formatListen('x"; DROP TABLE t; --'), 'LISTEN "x""; DROP TABLE t; --"');
  });

  test('literals with backslashes use E-strings; a NUL in a payload is refused', () => {
    assert.equal(formatNotify('c', ['{"a":"b\\"c"}']), `SELECT pg_notify('c', E'{"a":"b\\\\"c"}');`);
    assert.throws(() => formatNotify('c', ['a\0']), ConfigError);
  });

  test('formatNotify sends each payload as its own pg_notify in one query string', () => {
    assert.equal(
      formatNotify("c'h", ['{"v":1}', "x'y"]),
      `SELECT pg_notify('c''h', '{"v":1}');SELECT pg_notify('c''h', 'x''y');`,
    );
  });
});

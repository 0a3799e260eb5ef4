// The one quoting module: identifiers (exact and quote_ident's readable form), SQL literals and the
// replication grammar's literal, each meaning exactly the text given. test/live/sql-quote.test.ts asks a
// real server to read them back.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ConfigError } from '../../../src/errors.js';
import {
  quoteIdentifier,
  quoteIdentifierIfNeeded,
  quoteLiteral,
  quoteReplicationLiteral,
} from '../../../src/protocol/quote.js';
import { assertProperty, fuzzParams } from '../../support/fuzz.js';

const params = fuzzParams(2000);

/** Reads an SQL literal back as the server's lexer does: `''` is `'`, and in `E'…'` `\\` is `\`. */
function readLiteral(literal: string): string {
  const escaped = literal.startsWith("E'");
  const body = literal.slice(escaped ? 2 : 1, -1);
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const char = body[i]!;
    if (char === "'") {
      assert.equal(body[i + 1], "'", `a lone quote inside ${literal}`);
      i++;
    } else if (escaped && char === '\\') {
      assert.equal(body[i + 1], '\\', `an escape other than \\\\ inside ${literal}`);
      i++;
    }
    out += char;
  }
  return out;
}

const noNul = fc.string({ unit: 'binary', maxLength: 40 }).map((s) => s.replaceAll('\0', ''));

describe('quoteIdentifier', () => {
  test('always double-quotes, doubling inner quotes', () => {
    assert.equal(quoteIdentifier('Orders'), '"Orders"');
    assert.equal(quoteIdentifier('app'), '"app"');
    assert.equal(quoteIdentifier('a"b'), '"a""b"');
    assert.equal(quoteIdentifier('x"; DROP TABLE t; --'), '"x""; DROP TABLE t; --"');
  });

  test('a NUL is a ConfigError naming the option that held it', () => {
    assert.throws(
      () => quoteIdentifier('a\0b', 'channel'),
      (error: unknown) =>
        error instanceof ConfigError && error.option === 'channel' && /NUL/.test(error.message),
    );
  });
});

describe('quoteIdentifierIfNeeded (quote_ident)', () => {
  test('leaves plain lower-case names bare, quotes everything else', () => {
    assert.equal(quoteIdentifierIfNeeded('app'), 'app');
    assert.equal(quoteIdentifierIfNeeded('_app_2'), '_app_2');
    assert.equal(quoteIdentifierIfNeeded('App User'), '"App User"');
    assert.equal(quoteIdentifierIfNeeded('App'), '"App"');
    assert.equal(quoteIdentifierIfNeeded('we"ird'), '"we""ird"');
    assert.equal(quoteIdentifierIfNeeded('2fa'), '"2fa"');
    assert.equal(quoteIdentifierIfNeeded('a$b'), '"a$b"');
    assert.equal(quoteIdentifierIfNeeded(''), '""');
  });

  test('quotes the keywords quote_ident quotes, on any major, and not the unreserved ones', () => {
    for (const word of [
      'user',
      'select',
      'table',
      'current_user',
      'json_table',
      'system_user',
      'merge_action',
    ])
      assert.equal(quoteIdentifierIfNeeded(word), `"${word}"`);
    for (const word of ['replication', 'role', 'admin', 'password', 'listen']) {
      assert.equal(quoteIdentifierIfNeeded(word), word);
    }
  });

  test('is always the bare name or exactly quoteIdentifier', () => {
    assertProperty(
      fc.property(noNul, (name) => {
        const readable = quoteIdentifierIfNeeded(name);
        assert.ok(readable === name || readable === quoteIdentifier(name), readable);
        if (readable === name) assert.match(name, /^[a-z_][a-z0-9_]*$/);
      }),
      params,
    );
  });
});

describe('quoteLiteral', () => {
  test('doubles single quotes, and uses E-strings with doubled backslashes when needed', () => {
    assert.equal(quoteLiteral("it's"), "'it''s'");
    assert.equal(quoteLiteral('{"a":"b\\"c"}'), `E'{"a":"b\\\\"c"}'`);
    assert.equal(quoteLiteral("\\'"), "E'\\\\'''");
    assert.throws(() => quoteLiteral('a\0'), ConfigError);
  });

  test('reads back as the text it was given', () => {
    assertProperty(
      fc.property(noNul, (text) => {
        assert.equal(readLiteral(quoteLiteral(text)), text);
      }),
      params,
    );
  });
});

describe('quoteReplicationLiteral', () => {
  test("doubles single quotes and leaves backslashes alone (the replication grammar's string)", () => {
    assert.equal(quoteReplicationLiteral('x\', "add-tables" \'*.*'), `'x'', "add-tables" ''*.*'`);
    assert.equal(quoteReplicationLiteral('back\\'), "'back\\'");
    assert.throws(
      () => quoteReplicationLiteral('a\0', 'tables'),
      (error: unknown) => error instanceof ConfigError && error.option === 'tables',
    );
  });

  test('reads back as the text it was given', () => {
    assertProperty(
      fc.property(noNul, (text) => {
        const literal = quoteReplicationLiteral(text);
        assert.ok(!literal.startsWith('E'));
        assert.equal(readLiteral(literal), text);
      }),
      params,
    );
  });
});

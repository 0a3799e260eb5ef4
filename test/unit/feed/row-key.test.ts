// Row keys as payloads write them (contract R22): the golden cases are PostgreSQL's own output for
// `ROW(...)::text` (test/fixtures/row-key/record-out.json, captured from a server and rechecked against
// every major by test/live/row-key.test.ts), and parseKey refuses everything formatKey cannot write.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { KeyFormatError } from '../../../src/errors.js';
import { formatKey, parseKey } from '../../../src/feed/row-key.js';
import { repoPath } from '../../support/repo.js';

interface Golden {
  readonly key: string[];
  readonly text: string;
}

const golden: Golden[] = JSON.parse(
  readFileSync(repoPath('test', 'fixtures', 'row-key', 'record-out.json'), 'utf8'),
).cases;

describe('formatKey', () => {
  test('writes each key exactly as PostgreSQL writes ROW(...)::text without the parentheses', () => {
    assert.ok(golden.length > 60, `${golden.length} golden cases`);
    for (const { key, text } of golden) assert.equal(formatKey(key), text, JSON.stringify(key));
  });

  test('quotes for the six ASCII white-space characters only, as record_out does in UTF-8', () => {
    for (const space of [' ', '\t', '\n', '\v', '\f', '\r']) {
      assert.equal(formatKey([`a${space}b`]), `"a${space}b"`);
    }
    for (const other of ['\u00a0', '\u0085', '\u2003', '\u2028', '\u3000', '\u0000', '\u001c']) {
      assert.equal(formatKey([`a${other}b`]), `a${other}b`);
    }
  });

  test('a key has at least one value', () => {
    assert.throws(() => formatKey([]), RangeError);
  });
});

describe('parseKey', () => {
  test('reads every golden text back to its key', () => {
    for (const { key, text } of golden) assert.deepEqual(parseKey(text), key, JSON.stringify(text));
  });

  test('refuses what formatKey cannot write, naming the offset and the rule', () => {
    const cases: [string, number, RegExp][] = [
      ['', 0, /a value is missing/],
      ['1,', 2, /a value is missing/],
      [',1', 0, /a value is missing/],
      ['1,,2', 2, /a value is missing/],
      ['a b', 1, /" " may appear only inside a double-quoted value/],
      ['a"b', 1, /may appear only inside/],
      ['a\\b', 1, /may appear only inside/],
      ['(1)', 0, /may appear only inside/],
      ['"abc', 0, /no closing "/],
      ['"a""', 0, /no closing "/],
      ['"', 0, /no closing "/],
      ['"a\\b"', 2, /a \\ inside quotes must be doubled/],
      ['"a\\"', 2, /must be doubled/],
      ['"a b"x', 5, /followed by , or the end/],
      ['"a b" ,1', 5, /followed by , or the end/],
      ['"42"', 0, /"42" needs no quotes/],
      ['1,"x"', 2, /"x" needs no quotes/],
    ];
    for (const [text, offset, rule] of cases) {
      assert.throws(
        () => parseKey(text),
        (error: unknown) =>
          error instanceof KeyFormatError &&
          error.code === 'PGNUDGE_ERR_KEY_FORMAT' &&
          error.offset === offset &&
          rule.test(error.message) &&
          error.message.startsWith(`malformed row key ${JSON.stringify(text)} at offset ${offset}: `),
        JSON.stringify(text),
      );
    }
  });

  test('a long malformed text is shortened in the message', () => {
    const text = `${'x'.repeat(200)},`;
    assert.throws(
      () => parseKey(text),
      (error: unknown) =>
        error instanceof KeyFormatError && error.message.includes(`"${'x'.repeat(80)}…" at offset 201`),
    );
  });

  test('refuses a value that is not text, as a JavaScript caller could pass', () => {
    assert.throws(() => parseKey(42 as unknown as string), /a row key is text; got number/);
  });
});

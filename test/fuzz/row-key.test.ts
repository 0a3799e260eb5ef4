// Seeded properties of the row-key text (contract R22; PGNUDGE_FUZZ_RUNS / PGNUDGE_FUZZ_SEED as in
// test/support/fuzz.ts): parseKey inverts formatKey for any key of 1 to 32 values of any text, and any
// text at all either parses to a key that formats back to exactly that text or throws KeyFormatError,
// so every key has one payload and every payload one key.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { KeyFormatError } from '../../src/errors.js';
import { formatKey, parseKey } from '../../src/feed/row-key.js';
import { assertProperty, fuzzParams } from '../support/fuzz.js';
import { anyText } from '../support/text.js';

const settings = fuzzParams(2000);
console.log(
  `# row-key fuzz seed ${settings.seed}, ${settings.numRuns} runs per property (replay with PGNUDGE_FUZZ_SEED=${settings.seed})`,
);

/** Text rich in what the format treats specially, and any other UTF-16 besides. */
const awkward = fc.oneof(
  anyText(12),
  fc
    .array(fc.constantFrom('"', '\\', ',', '(', ')', ' ', '\t', '\n', '\v', '\f', '\r', 'a', '1', ''), {
      maxLength: 8,
    })
    .map((parts) => parts.join('')),
);

test('parseKey(formatKey(key)) is key, for 1 to 32 values of any text', () => {
  assertProperty(
    fc.property(fc.array(awkward, { minLength: 1, maxLength: 32 }), (key) => {
      const text = formatKey(key);
      assert.deepEqual(parseKey(text), key);
      // A value that needs no quotes is written as it is.
      if (key.length === 1 && key[0] !== '' && !/["\\(),\t\n\v\f\r ]/.test(key[0]!)) {
        assert.equal(text, key[0]);
      }
    }),
    settings,
  );
});

test('any text is one key written canonically, or a KeyFormatError', () => {
  const texts = fc.oneof(
    anyText(24),
    fc
      .array(fc.constantFrom('"', '\\', ',', ' ', 'a', '""', '\\\\', '"a b"', '1'), { maxLength: 10 })
      .map((parts) => parts.join('')),
  );
  assertProperty(
    fc.property(texts, (text) => {
      let key: string[];
      try {
        key = parseKey(text);
      } catch (error) {
        assert.ok(error instanceof KeyFormatError, `not a KeyFormatError: ${error}`);
        assert.ok(error.offset >= 0 && error.offset <= text.length);
        return;
      }
      assert.ok(key.length >= 1);
      assert.equal(formatKey(key), text);
    }),
    settings,
  );
});

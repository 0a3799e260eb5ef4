// Redaction of connection strings for logs and errors: the password never survives, whatever it holds.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { formatKeyValue, redactConnectionString } from '../../../src/transport/settings.js';

describe('redactConnectionString', () => {
  const rows: [input: string, expected: string][] = [
    ['postgres://u:secret@h/db', 'postgres://u:***@h/db'],
    ['postgresql://u:secret@h:5432/db?sslmode=require', 'postgresql://u:***@h:5432/db?sslmode=require'],
    ['postgres://u@h/db', 'postgres://u@h/db'],
    ['postgres://h/db', 'postgres://h/db'],
    ['postgres://:secret@h', 'postgres://:***@h'],
    ['postgres://u:p%40ss@h/db', 'postgres://u:***@h/db'],
    ['postgres://u:p@ss@h/db', 'postgres://u:***@h/db'],
    ['postgres://u:p:a:ss@h/db', 'postgres://u:***@h/db'],
    ["postgres://u:it's@h/db", 'postgres://u:***@h/db'],
    ['postgres://u:pa/ss@h/db', 'postgres://u:***@h/db'],
    ['postgres://u:p?ss@h/db', 'postgres://u:***@h/db'],
    ['postgres://u@h/db?password=secret', 'postgres://u@h/db?password=***'],
    ['postgres://u@h/db?password=secret&sslmode=require', 'postgres://u@h/db?password=***&sslmode=require'],
    ['postgres://u@h/db?pass%77ord=secret', 'postgres://u@h/db?pass%77ord=***'],
    ['postgres://u@h/db?password=se&cret', 'postgres://u@h/db?password=***'],
    ['postgres://u@h/db?application_name=a@b', 'postgres://u@h/db?application_name=a@b'],
    ['mysql://u:secret@h/db', 'mysql://u:***@h/db'],
    ['POSTGRES://u:secret@h', 'POSTGRES://u:***@h'],
    ['host=h password=secret port=5432', 'host=h password=*** port=5432'],
    ["host=h password='sec ret' port=5432", 'host=h password=*** port=5432'],
    ["password='it\\'s' host=h", 'password=*** host=h'],
    ["password = 'x' host=h", 'password = *** host=h'],
    ['password=a password=b', 'password=*** password=***'],
    ['host=h password=sec ret port=1', 'host=h password=*** ***'],
    ['host=h password=sec ret=x port=1', 'host=h password=*** ***'],
    ["host=h password='unterminated port=1", 'host=h ***'],
    ['host=h dbname=d', 'host=h dbname=d'],
    ['', ''],
  ];
  for (const [input, expected] of rows) {
    test(JSON.stringify(input), () => assert.equal(redactConnectionString(input), expected));
  }

  test('property: a key=value password never survives, whatever it holds', () => {
    const password = fc
      .string({ unit: 'binary', minLength: 6, maxLength: 30 })
      .map((s) => s.replaceAll('\0', ''));
    fc.assert(
      fc.property(
        password.filter((p) => p.length >= 6),
        (secret) => {
          const text = formatKeyValue({ host: 'h', password: secret, dbname: 'd' });
          assert.ok(!redactConnectionString(text).includes(secret));
        },
      ),
      { seed: 4242, numRuns: 500 },
    );
  });

  test('property: a percent-encoded URL password never survives', () => {
    const password = fc.string({ unit: 'binary', minLength: 6, maxLength: 30 });
    fc.assert(
      fc.property(password, (secret) => {
        const encoded = encodeURIComponent(secret);
        const text = `postgres://u:${encoded}@h:5432/db?sslmode=require`;
        const redacted = redactConnectionString(text);
        assert.ok(!redacted.includes(encoded));
        assert.equal(redacted, 'postgres://u:***@h:5432/db?sslmode=require');
      }),
      { seed: 4243, numRuns: 500 },
    );
  });
});

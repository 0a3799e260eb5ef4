// Password-file matching as libpq does it: fields, wildcards, escapes, comments, first match wins.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { lookupPgpass, type PgpassTarget, pgpassHostNames } from '../../../src/transport/pgpass.js';

const target: PgpassTarget = { hosts: ['db.example'], port: 5432, database: 'app', user: 'alice' };

describe('lookupPgpass', () => {
  const rows: [name: string, file: string, expected: string | undefined, over?: Partial<PgpassTarget>][] = [
    ['exact match', 'db.example:5432:app:alice:pw', 'pw'],
    ['no match', 'other:5432:app:alice:pw', undefined],
    ['empty file', '', undefined],
    ['all wildcards', '*:*:*:*:pw', 'pw'],
    ['wildcard host only', '*:5432:app:alice:pw', 'pw'],
    ['wildcard port', 'db.example:*:app:alice:pw', 'pw'],
    ['wildcard database', 'db.example:5432:*:alice:pw', 'pw'],
    ['wildcard user', 'db.example:5432:app:*:pw', 'pw'],
    ['port mismatch', 'db.example:5433:app:alice:pw', undefined],
    ['user mismatch', 'db.example:5432:app:bob:pw', undefined],
    ['first match wins', 'db.example:5432:app:alice:first\n*:*:*:*:second', 'first'],
    ['skips non-matching lines', 'x:1:y:z:no\n*:*:*:*:yes', 'yes'],
    ['comment lines are skipped', '#*:*:*:*:commented\n*:*:*:*:pw', 'pw'],
    ['blank lines are skipped', '\n\n*:*:*:*:pw\n', 'pw'],
    ['CRLF line endings', 'x:1:y:z:no\r\n*:*:*:*:pw\r\n', 'pw'],
    ['escaped colon in password', '*:*:*:*:a\\:b', 'a:b'],
    ['escaped backslash in password', '*:*:*:*:a\\\\b', 'a\\b'],
    ['password ends at an unescaped colon', '*:*:*:*:pw:extra', 'pw'],
    ['empty password', '*:*:*:*:', ''],
    ['line with too few fields never matches', '*:*:*:pw', undefined],
    ['escaped colon in user', '*:*:*:a\\:b:pw', 'pw', { user: 'a:b' }],
    ['escaped backslash in database', '*:*:a\\\\b:*:pw', 'pw', { database: 'a\\b' }],
    ['escaped star is literal', '\\*:*:*:*:pw', undefined],
    ['escaped star matches a host named *', '\\*:*:*:*:pw', 'pw', { hosts: ['*'] }],
    ['a star inside a field is literal', 'db*:*:*:*:pw', undefined],
    ['IPv6 host escaped', '\\:\\:1:*:*:*:pw', 'pw', { hosts: ['::1'] }],
    ['IPv6 host bare (libpq matches it too)', '::1:*:*:*:pw', 'pw', { hosts: ['::1'] }],
    ['prefix is not a match', 'db:*:*:*:pw', undefined],
    ['longer field is not a match', 'db.example.org:*:*:*:pw', undefined],
    ['any of several host names', 'localhost:*:*:*:pw', 'pw', { hosts: ['/tmp', 'localhost'] }],
    ['whitespace is significant', ' *:*:*:*:pw', undefined],
  ];
  for (const [name, file, expected, over] of rows) {
    test(name, () => assert.equal(lookupPgpass(file, { ...target, ...over }), expected));
  }
});

describe('pgpassHostNames', () => {
  test('default socket directories also match localhost', () => {
    assert.deepEqual(pgpassHostNames('/var/run/postgresql'), ['localhost', '/var/run/postgresql']);
    assert.deepEqual(pgpassHostNames('/tmp/'), ['localhost', '/tmp/']);
  });
  test('other hosts match only themselves', () => {
    assert.deepEqual(pgpassHostNames('/srv/pg'), ['/srv/pg']);
    assert.deepEqual(pgpassHostNames('db'), ['db']);
  });
});

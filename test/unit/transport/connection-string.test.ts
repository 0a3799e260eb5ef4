// Connection-string parsing and formatting: every libpq quirk of key=value text and postgres:// URLs.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ConfigError } from '../../../src/errors.js';
import {
  formatKeyValue,
  parseConnectionString,
  SUPPORTED_KEYWORDS,
} from '../../../src/transport/connection-string.js';

const keyValueCases: [name: string, text: string, expected: Record<string, string>][] = [
  ['empty string', '', {}],
  ['only whitespace', ' \t\n ', {}],
  ['simple pairs', 'host=h port=5432 dbname=app', { host: 'h', port: '5432', dbname: 'app' }],
  ['whitespace around =', 'host = h  port\t=\t5432', { host: 'h', port: '5432' }],
  ['single-quoted value with spaces', "password='a b c'", { password: 'a b c' }],
  ['escaped quote inside quotes', "password='it\\'s'", { password: "it's" }],
  ['escaped backslash inside quotes', "password='a\\\\b'", { password: 'a\\b' }],
  ['empty quoted value', "host='' port=1", { host: '', port: '1' }],
  ['backslash escapes a space in an unquoted value', 'dbname=my\\ db', { dbname: 'my db' }],
  ['backslash escapes a quote in an unquoted value', "dbname=a\\'b", { dbname: "a'b" }],
  ['quote inside an unquoted value is literal', "dbname=a'b", { dbname: "a'b" }],
  ['trailing backslash in an unquoted value is dropped', 'dbname=ab\\', { dbname: 'ab' }],
  ['duplicate keys: last wins', 'host=a host=b', { host: 'b' }],
  ['an = inside a value is kept', 'application_name=a=b', { application_name: 'a=b' }],
  // libpq skips whitespace after "=", so the next pair becomes the value.
  ['empty unquoted value swallows the next pair', 'host= port=5', { host: 'port=5' }],
  ['empty value at the end', 'host=', { host: '' }],
  ['comma host list', 'host=a,b port=1,2', { host: 'a,b', port: '1,2' }],
  ['IPv6 host', 'host=::1', { host: '::1' }],
  ['unicode value', 'application_name=Grüße', { application_name: 'Grüße' }],
  ['quoted value adjacent to next pair', "password='x'port=1", { password: 'x', port: '1' }],
  ['tab and newline separate pairs', 'host=h\tport=1\ndbname=d', { host: 'h', port: '1', dbname: 'd' }],
  ['quoted value holding = and spaces', "application_name='a = b'", { application_name: 'a = b' }],
  ['backslash before an ordinary character in quotes is dropped', "password='a\\b'", { password: 'ab' }],
  [
    'Unix socket directory as host',
    'host=/var/run/postgresql port=5433',
    { host: '/var/run/postgresql', port: '5433' },
  ],
  ['quoted empty value before another pair', "password='' host=h", { password: '', host: 'h' }],
  [
    'accepted-and-ignored keywords',
    'keepalives=1 gssencmode=disable',
    { keepalives: '1', gssencmode: 'disable' },
  ],
];

const urlCases: [name: string, text: string, expected: Record<string, string>][] = [
  ['scheme only', 'postgres://', {}],
  ['postgresql scheme', 'postgresql://h/db', { host: 'h', dbname: 'db' }],
  [
    'full URL',
    'postgres://u:pw@h:5433/db',
    { user: 'u', password: 'pw', host: 'h', port: '5433', dbname: 'db' },
  ],
  ['user without password', 'postgres://u@h', { user: 'u', host: 'h' }],
  ['empty password is kept', 'postgres://u:@h', { user: 'u', password: '', host: 'h' }],
  ['password without user', 'postgres://:pw@h', { password: 'pw', host: 'h' }],
  [
    'percent-encoded userinfo',
    'postgres://us%40er:p%40ss%3Aw%2Fd@h',
    { user: 'us@er', password: 'p@ss:w/d', host: 'h' },
  ],
  ['colon in password after the first one', 'postgres://u:a:b@h', { user: 'u', password: 'a:b', host: 'h' }],
  ['raw ? in password', 'postgres://u:p?x@h/db', { user: 'u', password: 'p?x', host: 'h', dbname: 'db' }],
  ['plus sign is not a space', 'postgres://u:a+b@h', { user: 'u', password: 'a+b', host: 'h' }],
  ['UTF-8 percent-encoding', 'postgres://h/gr%C3%BC%C3%9Fe', { host: 'h', dbname: 'grüße' }],
  ['percent-encoded dbname', 'postgres://h/my%20db', { host: 'h', dbname: 'my db' }],
  ['IPv6 in brackets', 'postgres://[::1]:5433/db', { host: '::1', port: '5433', dbname: 'db' }],
  ['IPv6 without port', 'postgres://[fe80::1%25eth0]/db', { host: 'fe80::1%eth0', dbname: 'db' }],
  [
    'multiple hosts and ports',
    'postgres://a:1,b:2,[::1]:3/db',
    { host: 'a,b,::1', port: '1,2,3', dbname: 'db' },
  ],
  ['multiple hosts, some ports', 'postgres://a:1,b/db', { host: 'a,b', port: '1,', dbname: 'db' }],
  ['multiple hosts, no ports leaves port unset', 'postgres://a,b/db', { host: 'a,b', dbname: 'db' }],
  [
    'empty host: Unix socket via query',
    'postgres:///db?host=/var/run/postgresql',
    { dbname: 'db', host: '/var/run/postgresql' },
  ],
  [
    'percent-encoded socket dir as host',
    'postgres://%2Fvar%2Frun%2Fpostgresql/db',
    { host: '/var/run/postgresql', dbname: 'db' },
  ],
  ['query host overrides netloc host', 'postgres://h/db?host=other', { host: 'other', dbname: 'db' }],
  ['empty dbname leaves it unset', 'postgres://h/', { host: 'h' }],
  ['query without path', 'postgres://h?sslmode=require', { host: 'h', sslmode: 'require' }],
  [
    'several query parameters',
    'postgres://h/db?sslmode=verify-full&sslrootcert=%2Fca.pem&application_name=a%26b',
    { host: 'h', dbname: 'db', sslmode: 'verify-full', sslrootcert: '/ca.pem', application_name: 'a&b' },
  ],
  ['ssl=true means sslmode=require', 'postgres://h?ssl=true', { host: 'h', sslmode: 'require' }],
  ['password in the query', 'postgres://u@h?password=p%26w', { user: 'u', host: 'h', password: 'p&w' }],
  [
    'empty query pieces are skipped',
    'postgres://h/db?&sslmode=disable&',
    { host: 'h', dbname: 'db', sslmode: 'disable' },
  ],
  ['percent-encoded query key', 'postgres://h?connect%5Ftimeout=5', { host: 'h', connect_timeout: '5' }],
  [
    'a raw space in the path stays in the dbname, as libpq does',
    'postgres://h/db x',
    { host: 'h', dbname: 'db x' },
  ],
  [
    'no fragment: # stays in the dbname, as libpq does',
    'postgres://h/db#frag',
    { host: 'h', dbname: 'db#frag' },
  ],
  ['trailing comma: an empty (default) last host', 'postgres://a,/db', { host: 'a,', dbname: 'db' }],
  ['port without host', 'postgres://:5433/db', { port: '5433', dbname: 'db' }],
  ['empty user and password', 'postgres://:@h', { password: '', host: 'h' }],
  ['%25 decodes to a percent sign', 'postgres://u:100%25@h', { user: 'u', password: '100%', host: 'h' }],
  ['query port overrides netloc port', 'postgres://h:1/db?port=2', { host: 'h', port: '2', dbname: 'db' }],
  ['only query parameters', 'postgres://?dbname=d&user=u', { dbname: 'd', user: 'u' }],
  [
    'duplicate query keys: last wins',
    'postgres://h?sslmode=disable&sslmode=require',
    { host: 'h', sslmode: 'require' },
  ],
  ['percent-encoded socket dir in the query', 'postgres:///db?host=%2Ftmp', { host: '/tmp', dbname: 'db' }],
  [
    'IPv6 hosts, only the first with a port',
    'postgres://[::1]:5432,[::2]/db',
    { host: '::1,::2', port: '5432,', dbname: 'db' },
  ],
  [
    '@ in the query is not userinfo',
    'postgres://h/db?application_name=a@b',
    { host: 'h', dbname: 'db', application_name: 'a@b' },
  ],
];

const rejected: [name: string, text: string, option: string, messagePart: RegExp][] = [
  ['unknown keyword', 'host=h foo=1', 'connectionString', /unknown connection parameter "foo"/],
  ['keywords are case-sensitive', 'Host=h', 'connectionString', /unknown connection parameter "Host"/],
  ['missing =', 'host', 'connectionString', /missing "=" after "host"/],
  ['missing name', '=x', 'connectionString', /missing parameter name/],
  ['unterminated quote', "password='abc", 'connectionString', /unterminated quoted value for "password"/],
  [
    'replication refused',
    'replication=database',
    'replication',
    /pgnudge opens its replication connections itself/,
  ],
  ['options refused', "options='-c x=1'", 'options', /not supported/],
  ['service refused', 'service=mydb', 'service', /service files/],
  ['libpq keyword not supported', 'sslcrl=/x', 'sslcrl', /libpq parameter that pgnudge does not support/],
  [
    'unknown URL query keyword',
    'postgres://h?foo=1',
    'connectionString',
    /unknown connection parameter "foo"/,
  ],
  [
    'ssl=false is not a keyword',
    'postgres://h?ssl=false',
    'connectionString',
    /unknown connection parameter "ssl"/,
  ],
  ['replication in URL query', 'postgres://h?replication=database', 'replication', /replication/],
  ['query piece without =', 'postgres://h?sslmode', 'connectionString', /without exactly one "="/],
  [
    'query piece with two =',
    'postgres://h?application_name=a=b',
    'connectionString',
    /without exactly one "="/,
  ],
  [
    'bad percent-encoding',
    'postgres://h/db%zz',
    'connectionString',
    /invalid percent-encoding in the database name/,
  ],
  ['truncated percent-encoding', 'postgres://h/db%4', 'connectionString', /invalid percent-encoding/],
  ['%00 refused', 'postgres://h/db%00', 'connectionString', /%00 is not allowed/],
  ['invalid UTF-8', 'postgres://h/db%ff', 'connectionString', /not valid UTF-8/],
  ['unclosed IPv6 bracket', 'postgres://[::1/db', 'connectionString', /missing "]"/],
  ['empty IPv6 brackets', 'postgres://[]/db', 'connectionString', /empty IPv6 address/],
  ['junk after IPv6 bracket', 'postgres://[::1]x/db', 'connectionString', /unexpected character after "]"/],
  ['raw @ in password', 'postgres://u:p@ss@h/db', 'connectionString', /percent-encode @ as %40/],
  [
    'raw / in password',
    'postgres://u:pa/ss@h/db',
    'connectionString',
    /percent-encode @ as %40 and \/ as %2F/,
  ],
  [
    'raw @, : and / in a password: the port is its tail (issue 21)',
    'postgres://u:p@ss:w/rd@db/shop',
    'connectionString',
    /^the port in the connection URL is not a number, so its password probably holds a raw "@", ":" or "\/": percent-encode them \(@ as %40, : as %3A, \/ as %2F\)/,
  ],
  ['other URL scheme', 'mysql://u:pw@h/db', 'connectionString', /unsupported connection URL scheme/],
  [
    'upper-case scheme (libpq compares exactly)',
    'POSTGRES://h/db',
    'connectionString',
    /unsupported connection URL scheme/,
  ],
  ['NUL character', 'host=a\0b', 'connectionString', /NUL/],
  ['garbage after a quoted value', "password='x'garbage", 'connectionString', /missing "=" after "garbage"/],
  ['empty query parameter name', 'postgres://h?=x', 'connectionString', /a malformed parameter name/],
  [
    "ssl=1 is not JDBC's ssl=true",
    'postgres://h?ssl=1',
    'connectionString',
    /unknown connection parameter "ssl"/,
  ],
  ['trailing text without =', 'host=h port=1 trailing', 'connectionString', /missing "=" after "trailing"/],
];

describe('parseConnectionString: key=value', () => {
  for (const [name, text, expected] of keyValueCases) {
    test(name, () => assert.deepEqual(parseConnectionString(text), expected));
  }
});

describe('parseConnectionString: URL', () => {
  for (const [name, text, expected] of urlCases) {
    test(name, () => assert.deepEqual(parseConnectionString(text), expected));
  }
});

describe('parseConnectionString: rejections', () => {
  for (const [name, text, option, messagePart] of rejected) {
    test(name, () => {
      assert.throws(
        () => parseConnectionString(text),
        (error: unknown) =>
          error instanceof ConfigError && error.option === option && messagePart.test(error.message),
      );
    });
  }
});

describe('parseConnectionString: no error ever shows the password', () => {
  const secret = 'S3cr3t';
  const texts = [
    `password=${secret} x`,
    `password=${secret} port=1 ${secret}=1`,
    `password=my ${secret}=x port=1`,
    `password='${secret}`,
    `postgres://u:${secret}@x@h/db`,
    `postgres://u:${secret}/x@h/db`,
    `postgres://u:p@${secret}:w/rd@h/db`,
    `postgres://u:p@ss:${secret}/rd@h/db`,
    `postgres://u:${secret}%zz@h/db`,
    `postgres://u:${secret}%ff@h/db`,
    `postgres://u:${secret}@h/db?foo=1`,
    `postgres://u@h/db?password=a&${secret}`,
    `postgres://u@h/db?password=a&${secret}=1`,
    `postgres://u@h/db?password=${secret}%zz`,
    `mysql://u:${secret}@h/db`,
    `postgresql://u:${secret}@[::1/db`,
  ];
  for (const text of texts) {
    test(text, () => {
      assert.throws(
        () => parseConnectionString(text),
        (error: unknown) => error instanceof ConfigError && !error.message.includes(secret),
      );
    });
  }
});

describe('formatKeyValue', () => {
  const cases: [Record<string, string>, string][] = [
    [{ host: 'h', port: '5432' }, 'host=h port=5432'],
    [{ password: 'a b' }, "password='a b'"],
    [{ password: "it's" }, "password='it\\'s'"],
    [{ password: 'a\\b' }, "password='a\\\\b'"],
    [{ host: '' }, "host=''"],
    [{ application_name: 'a=b' }, 'application_name=a=b'],
  ];
  for (const [params, text] of cases) {
    test(text, () => assert.equal(formatKeyValue(params), text));
  }
  test('refuses a NUL in a value', () => assert.throws(() => formatKeyValue({ host: 'a\0' }), ConfigError));
  test('refuses a malformed parameter name', () =>
    assert.throws(() => formatKeyValue({ 'a b': 'x' }), ConfigError));

  test('property: parseConnectionString(formatKeyValue(x)) round-trips any values', () => {
    const keywords = [...SUPPORTED_KEYWORDS];
    const value = fc.string({ unit: 'binary', maxLength: 40 }).map((s) => s.replaceAll('\0', ''));
    const params = fc.dictionary(fc.constantFrom(...keywords), value, { maxKeys: 8 });
    fc.assert(
      fc.property(params, (x) => {
        assert.deepEqual(parseConnectionString(formatKeyValue(x)), x);
      }),
      { seed: 20240611, numRuns: 2000 },
    );
  });
});

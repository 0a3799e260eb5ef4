// WalFeedOptions: contract §3's defaults, and a ConfigError naming the option and stating the rule for
// every bad value, thrown by `new WalFeed()` before any connection is attempted.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../../src/errors.js';
import { resolveFeedOptions, type WalFeedOptions } from '../../../src/feed/options.js';
import { WalFeed } from '../../../src/feed/wal-feed.js';

/** Asserts that `fn` throws a ConfigError whose `option` is `option` and whose message matches `rule`. */
function throwsConfig(fn: () => unknown, option: string, rule: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.code, 'PGNUDGE_ERR_CONFIG');
    assert.equal(error.retryable, false);
    assert.equal(error.option, option);
    assert.match(error.message, rule);
    return true;
  });
}

/** Lets a test pass values the types forbid, as a JavaScript caller could. */
const resolve = (options: Record<string, unknown>) => resolveFeedOptions(options as WalFeedOptions);

describe('resolveFeedOptions defaults (contract §3)', () => {
  test('with nothing given', () => {
    assert.deepEqual(resolveFeedOptions({}), {
      tables: null,
      plugin: 'auto',
      publication: null,
      partitions: 'root',
      keys: false,
      debounceMs: 50,
      maxBatchWaitMs: 1000,
      maxPending: 10_000,
      maxKeys: 1000,
      statusIntervalMs: 10_000,
      livenessTimeoutMs: 30_000,
      readPacingMs: 2,
      failsafeMs: null,
      backoffInitialMs: 100,
      backoffMaximumMs: 5000,
      firstConnectTimeoutMs: 30_000,
      applicationName: 'pgnudge',
      logLevel: 'info',
    });
  });

  test('maxBatchWait defaults to 20 × debounce', () => {
    assert.equal(resolveFeedOptions({ debounce: 7 }).maxBatchWaitMs, 140);
    assert.equal(resolveFeedOptions({ debounce: 0 }).maxBatchWaitMs, 0);
  });

  test('20 × a huge debounce is capped at the timer limit instead of failing', () => {
    const big = 2 ** 31 - 1;
    assert.equal(resolveFeedOptions({ debounce: big }).maxBatchWaitMs, big);
  });

  test('backoff.maximum defaults to 5000, or to initial when initial is larger', () => {
    assert.deepEqual(
      [
        resolveFeedOptions({ backoff: { initial: 10 } }).backoffMaximumMs,
        resolveFeedOptions({}).backoffMaximumMs,
      ],
      [5000, 5000],
    );
    const slow = resolveFeedOptions({ backoff: { initial: 8000 } });
    assert.deepEqual([slow.backoffInitialMs, slow.backoffMaximumMs], [8000, 8000]);
  });

  test('explicit values are kept', () => {
    const resolved = resolveFeedOptions({
      tables: ['public.orders', '"My Schema"."a.b"'],
      plugin: 'test_decoding',
      partitions: 'leaf',
      keys: true,
      debounce: 5,
      maxBatchWait: 5,
      maxPending: 1,
      maxKeys: 2,
      statusInterval: 100,
      livenessTimeout: 101,
      readPacing: 0,
      failsafe: 60_000,
      backoff: { initial: 1, maximum: 1 },
      firstConnectTimeout: 2000,
      applicationName: 'dashboard',
      logLevel: 'warn',
    });
    assert.deepEqual(resolved, {
      tables: [
        { schema: 'public', table: 'orders' },
        { schema: 'My Schema', table: 'a.b' },
      ],
      plugin: 'test_decoding',
      publication: null,
      partitions: 'leaf',
      keys: true,
      debounceMs: 5,
      maxBatchWaitMs: 5,
      maxPending: 1,
      maxKeys: 2,
      statusIntervalMs: 100,
      livenessTimeoutMs: 101,
      readPacingMs: 0,
      failsafeMs: 60_000,
      backoffInitialMs: 1,
      backoffMaximumMs: 1,
      firstConnectTimeoutMs: 2000,
      applicationName: 'dashboard',
      logLevel: 'warn',
    });
  });

  test('livenessTimeout null disables the check, even with a long statusInterval', () => {
    const resolved = resolveFeedOptions({ livenessTimeout: null, statusInterval: 60_000 });
    assert.equal(resolved.livenessTimeoutMs, null);
    assert.equal(resolved.statusIntervalMs, 60_000);
  });

  test('failsafe null is off, like leaving it out', () => {
    assert.equal(resolveFeedOptions({ failsafe: null }).failsafeMs, null);
  });

  test('every plugin choice is accepted', () => {
    for (const plugin of ['auto', 'wal2json', 'test_decoding'] as const) {
      assert.equal(resolveFeedOptions({ plugin }).plugin, plugin);
    }
    assert.equal(resolveFeedOptions({ plugin: 'pgoutput', publication: 'app' }).plugin, 'pgoutput');
  });

  test('partitions is root or leaf (contract R20)', () => {
    for (const partitions of ['root', 'leaf'] as const) {
      assert.equal(resolveFeedOptions({ partitions }).partitions, partitions);
    }
  });
});

describe('resolveFeedOptions validation', () => {
  test('options that are not an object', () => {
    assert.throws(
      () => resolveFeedOptions(null as unknown as WalFeedOptions),
      (error: unknown) => error instanceof ConfigError && /must be an object/.test(error.message),
    );
  });

  test('plugin', () => {
    for (const bad of ['decoderbufs', 'WAL2JSON', '', 1, null]) {
      throwsConfig(
        () => resolve({ plugin: bad }),
        'plugin',
        /'auto', 'wal2json', 'test_decoding' or 'pgoutput'/,
      );
    }
  });

  test('publication: implies pgoutput; a plugin that cannot read it, or pgoutput without one, is refused (contract R25)', () => {
    for (const plugin of [undefined, 'auto', 'pgoutput'] as const) {
      const resolved = resolveFeedOptions({ publication: 'App "pub"', ...(plugin ? { plugin } : {}) });
      assert.deepEqual([resolved.plugin, resolved.publication], ['pgoutput', 'App "pub"']);
    }
    for (const plugin of ['wal2json', 'test_decoding'] as const) {
      throwsConfig(
        () => resolveFeedOptions({ publication: 'app', plugin }),
        'plugin',
        new RegExp(`a publication is decoded with pgoutput, not ${plugin}`),
      );
    }
    throwsConfig(() => resolveFeedOptions({ plugin: 'pgoutput' }), 'publication', /needs a publication/);
    // Row keys through a publication come from pgoutput's Relation messages (contract R22, R25).
    const keyed = resolveFeedOptions({ publication: 'app', keys: true });
    assert.equal(keyed.keys, true);
    assert.equal(keyed.publication, 'app');
    assert.equal(resolveFeedOptions({ publication: 'app', partitions: 'leaf' }).partitions, 'leaf');
    throwsConfig(() => resolve({ publication: 42 }), 'publication', /a string\); got 42/);
    throwsConfig(() => resolve({ publication: '' }), 'publication', /it is empty/);
    throwsConfig(() => resolve({ publication: 'x'.repeat(64) }), 'publication', /63-byte limit/);
    throwsConfig(() => resolve({ publication: 'a\0b' }), 'publication', /NUL/);
  });

  test('partitions', () => {
    for (const bad of ['ROOT', 'leaves', '', true, null]) {
      throwsConfig(() => resolve({ partitions: bad }), 'partitions', /must be 'root' or 'leaf'/);
    }
  });

  test('keys', () => {
    for (const bad of ['true', 1, 0, null, {}]) {
      throwsConfig(() => resolve({ keys: bad }), 'keys', /keys must be true or false/);
    }
  });

  test('readPacing: a duration from 0 (off)', () => {
    for (const bad of [-1, 1.5, '2', null, 2 ** 31]) {
      throwsConfig(
        () => resolve({ readPacing: bad }),
        'readPacing',
        /readPacing must be a whole number of milliseconds from 0/,
      );
    }
    assert.equal(resolve({ readPacing: 0 }).readPacingMs, 0);
  });

  test('tables: not an array', () => {
    throwsConfig(() => resolve({ tables: 'public.orders' }), 'tables', /array of "schema\.table" strings/);
  });

  test('tables: an empty array', () => {
    throwsConfig(() => resolve({ tables: [] }), 'tables', /empty: omit it to watch every table/);
  });

  test('tables: an entry that is not a string', () => {
    throwsConfig(
      () => resolve({ tables: ['public.a', 42] }),
      'tables',
      /entries must be "schema\.table" strings; got 42/,
    );
  });

  test('tables: bad names', () => {
    const cases: [string, RegExp][] = [
      ['orders', /needs a schema/],
      ['', /schema name is empty/],
      ['public.', /table name is empty/],
      ['a.b.c', /./],
      ['"unterminated.t', /./],
      ['public.or ders', /./],
    ];
    for (const [name, rule] of cases) {
      assert.throws(
        () => resolve({ tables: [name] }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError, `${JSON.stringify(name)}: got ${String(error)}`);
          assert.match(error.message, rule);
          assert.ok(
            error.message.includes(name) || name === '',
            `the message names the entry: ${error.message}`,
          );
          return true;
        },
        `tables: [${JSON.stringify(name)}] should be refused`,
      );
    }
  });

  const OFF_AT_ZERO = ['livenessTimeout', 'failsafe', 'firstConnectTimeout'];
  test('livenessTimeout, failsafe and firstConnectTimeout: null or 0 is off, as in the CLI (issue 21)', () => {
    for (const off of [null, 0]) {
      const resolved = resolve({ livenessTimeout: off, failsafe: off, firstConnectTimeout: off });
      assert.equal(resolved.livenessTimeoutMs, null);
      assert.equal(resolved.failsafeMs, null);
      assert.equal(resolved.firstConnectTimeoutMs, null);
    }
    throwsConfig(
      () => resolve({ livenessTimeout: -1 }),
      'livenessTimeout',
      /^livenessTimeout must be a whole number of milliseconds from 1 to 2147483647, or 0 or null for off; got -1$/,
    );
  });

  // [option, options carrying the value, smallest value the rule allows, smallest value accepted overall]
  const durations: [string, (value: unknown) => Record<string, unknown>, number, number?][] = [
    ['debounce', (value) => ({ debounce: value }), 0],
    ['maxBatchWait', (value) => ({ debounce: 0, maxBatchWait: value }), 0],
    ['statusInterval', (value) => ({ statusInterval: value, livenessTimeout: null }), 1],
    // livenessTimeout must also exceed statusInterval (at least 1), so 1 itself is refused by that rule.
    ['livenessTimeout', (value) => ({ statusInterval: 1, livenessTimeout: value }), 1, 2],
    ['failsafe', (value) => ({ failsafe: value }), 1],
    ['firstConnectTimeout', (value) => ({ firstConnectTimeout: value }), 1],
    ['backoff.initial', (value) => ({ backoff: { initial: value, maximum: 2 ** 31 - 1 } }), 1],
    ['backoff.maximum', (value) => ({ backoff: { initial: 1, maximum: value } }), 1],
  ];
  for (const [name, build, min, acceptedMin = min] of durations) {
    test(`${name}: a whole number of milliseconds from ${min} to 2^31-1`, () => {
      const rule = new RegExp(
        `${name.replace('.', '\\.')} must be a whole number of milliseconds from ${min} to 2147483647`,
      );
      // 0 turns the optional ones off (see below), so the value below their minimum is -1.
      const below = OFF_AT_ZERO.includes(name) ? -1 : min - 1;
      for (const bad of [below, -5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, '50', true, 2.5]) {
        throwsConfig(() => resolve(build(bad)), name, rule);
      }
      // The bounds themselves are accepted.
      resolve(build(acceptedMin));
      resolve(build(2 ** 31 - 1));
    });
  }

  test('debounce: the message shows the bad value', () => {
    throwsConfig(() => resolve({ debounce: -1 }), 'debounce', /got -1$/);
    throwsConfig(() => resolve({ debounce: '50' }), 'debounce', /got "50"$/);
  });

  test('maxBatchWait below debounce', () => {
    throwsConfig(
      () => resolve({ debounce: 100, maxBatchWait: 99 }),
      'maxBatchWait',
      /maxBatchWait \(99\) must be at least debounce \(100\)/,
    );
    assert.equal(resolve({ debounce: 100, maxBatchWait: 100 }).maxBatchWaitMs, 100);
  });

  test('maxPending: a whole number, at least 1', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '10', 2 ** 53, null]) {
      throwsConfig(
        () => resolve({ maxPending: bad }),
        'maxPending',
        /whole number of distinct payloads, at least 1/,
      );
    }
  });

  test('maxKeys: a whole number, at least 1', () => {
    for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '1000', 2 ** 53, null]) {
      throwsConfig(
        () => resolve({ maxKeys: bad }),
        'maxKeys',
        /maxKeys must be a whole number of distinct keys per table, at least 1/,
      );
    }
    assert.equal(resolve({ maxKeys: 1 }).maxKeys, 1);
  });

  test('livenessTimeout must exceed statusInterval', () => {
    throwsConfig(
      () => resolve({ statusInterval: 1000, livenessTimeout: 1000 }),
      'livenessTimeout',
      /livenessTimeout \(1000\) must exceed statusInterval \(1000\)/,
    );
    throwsConfig(
      () => resolve({ statusInterval: 40_000 }),
      'livenessTimeout',
      /livenessTimeout \(30000\) must exceed statusInterval \(40000\)/,
    );
    assert.equal(resolve({ statusInterval: 1000, livenessTimeout: 1001 }).livenessTimeoutMs, 1001);
  });

  test('backoff: not an object', () => {
    throwsConfig(
      () => resolve({ backoff: 100 }),
      'backoff',
      /backoff must be an object \{ initial, maximum \}/,
    );
    throwsConfig(() => resolve({ backoff: null }), 'backoff', /backoff must be an object/);
  });

  test('backoff.maximum below backoff.initial', () => {
    throwsConfig(
      () => resolve({ backoff: { initial: 500, maximum: 499 } }),
      'backoff.maximum',
      /backoff\.maximum \(499\) must be at least backoff\.initial \(500\)/,
    );
  });

  test('signal must be an AbortSignal', () => {
    for (const bad of [{}, 'abort', { aborted: false, addEventListener() {} }]) {
      throwsConfig(() => resolve({ signal: bad }), 'signal', /signal must be an AbortSignal/);
    }
    resolve({ signal: new AbortController().signal });
  });

  test('logger must be an object', () => {
    for (const bad of ['console', 1, null, () => {}]) {
      throwsConfig(
        () => resolve({ logger: bad }),
        'logger',
        /logger must be a console- or pino-shaped object/,
      );
    }
    resolve({ logger: console });
    resolve({ logger: {} });
  });

  test('logLevel is one of the levels, or silent', () => {
    for (const bad of ['verbose', 'INFO', null, 3]) {
      throwsConfig(
        () => resolve({ logLevel: bad }),
        'logLevel',
        /^logLevel must be 'trace', 'debug', 'info', 'warn', 'error' or 'silent'; got /,
      );
    }
    for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'silent'] as const) {
      assert.equal(resolveFeedOptions({ logLevel: level }).logLevel, level);
    }
  });
});

describe('new WalFeed() validates at construction, before any connection', () => {
  // No PG* variables from the machine running the tests; a user so settings can resolve.
  const env = { PGUSER: 'tester' };
  const construct = (options: Record<string, unknown>) => new WalFeed(options as WalFeedOptions, { env });

  test('a valid configuration constructs without connecting', () => {
    const feed = construct({ host: '127.0.0.1', port: 1, debounce: 5 });
    assert.equal(feed.closed, false);
    assert.equal(feed.slotName, null);
    assert.equal(feed.plugin, null);
  });

  test('feed options', () => {
    throwsConfig(() => construct({ debounce: -1 }), 'debounce', /milliseconds/);
    throwsConfig(() => construct({ tables: ['nodot'] }), 'tables', /needs a schema/);
    throwsConfig(
      () => construct({ statusInterval: 5000, livenessTimeout: 5000 }),
      'livenessTimeout',
      /must exceed statusInterval/,
    );
  });

  test('a bad sslmode, in a DSN or as an option', () => {
    throwsConfig(
      () => construct({ connectionString: 'host=x sslmode=bogus' }),
      'sslmode',
      /sslmode "bogus" is not one of disable, allow, prefer, require, verify-ca, verify-full/,
    );
    throwsConfig(() => construct({ host: 'x', sslmode: 'nope' }), 'sslmode', /is not one of/);
  });

  test('applicationName: a string without NUL', () => {
    throwsConfig(() => construct({ applicationName: 42 }), 'applicationName', /must be a string, not number/);
    throwsConfig(() => construct({ applicationName: null }), 'applicationName', /must be a string/);
    throwsConfig(() => construct({ applicationName: 'a\0b' }), 'applicationName', /contains a NUL character/);
    // Quotes, newlines and SQL are plain text in a startup parameter: accepted.
    construct({ applicationName: 'it\'s "q"\n; DROP TABLE x; --' });
  });

  test('user and database: strings without NUL', () => {
    throwsConfig(() => construct({ user: 7 }), 'user', /must be a string/);
    throwsConfig(() => construct({ database: 'a\0b' }), 'database', /contains a NUL character/);
  });

  test('an unknown keyword in a key=value DSN', () => {
    throwsConfig(
      () => construct({ connectionString: 'host=x bogus=1' }),
      'connectionString',
      /unknown connection parameter "bogus"/,
    );
  });

  test('malformed DSNs', () => {
    throwsConfig(() => construct({ connectionString: 'host=x dbname' }), 'connectionString', /missing "="/);
    throwsConfig(
      () => construct({ connectionString: 'postgres://[bad' }),
      'connectionString',
      /missing "\]"/,
    );
  });

  test('the error for a bad URL never shows its password', () => {
    assert.throws(
      () => construct({ connectionString: 'postgres://u:s3cretpw@h/db?sslmode=bogus' }),
      (error: unknown) => error instanceof ConfigError && !error.message.includes('s3cretpw'),
    );
  });

  test('no error shows a password, whichever option is wrong', () => {
    const secret = 's3cretpw';
    for (const options of [
      { password: secret, debounce: -1 },
      { password: `${secret}\0`, host: 'x' },
      { password: secret, tables: ['nodot'] },
      { connectionString: `password=${secret} port=0` },
      { connectionString: `postgres://u:${secret}@h/db`, statusInterval: 5000, livenessTimeout: 1 },
      { connectionString: `password='${secret}`, host: 'x' },
    ]) {
      assert.throws(
        () => construct(options),
        (error: unknown) => error instanceof ConfigError && !error.message.includes(secret),
        JSON.stringify(options),
      );
    }
  });
});

describe('unknown option names', () => {
  test('a misspelled option is named, with the option it was probably meant to be', () => {
    throwsConfig(
      () => resolve({ debounse: 0 }),
      'debounse',
      /^WalFeed has no option "debounse"; did you mean "debounce"\?$/,
    );
    throwsConfig(() => resolve({ SSLMode: 'require' }), 'SSLMode', /did you mean "sslmode"\?/);
    throwsConfig(
      () => resolve({ livenesTimeout: 60_000 }),
      'livenesTimeout',
      /did you mean "livenessTimeout"\?/,
    );
  });

  test('a name near nothing gets no guess', () => {
    throwsConfig(() => resolve({ retries: 3 }), 'retries', /^WalFeed has no option "retries"$/);
  });

  test('new WalFeed refuses it before connecting', () => {
    throwsConfig(
      () => new WalFeed({ tabels: ['public.t'] } as unknown as WalFeedOptions),
      'tabels',
      /did you mean "tables"/,
    );
  });

  test('a key whose value is undefined is "not set", as everywhere in these options', () => {
    assert.equal(resolve({ unheardOf: undefined, debounce: undefined }).debounceMs, 50);
  });

  test('every documented option is accepted', () => {
    const every: Required<WalFeedOptions> = {
      connectionString: 'postgres://u@h/d',
      host: 'h',
      port: 5432,
      user: 'u',
      password: 'p',
      database: 'd',
      sslmode: 'require',
      sslrootcert: '/ca.crt',
      sslcert: '/c.crt',
      sslkey: '/c.key',
      sslnegotiation: 'postgres',
      channelBinding: 'prefer',
      connectTimeout: 1000,
      applicationName: 'app',
      passfile: '/p',
      tables: ['public.t'],
      plugin: 'auto',
      publication: 'app',
      partitions: 'leaf',
      keys: true,
      debounce: 10,
      maxBatchWait: 100,
      maxPending: 5,
      maxKeys: 5,
      statusInterval: 1000,
      livenessTimeout: 5000,
      readPacing: 3,
      failsafe: 60_000,
      backoff: { initial: 10, maximum: 100 },
      firstConnectTimeout: 5000,
      signal: new AbortController().signal,
      logger: console,
      logLevel: 'debug',
    };
    assert.doesNotThrow(() => resolveFeedOptions(every));
  });
});

// NotifyBridge and NotifyFeed options: every bad value is a ConfigError at construction naming the
// option and the rule, before any connection; the feed options they share are checked the same way.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../../src/errors.js';
import { NotifyBridge, type NotifyBridgeOptions } from '../../../src/fanout/bridge.js';
import { NotifyFeed, type NotifyFeedOptions } from '../../../src/fanout/notify-feed.js';

/** No PG* variables from the machine running the tests; a user so settings can resolve. */
const internals = { env: { PGUSER: 'tester' } };
const SECRET = 'a shared secret of enough bytes';
/** Built with a secret unless `options` says otherwise (an own `secret` key, even undefined). */
const bridge = (options: Record<string, unknown>) =>
  new NotifyBridge({ secret: SECRET, ...options } as unknown as NotifyBridgeOptions, internals);
const feed = (options: Record<string, unknown>) =>
  new NotifyFeed({ secret: SECRET, ...options } as unknown as NotifyFeedOptions, internals);

function throwsConfig(fn: () => unknown, option: string | undefined, rule: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    assert.equal(error.code, 'PGNUDGE_ERR_CONFIG');
    assert.equal(error.option, option);
    assert.match(error.message, rule);
    return true;
  });
}

const BAD_DURATIONS = [0, -1, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 31, '500', true, {}, 1.5];

for (const [name, build] of [
  ['NotifyBridge', bridge],
  ['NotifyFeed', feed],
] as const) {
  describe(`${name} options`, () => {
    test('valid options construct without connecting', () => {
      const made = build({ channel: 'orders', host: '127.0.0.1', port: 1 });
      assert.equal(made.channel, 'orders');
    });

    test('a secret, or insecure: true, and never both (contract R29)', () => {
      throwsConfig(
        () => build({ channel: 'c', secret: undefined }),
        'secret',
        new RegExp(
          `^${name} needs the secret its bridges and listeners share \\(option secret; pgnudge reads PGNUDGE_SECRET or --secret-file\\): without one, any role that can connect to the database can forge, replay and silence fan-out messages\\. Set insecure: true \\(--insecure\\) to accept that`,
        ),
      );
      throwsConfig(
        () => build({ channel: 'c', insecure: true }),
        'insecure',
        /both a secret and insecure: true/,
      );
      throwsConfig(
        () => build({ channel: 'c', secret: undefined, insecure: 'yes' }),
        'insecure',
        /true or false/,
      );
      throwsConfig(() => build({ channel: 'c', secret: 'short' }), 'secret', /16 to 4096 bytes; it is 5/);
      throwsConfig(
        () => build({ channel: 'c', secret: 42 }),
        'secret',
        /a string or a Uint8Array; got number/,
      );
      build({ channel: 'c', secret: undefined, insecure: true });
      build({ channel: 'c', secret: new Uint8Array(32) });
    });

    test('no error shows the secret', () => {
      const secret = 'S3cr3t-S3cr3t-S3cr3t';
      for (const options of [
        { channel: 'c', secret, insecure: true },
        { channel: 'c', secret, debounce: -1 },
        { channel: 'c', secret: `${secret}`.repeat(300) },
      ]) {
        assert.throws(
          () => build(options),
          (error: unknown) => error instanceof ConfigError && !error.message.includes('S3cr3t'),
        );
      }
    });

    test('options that are not an object', () => {
      for (const bad of [null, 'orders', 1]) {
        const raw = () =>
          name === 'NotifyBridge'
            ? new NotifyBridge(bad as never, internals)
            : new NotifyFeed(bad as never, internals);
        throwsConfig(raw, undefined, new RegExp(`${name} options must be an object`));
      }
    });

    test('channel: a non-empty string of at most 63 bytes without NUL', () => {
      throwsConfig(() => build({}), 'channel', /channel must be a non-empty string.*got undefined/);
      throwsConfig(() => build({ channel: '' }), 'channel', /channel must be a non-empty string.*got ""/);
      throwsConfig(() => build({ channel: 7 }), 'channel', /got number/);
      throwsConfig(() => build({ channel: 'a\0b' }), 'channel', /must not contain a NUL/);
      throwsConfig(() => build({ channel: 'é'.repeat(32) }), 'channel', /at most 63 bytes.* is 64$/);
      build({ channel: 'é'.repeat(31) });
    });

    test('shared feed options are validated at construction', () => {
      throwsConfig(() => build({ channel: 'c', debounce: -1 }), 'debounce', /milliseconds from 0/);
      throwsConfig(
        () => build({ channel: 'c', statusInterval: 5000, livenessTimeout: 5000 }),
        'livenessTimeout',
        /must exceed statusInterval/,
      );
      throwsConfig(() => build({ channel: 'c', maxPending: 0 }), 'maxPending', /at least 1/);
      throwsConfig(() => build({ channel: 'c', logger: 'console' }), 'logger', /console- or pino-shaped/);
      throwsConfig(() => build({ channel: 'c', sslmode: 'on' }), 'sslmode', /is not one of/);
      throwsConfig(() => build({ channel: 'c', applicationName: 5 }), 'applicationName', /must be a string/);
      throwsConfig(() => build({ channel: 'c', applicationName: 'a\0b' }), 'applicationName', /NUL/);
    });

    test('signal must be an AbortSignal', () => {
      for (const bad of ['abort', {}, { aborted: false }]) {
        throwsConfig(() => build({ channel: 'c', signal: bad }), 'signal', /signal must be an AbortSignal/);
      }
      build({ channel: 'c', signal: new AbortController().signal });
    });

    test('no error shows the password of the connection string', () => {
      const dsn = 'postgres://u:S3cr3tPw@h/db';
      for (const options of [
        { channel: 'c', connectionString: `${dsn}?sslmode=bogus` },
        { channel: '', connectionString: dsn },
        { channel: 'c', connectionString: dsn, debounce: 'x' },
        { channel: 'c', connectionString: `${dsn}?bogus=1` },
      ]) {
        assert.throws(
          () => build(options),
          (error: unknown) => error instanceof ConfigError && !error.message.includes('S3cr3tPw'),
        );
      }
    });
  });
}

describe('NotifyBridge intervals', () => {
  for (const option of ['heartbeatInterval', 'electionPollInterval']) {
    test(`${option}: a whole number of milliseconds from 1 to 2^31-1`, () => {
      for (const bad of BAD_DURATIONS) {
        throwsConfig(
          () => bridge({ channel: 'c', [option]: bad }),
          option,
          new RegExp(`${option} must be a whole number of milliseconds from 1 to 2147483647; got `),
        );
      }
      bridge({ channel: 'c', [option]: 1 });
      bridge({ channel: 'c', [option]: 2 ** 31 - 1 });
    });
  }
});

describe('NotifyFeed heartbeatTimeout', () => {
  test('a whole number of milliseconds from 1 to 2^31-1', () => {
    for (const bad of BAD_DURATIONS) {
      throwsConfig(
        () => feed({ channel: 'c', heartbeatTimeout: bad }),
        'heartbeatTimeout',
        /heartbeatTimeout must be a whole number of milliseconds from 1 to 2147483647; got /,
      );
    }
    feed({ channel: 'c', heartbeatTimeout: 1 });
    feed({ channel: 'c', heartbeatTimeout: 2 ** 31 - 1 });
  });

  test('the message shows the bad value', () => {
    throwsConfig(() => feed({ channel: 'c', heartbeatTimeout: -5 }), 'heartbeatTimeout', /got -5$/);
    throwsConfig(() => feed({ channel: 'c', heartbeatTimeout: {} }), 'heartbeatTimeout', /got an object$/);
  });
});

describe('unknown option names', () => {
  test('NotifyBridge names a misspelled option with its likely meaning, its own options included', () => {
    throwsConfig(
      () => bridge({ channel: 'c', heartbeatIntervl: 10 }),
      'heartbeatIntervl',
      /^NotifyBridge has no option "heartbeatIntervl"; did you mean "heartbeatInterval"\?$/,
    );
    throwsConfig(() => bridge({ chanel: 'c' }), 'chanel', /did you mean "channel"/);
  });

  test('NotifyFeed names a misspelled option, and refuses tables, plugin and publication, which the bridge decides', () => {
    throwsConfig(
      () => feed({ channel: 'c', heartbeatTimeot: 10 }),
      'heartbeatTimeot',
      /did you mean "heartbeatTimeout"/,
    );
    throwsConfig(
      () => feed({ channel: 'c', tables: ['public.t'] }),
      'tables',
      /^NotifyFeed has no option "tables"/,
    );
    throwsConfig(
      () => feed({ channel: 'c', plugin: 'wal2json' }),
      'plugin',
      /^NotifyFeed has no option "plugin"/,
    );
    throwsConfig(
      () => feed({ channel: 'c', publication: 'app' }),
      'publication',
      /^NotifyFeed has no option "publication"/,
    );
    // It reads NOTIFY messages, not a replication stream: a readPacing would be silently ignored.
    throwsConfig(
      () => feed({ channel: 'c', readPacing: 2 }),
      'readPacing',
      /^NotifyFeed has no option "readPacing"/,
    );
    for (const [option, value] of [
      ['partitions', 'leaf'],
      ['keys', true],
    ] as const) {
      throwsConfig(
        () => feed({ channel: 'c', [option]: value }),
        option,
        new RegExp(`^NotifyFeed has no option "${option}"`),
      );
    }
  });

  test('NotifyBridge takes partitions and keys: the signed wire carries table and key apart', () => {
    bridge({ channel: 'c', partitions: 'leaf' });
    bridge({ channel: 'c', keys: true });
    bridge({ channel: 'c', keys: false });
  });
});

// Broker URLs (contract R30): scheme, host, port, channel or subject, credentials from the URL or the
// broker's usual variables, and no credential in any message or target.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../../src/errors.js';
import { parseBrokerUrl } from '../../../src/fanout/broker-url.js';

const TEST = { timeout: 10_000 } as const;
const PASSWORD = 's3cr3t-pass';

function refused(text: unknown, env: Record<string, string | undefined> = {}): ConfigError {
  try {
    parseBrokerUrl(text, 'to', env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    assert.equal(error.option, 'to');
    assert.ok(!error.message.includes(PASSWORD), error.message);
    return error;
  }
  assert.fail(`accepted ${String(text)}`);
}

describe('parseBrokerUrl', TEST, () => {
  test(
    'redis, rediss and nats: defaults, ports, channel, key name and a target without credentials',
    TEST,
    () => {
      const redis = parseBrokerUrl(`redis://app:${PASSWORD}@cache.internal/orders`, 'to', {});
      assert.deepEqual(
        { ...redis },
        {
          kind: 'redis',
          host: 'cache.internal',
          port: 6379,
          tls: false,
          channel: 'orders',
          username: 'app',
          password: PASSWORD,
          sslrootcert: undefined,
          target: 'redis://cache.internal:6379/orders',
          keyName: 'redis:orders',
        },
      );
      const rediss = parseBrokerUrl('rediss://[::1]:7000/a%2Fb', 'to', {});
      assert.equal(rediss.tls, true);
      assert.equal(rediss.host, '::1');
      assert.equal(rediss.channel, 'a/b');
      assert.equal(rediss.target, 'rediss://[::1]:7000/a%2Fb');
      const nats = parseBrokerUrl('nats://127.0.0.1/pgnudge.shop', 'from', {});
      assert.equal(nats.kind, 'nats');
      assert.equal(nats.port, 4222);
      assert.equal(nats.channel, 'pgnudge.shop');
      assert.equal(nats.keyName, 'nats:pgnudge.shop');
    },
  );

  test('credentials missing from the URL come from REDISCLI_AUTH, NATS_USER and NATS_PASSWORD', TEST, () => {
    const env = { REDISCLI_AUTH: 'r', NATS_USER: 'u', NATS_PASSWORD: 'p' };
    assert.equal(parseBrokerUrl('redis://h/c', 'to', env).password, 'r');
    assert.equal(parseBrokerUrl('redis://h/c', 'to', env).username, undefined);
    const nats = parseBrokerUrl('nats://h/c', 'to', env);
    assert.deepEqual([nats.username, nats.password], ['u', 'p']);
    // The URL's own credentials win.
    assert.equal(parseBrokerUrl('redis://:x@h/c', 'to', env).password, 'x');
    assert.equal(parseBrokerUrl('redis://h/c', 'to', { REDISCLI_AUTH: '' }).password, undefined);
  });

  test('bad URLs are refused with what to write instead, never quoting a password', TEST, () => {
    assert.match(refused(42).message, /broker URL string/);
    assert.match(refused(`redis//:${PASSWORD}@h/c`).message, /not a URL/);
    assert.match(refused(`amqp://u:${PASSWORD}@h/c`).message, /scheme "amqp"/);
    assert.match(refused(`redis://u:${PASSWORD}@h`).message, /names no channel/);
    assert.match(refused(`nats://u:${PASSWORD}@h/`).message, /names no subject/);
    assert.match(refused(`nats://u:${PASSWORD}@h/orders.*`).message, /wildcards/);
    assert.match(refused(`nats://u:${PASSWORD}@h/a..b`).message, /not valid/);
    assert.match(refused(`redis://u:${PASSWORD}@h/c?db=1`).message, /no query parameter "db"/);
    assert.match(refused(`redis://u:${PASSWORD}@h/c#x`).message, /no fragment/);
    assert.match(refused(`redis://u:${PASSWORD}@h/%ff`).message, /percent-encoded/);
    assert.match(refused(`redis://u:${PASSWORD}@h/a%0Ab`).message, /not valid/);
  });

  test('a rediss:// URL names its CA as ?sslrootcert=PATH, as a PostgreSQL URL does', TEST, () => {
    const address = parseBrokerUrl(
      `rediss://:${PASSWORD}@cache/orders?sslrootcert=%2Fetc%2Fredis%2Fca.pem`,
      'from',
      {},
    );
    assert.equal(address.sslrootcert, '/etc/redis/ca.pem');
    // A `+` is a plus, as libpq reads it, not URLSearchParams' space.
    assert.equal(
      parseBrokerUrl('rediss://cache/orders?sslrootcert=/etc/ssl/ca+bundle%20x.pem', 'from', {}).sslrootcert,
      '/etc/ssl/ca+bundle x.pem',
    );
    assert.equal(address.channel, 'orders');
    assert.equal(address.target, 'rediss://cache:6379/orders', 'the target names the server, not the CA');
    assert.equal(
      parseBrokerUrl('rediss://cache/orders?sslrootcert=/ca.pem', 'from', {}).sslrootcert,
      '/ca.pem',
    );
    assert.equal(
      parseBrokerUrl('rediss://cache/orders?sslrootcert=system', 'from', {}).sslrootcert,
      undefined,
    );
    assert.equal(parseBrokerUrl('rediss://cache/orders', 'from', {}).sslrootcert, undefined);
    assert.match(
      refused(`redis://u:${PASSWORD}@h/c?sslrootcert=/ca.pem`).message,
      /needs TLS; write rediss:\/\//,
    );
    assert.match(
      refused(`nats://u:${PASSWORD}@h/c?sslrootcert=/ca.pem`).message,
      /no query parameter "sslrootcert"/,
    );
    assert.match(refused('rediss://h/c?sslrootcert=').message, /sslrootcert is empty/);
    assert.match(refused('rediss://h/c?sslrootcert=/a&sslrootcert=/b').message, /more than once/);
    assert.match(
      refused(`rediss://u:${PASSWORD}@h/c?sslrootcert=/a&sslmode=verify-full`).message,
      /no query parameter "sslmode".*only parameter is \?sslrootcert=PATH/,
    );
  });
});

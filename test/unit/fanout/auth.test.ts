// The fan-out's shared secret and the keys derived from it (contract R29): what a secret must be, that keys
// are bound to their channel and secret, that nothing prints them, and how options choose a mode.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import { ConfigError } from '../../../src/errors.js';
import {
  ChannelKey,
  checkSecret,
  MAX_SECRET_BYTES,
  MIN_SECRET_BYTES,
  resolveChannelKey,
} from '../../../src/fanout/auth.js';

const SECRET = 'correct horse battery staple 42';

describe('checkSecret', () => {
  test('16 to 4096 bytes, counted in UTF-8, as a string or bytes', () => {
    assert.equal(checkSecret('x'.repeat(MIN_SECRET_BYTES)).byteLength, 16);
    assert.equal(checkSecret('é'.repeat(8)).byteLength, 16, 'eight 2-byte characters are 16 bytes');
    assert.equal(checkSecret(new Uint8Array(MAX_SECRET_BYTES)).byteLength, 4096);
  });

  test('too short, too long or not text: a ConfigError naming the source, never the secret', () => {
    const cases: [unknown, RegExp][] = [
      ['short secret 15', /must be 16 to 4096 bytes; it is 15\. Generate one with: openssl rand -base64 32/],
      ['é'.repeat(7), /it is 14/],
      ['x'.repeat(4097), /it is 4097/],
      [new Uint8Array(3), /it is 3/],
      [42, /must be a string or a Uint8Array; got number/],
      [null, /got null/],
    ];
    for (const [secret, message] of cases) {
      assert.throws(
        () => checkSecret(secret, 'PGNUDGE_SECRET'),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.option === 'PGNUDGE_SECRET' &&
          message.test(error.message) &&
          error.message.startsWith('PGNUDGE_SECRET ') &&
          !(typeof secret === 'string' && error.message.includes(secret)),
        String(secret),
      );
    }
  });
});

describe('ChannelKey', () => {
  test('a MAC is 43 base64url characters, the same for the same secret, channel and body', () => {
    const mac = ChannelKey.derive(SECRET, 'pgnudge').sign('{"x":1}');
    assert.match(mac, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(ChannelKey.derive(SECRET, 'pgnudge').sign('{"x":1}'), mac);
    assert.equal(
      ChannelKey.derive(Buffer.from(SECRET), 'pgnudge').sign('{"x":1}'),
      mac,
      'bytes = the UTF-8 of the string',
    );
  });

  test('the channel and the secret are bound into the key', () => {
    const base = ChannelKey.derive(SECRET, 'pgnudge');
    const mac = base.sign('body');
    for (const other of [
      ChannelKey.derive(SECRET, 'Pgnudge'),
      ChannelKey.derive(SECRET, 'pgnudge '),
      ChannelKey.derive(`${SECRET} `, 'pgnudge'),
    ]) {
      assert.notEqual(other.sign('body'), mac);
      assert.equal(other.verify('body', mac), false);
      assert.notEqual(other.electionTag('shop'), base.electionTag('shop'));
    }
    assert.equal(base.verify('body', mac), true);
    assert.equal(base.verify('body ', mac), false);
  });

  test('the election tag: 32 hex digits of HMAC under the election key (golden, from an independent RFC 5869 implementation)', () => {
    const key = ChannelKey.derive(SECRET, 'pgnudge');
    assert.equal(key.electionTag('shop'), 'b9be68610a9c297aaafc2e557b69416b');
    assert.notEqual(key.electionTag('Shop'), key.electionTag('shop'));
  });

  test('never prints or serialises its keys', () => {
    const key = ChannelKey.derive(SECRET, 'pgnudge');
    assert.equal(JSON.stringify({ key }), '{"key":"[ChannelKey]"}');
    assert.equal(inspect(key), '[ChannelKey]');
    assert.equal(inspect({ key }, { showHidden: true }), '{ key: [ChannelKey] }');
    assert.deepEqual(Object.keys(key), ['channel']);
  });
});

describe('resolveChannelKey', () => {
  test('a secret gives the key, insecure: true gives null', () => {
    const key = resolveChannelKey({ secret: SECRET }, 'pgnudge', 'NotifyFeed');
    assert.ok(key instanceof ChannelKey);
    assert.equal(key.sign('b'), ChannelKey.derive(SECRET, 'pgnudge').sign('b'));
    assert.equal(resolveChannelKey({ insecure: true }, 'pgnudge', 'NotifyFeed'), null);
  });

  test('neither is a ConfigError that states the threat and both ways out', () => {
    for (const options of [{}, { insecure: false }]) {
      assert.throws(
        () => resolveChannelKey(options, 'pgnudge', 'NotifyBridge'),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.option === 'secret' &&
          /^NotifyBridge needs the secret/.test(error.message) &&
          /PGNUDGE_SECRET or --secret-file/.test(error.message) &&
          /forge, replay and silence/.test(error.message) &&
          /insecure: true \(--insecure\)/.test(error.message),
      );
    }
  });

  test('both, a bad insecure or a bad secret is a ConfigError', () => {
    assert.throws(
      () => resolveChannelKey({ secret: SECRET, insecure: true }, 'c', 'NotifyFeed'),
      /both a secret and insecure: true/,
    );
    assert.throws(
      () => resolveChannelKey({ insecure: 'yes' }, 'c', 'NotifyFeed'),
      /insecure must be true or false/,
    );
    assert.throws(
      () => resolveChannelKey({ secret: 'short' }, 'c', 'NotifyFeed'),
      /secret must be 16 to 4096 bytes/,
    );
  });
});

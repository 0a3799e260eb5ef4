import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError } from '../../../src/errors.js';
import {
  encodeCopyData,
  encodeCopyDone,
  encodePasswordMessage,
  encodeQuery,
  encodeSASLInitialResponse,
  encodeSASLResponse,
  encodeSSLRequest,
  encodeStartupMessage,
  encodeTerminate,
} from '../../../src/protocol/frontend.js';
import { hex, toHex } from '../../support/bytes.js';

const ascii = (s: string) => Buffer.from(s).toString('hex');

describe('frontend encoders (golden bytes)', () => {
  it('SSLRequest', () => {
    assert.equal(toHex(encodeSSLRequest()), '0000000804d2162f');
  });

  it('StartupMessage, protocol 3.0', () => {
    const out = encodeStartupMessage({ user: 'bob', database: 'app', replication: 'database' });
    const body = `${ascii('user')}00${ascii('bob')}00${ascii('database')}00${ascii('app')}00${ascii('replication')}00${ascii('database')}0000`;
    assert.equal(toHex(out), `${(4 + 4 + body.length / 2).toString(16).padStart(8, '0')}00030000${body}`);
    assert.equal(
      toHex(out),
      '00000034000300007573657200626f6200646174616261736500617070007265706c69636174696f6e0064617461626173650000',
    );
  });

  it('PasswordMessage', () => {
    assert.equal(toHex(encodePasswordMessage('pw')), '70000000077077 00'.replace(/ /g, ''));
  });

  it('SASLInitialResponse', () => {
    const data = Buffer.from('n,,n=,r=abc');
    assert.equal(
      toHex(encodeSASLInitialResponse('SCRAM-SHA-256', data)),
      `70${(4 + 14 + 4 + data.byteLength).toString(16).padStart(8, '0')}${ascii('SCRAM-SHA-256')}00${'0000000b'}${ascii('n,,n=,r=abc')}`,
    );
  });

  it('SASLResponse', () => {
    assert.equal(toHex(encodeSASLResponse(Buffer.from('c=biws'))), `700000000a${ascii('c=biws')}`);
  });

  it('Query', () => {
    assert.equal(toHex(encodeQuery('IDENTIFY_SYSTEM')), `5100000014${ascii('IDENTIFY_SYSTEM')}00`);
  });

  it('Query with non-ASCII text counts UTF-8 bytes', () => {
    assert.equal(toHex(encodeQuery('é')), '5100000007c3a900');
  });

  it('CopyData, CopyDone, Terminate', () => {
    assert.equal(toHex(encodeCopyData(hex('72aabb'))), '640000000772aabb');
    assert.equal(toHex(encodeCopyDone()), '6300000004');
    assert.equal(toHex(encodeTerminate()), '5800000004');
  });

  it('a NUL in caller input is a ConfigError naming what held it, never the password itself', () => {
    assert.throws(
      () => encodeQuery('select 1\0; drop'),
      (e: unknown) => e instanceof ConfigError && /SQL command/.test(e.message),
    );
    assert.throws(
      () => encodeStartupMessage({ application_name: 'a\0b' }),
      (e: unknown) =>
        e instanceof ConfigError && /application_name/.test(e.message) && e.option === 'application_name',
    );
    assert.throws(
      () => encodePasswordMessage('sec\0ret'),
      (e: unknown) => e instanceof ConfigError && /password/.test(e.message) && !/sec/.test(e.message),
    );
    assert.throws(() => encodeStartupMessage({ '': 'x' }), ConfigError);
  });
});

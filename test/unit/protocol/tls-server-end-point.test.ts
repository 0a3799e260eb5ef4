import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthenticationError } from '../../../src/errors.js';
import { tlsServerEndPointHash } from '../../../src/protocol/scram.js';
import { hex, readFixture, toHex } from '../../support/bytes.js';

// Expected values from `openssl dgst` over each DER file; see test/fixtures/tls-server-end-point/PROVENANCE.txt.
const EXPECTED: Record<string, string> = {
  'rsa-sha256.der': 'dd12f009d9eceec1e0d898a2ff67505c4b3c7d2c6e85e61827a4f7f50d7272dd',
  'rsa-sha1.der': 'e920708e8849c76648b319d0ba42ca3b4c91ebb3b0f65939b8cd3687a92c0b45',
  'rsa-sha512.der':
    'ff0a85c6239c1c244cfc841525752ea078e9338906701c50d487338aa5fef45b8f7d1224edee5a90009403a61c59deef6687c9b4e3e9eac2a741db9e71d6d75f',
  'ecdsa-sha256.der': '24fad41ca924803a2067e0a3195cb179e709e124979a91f4fb55d527cda78537',
  'ecdsa-sha384.der':
    '5b8fd494ad31dc49a23d7dbce1fe228b15ddbb834dbd658e942a2dd3fa09c56920c8d2d89b4bb4b1cc7a177da1c33af9',
};

const isBindingError = (e: unknown) =>
  e instanceof AuthenticationError &&
  e.code === 'PGNUDGE_ERR_CHANNEL_BINDING' &&
  /cannot determine the certificate's hash algorithm/.test(e.message);

describe('tlsServerEndPointHash (RFC 5929 §4.1)', () => {
  for (const [file, expected] of Object.entries(EXPECTED)) {
    it(`${file} → ${expected.length * 4}-bit hash`, () => {
      assert.equal(toHex(tlsServerEndPointHash(readFixture(`tls-server-end-point/${file}`))), expected);
    });
  }

  it('refuses Ed25519 (no hash to pick), like libpq', () => {
    assert.throws(
      () => tlsServerEndPointHash(readFixture('tls-server-end-point/ed25519.der')),
      isBindingError,
    );
  });

  it('refuses RSA-PSS, like libpq', () => {
    assert.throws(
      () => tlsServerEndPointHash(readFixture('tls-server-end-point/rsa-pss.der')),
      isBindingError,
    );
  });

  it('refuses malformed DER without leaking RangeError', () => {
    const good = readFixture('tls-server-end-point/rsa-sha256.der');
    for (const bad of [
      hex(''),
      hex('30'),
      hex('3080'),
      hex('30 85 0000000001'),
      good.subarray(0, 100),
      Buffer.concat([good, hex('00')]),
    ]) {
      assert.throws(() => tlsServerEndPointHash(bad), isBindingError);
    }
    for (let cut = 0; cut < good.byteLength; cut += 7) {
      assert.throws(() => tlsServerEndPointHash(good.subarray(0, cut)), isBindingError);
    }
  });
});

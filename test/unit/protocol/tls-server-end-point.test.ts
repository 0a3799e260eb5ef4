import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
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
  // SHA-224 stays SHA-224: RFC 5929 §4.1 raises only MD5 and SHA-1, and PostgreSQL's backend agrees.
  'rsa-sha224.der': 'e671b9b115cfabca7c15fef5ce8dc752b7ff76bb93816bd343516131',
  'ecdsa-sha224.der': '71abd11d28f0cb8cd0f0970f9cff11b3658174f527dbac397bc256ea',
  'dsa-sha224.der': 'fd2c53a1bad482f042553b553e34a8a4ad084d9d229e68b1ecb23549',
};

/**
 * A copy of an RSA certificate whose outer signatureAlgorithm is another PKCS #1 OID (same length): only its
 * last arc (`lastArcHex`) differs. The outer OID is the last occurrence; tbsCertificate holds the first.
 */
function withOuterSignatureOid(der: Buffer, lastArcHex: string): Buffer {
  const pkcs1 = hex('06 09 2a864886f70d0101');
  const at = der.lastIndexOf(pkcs1);
  assert.ok(at > der.byteLength / 2, 'outer signatureAlgorithm OID');
  const copy = Buffer.from(der);
  hex(lastArcHex).copy(copy, at + pkcs1.byteLength);
  return copy;
}

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

  it('SHA-224 signatures bind with SHA-224 itself, not SHA-256 (cross-checked with node:crypto)', () => {
    for (const file of ['rsa-sha224.der', 'ecdsa-sha224.der', 'dsa-sha224.der']) {
      const der = readFixture(`tls-server-end-point/${file}`);
      const binding = tlsServerEndPointHash(der);
      assert.equal(binding.byteLength, 28, file);
      assert.equal(toHex(binding), createHash('sha224').update(der).digest('hex'), file);
      assert.notEqual(toHex(binding), createHash('sha256').update(der).digest('hex'), file);
    }
  });

  it('MD5 and SHA-1 signatures are still raised to SHA-256 (RFC 5929 §4.1)', () => {
    const sha1 = readFixture('tls-server-end-point/rsa-sha1.der');
    assert.equal(toHex(tlsServerEndPointHash(sha1)), createHash('sha256').update(sha1).digest('hex'));
    // md5WithRSAEncryption (1.2.840.113549.1.1.4) in place of the outer sha256WithRSAEncryption OID.
    const md5 = withOuterSignatureOid(readFixture('tls-server-end-point/rsa-sha256.der'), '04');
    assert.equal(toHex(tlsServerEndPointHash(md5)), createHash('sha256').update(md5).digest('hex'));
  });

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

// Channel binding data of type tls-server-end-point (RFC 5929 §4.1), used by SCRAM-SHA-256-PLUS
// (PG docs §55.3.2 "SASL Authentication"): the server certificate hashed with its signature's hash (MD5 and SHA-1 raised to SHA-256).

import { createHash } from 'node:crypto';
import { AuthenticationError } from '../errors.js';

const SEQUENCE = 0x30;
const OBJECT_IDENTIFIER = 0x06;

/**
 * Signature algorithm OID → hash for the binding. RFC 5929 §4.1 raises only MD5 and SHA-1 to SHA-256; every
 * other hash (SHA-224 included) is used as is, as PostgreSQL's backend does (EVP_get_digestbynid).
 */
const HASH_BY_SIGNATURE_OID: ReadonlyMap<string, 'sha224' | 'sha256' | 'sha384' | 'sha512'> = new Map([
  ['1.2.840.113549.1.1.4', 'sha256'], // md5WithRSAEncryption
  ['1.2.840.113549.1.1.5', 'sha256'], // sha1WithRSAEncryption
  ['1.2.840.113549.1.1.14', 'sha224'], // sha224WithRSAEncryption
  ['1.2.840.113549.1.1.11', 'sha256'], // sha256WithRSAEncryption
  ['1.2.840.113549.1.1.12', 'sha384'], // sha384WithRSAEncryption
  ['1.2.840.113549.1.1.13', 'sha512'], // sha512WithRSAEncryption
  ['1.2.840.10045.4.1', 'sha256'], // ecdsa-with-SHA1
  ['1.2.840.10045.4.3.1', 'sha224'], // ecdsa-with-SHA224
  ['1.2.840.10045.4.3.2', 'sha256'], // ecdsa-with-SHA256
  ['1.2.840.10045.4.3.3', 'sha384'], // ecdsa-with-SHA384
  ['1.2.840.10045.4.3.4', 'sha512'], // ecdsa-with-SHA512
  ['1.2.840.10040.4.3', 'sha256'], // dsa-with-sha1
  ['2.16.840.1.101.3.4.3.1', 'sha224'], // dsa-with-sha224
  ['2.16.840.1.101.3.4.3.2', 'sha256'], // dsa-with-sha256
]);

/** Signatures without a single hash for the binding (RFC 5929 defines none; libpq refuses them too), named in errors. */
const UNHASHED_SIGNATURE_NAMES: ReadonlyMap<string, string> = new Map([
  ['1.3.101.112', 'Ed25519'],
  ['1.3.101.113', 'Ed448'],
  ['1.2.840.113549.1.1.10', 'RSA-PSS'],
]);

function bindingError(reason: string): AuthenticationError {
  return new AuthenticationError(
    'PGNUDGE_ERR_CHANNEL_BINDING',
    `channel binding is impossible: pgnudge cannot determine the certificate's hash algorithm (${reason}). ` +
      'Use a server certificate signed with RSA or ECDSA and a SHA-2 hash (sha256WithRSAEncryption, ' +
      "ecdsa-with-SHA256, ...), or set channelBinding: 'disable' (channel_binding=disable) to connect without it.",
  );
}

/** A minimal DER cursor: tag, length and value of one TLV, bounds-checked. */
class DerReader {
  readonly #der: Uint8Array;
  #at: number;
  readonly #end: number;

  constructor(der: Uint8Array, start = 0, end = der.byteLength) {
    this.#der = der;
    this.#at = start;
    this.#end = end;
  }

  /** Reads one TLV and returns the bounds of its value. */
  read(expectedTag?: number): { tag: number; start: number; end: number } {
    const tag = this.#byte();
    if ((tag & 0x1f) === 0x1f) {
      throw bindingError('unsupported high-tag-number DER encoding');
    }
    if (expectedTag !== undefined && tag !== expectedTag) {
      throw bindingError(`expected DER tag 0x${expectedTag.toString(16)}, got 0x${tag.toString(16)}`);
    }
    let length = this.#byte();
    if (length & 0x80) {
      const octets = length & 0x7f;
      // 0x80 is BER's indefinite length, not allowed in DER; 4 octets already cover any certificate.
      if (octets === 0 || octets > 4) {
        throw bindingError('invalid DER length');
      }
      length = 0;
      for (let i = 0; i < octets; i++) {
        length = length * 256 + this.#byte();
      }
    }
    const start = this.#at;
    if (length > this.#end - start) {
      throw bindingError('truncated certificate');
    }
    this.#at = start + length;
    return { tag, start, end: start + length };
  }

  #byte(): number {
    if (this.#at >= this.#end) {
      throw bindingError('truncated certificate');
    }
    return this.#der[this.#at++]!;
  }
}

function decodeOid(bytes: Uint8Array): string {
  if (bytes.byteLength === 0 || bytes.byteLength > 64) {
    throw bindingError('invalid signature algorithm OID');
  }
  const arcs: number[] = [];
  let value = 0;
  for (const byte of bytes) {
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) {
      arcs.push(value);
      value = 0;
    }
  }
  if ((bytes[bytes.byteLength - 1]! & 0x80) !== 0) {
    throw bindingError('invalid signature algorithm OID');
  }
  const first = arcs.shift()!;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...arcs].join('.');
}

/**
 * Returns the tls-server-end-point binding data for a DER certificate: its hash with SHA-256 when it is
 * signed with MD5 or SHA-1, else with the signature's own hash (SHA-224, SHA-256, SHA-384, SHA-512).
 * Throws AuthenticationError PGNUDGE_ERR_CHANNEL_BINDING when the hash cannot be determined (Ed25519,
 * Ed448, RSA-PSS, unknown OIDs, malformed DER), like libpq.
 */
export function tlsServerEndPointHash(certificateDer: Uint8Array): Uint8Array {
  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm AlgorithmIdentifier, signatureValue }
  const outer = new DerReader(certificateDer).read(SEQUENCE);
  if (outer.end !== certificateDer.byteLength) {
    throw bindingError('trailing bytes after the certificate');
  }
  const certificate = new DerReader(certificateDer, outer.start, outer.end);
  certificate.read(SEQUENCE);
  const algorithm = certificate.read(SEQUENCE);
  const oid = new DerReader(certificateDer, algorithm.start, algorithm.end).read(OBJECT_IDENTIFIER);
  const dotted = decodeOid(certificateDer.subarray(oid.start, oid.end));
  const hash = HASH_BY_SIGNATURE_OID.get(dotted);
  if (hash === undefined) {
    const name = UNHASHED_SIGNATURE_NAMES.get(dotted);
    throw bindingError(`unsupported signature algorithm ${dotted}${name === undefined ? '' : ` (${name})`}`);
  }
  return new Uint8Array(createHash(hash).update(certificateDer).digest());
}

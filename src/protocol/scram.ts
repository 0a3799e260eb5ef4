// SCRAM-SHA-256 and SCRAM-SHA-256-PLUS client (RFC 5802, RFC 7677) as PostgreSQL speaks them
// (PG docs §55.3.2 "SASL Authentication", §55.3.3 "SCRAM-SHA-256 Authentication"), plus libpq's mechanism choice.

import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AuthenticationError } from '../errors.js';
import { saslprep } from './saslprep.js';

export { tlsServerEndPointHash } from './tls-server-end-point.js';

/** The SASL mechanisms pgnudge implements. */
export type ScramMechanism = 'SCRAM-SHA-256' | 'SCRAM-SHA-256-PLUS';

/**
 * Default cap on the server's iteration count. PostgreSQL's default `scram_iterations` is 4096; a million
 * (about a quarter of a second of PBKDF2 on one core) leaves room for hardened servers while a hostile
 * server cannot occupy a thread for minutes. libpq has no cap: it takes any count from 1 to INT_MAX.
 */
export const DEFAULT_MAX_SCRAM_ITERATIONS = 1_000_000;

/**
 * The key derivation SCRAM needs before it can answer server-first: PBKDF2-HMAC-SHA-256 of the SASLprep'd
 * password (RFC 5802 "SaltedPassword"). The caller runs it (asynchronously: it can take a quarter of a
 * second) and hands the key to {@link ScramClient.clientFinal}. Holds the password: never log it.
 */
export interface ScramKeyRequest {
  readonly password: string;
  readonly salt: Uint8Array;
  readonly iterations: number;
  readonly keyLength: 32;
  readonly digest: 'sha256';
}

/** Options for {@link ScramClient}. */
export interface ScramClientOptions {
  password: string;
  mechanism: ScramMechanism;
  /** Required with SCRAM-SHA-256-PLUS. */
  channelBinding?: { type: 'tls-server-end-point'; data: Uint8Array };
  /**
   * With SCRAM-SHA-256: the client could bind (TLS is in use) but the server did not offer PLUS, so the
   * gs2 header is `y,,`, which lets the server detect a stripped PLUS offer.
   */
  clientSupportsBinding?: boolean;
  /** Client nonce; injected by tests. Default: 18 random bytes in base64, like libpq. */
  nonce?: string;
  /** Largest iteration count accepted from the server. Default {@link DEFAULT_MAX_SCRAM_ITERATIONS}. */
  maxIterations?: number;
  /** SCRAM user name. PostgreSQL ignores it and uses the startup user, so libpq sends it empty (the default). */
  username?: string;
}

const PRINTABLE_NONCE = /^[\x21-\x2b\x2d-\x7e]+$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DECIMAL = /^[0-9]{1,10}$/;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

function scramError(message: string): AuthenticationError {
  return new AuthenticationError('PGNUDGE_ERR_AUTH_SCRAM', `SCRAM authentication failed: ${message}`);
}

function hmac(key: Uint8Array, data: string | Uint8Array): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

/** Splits `a=1,b=2` into ordered attributes, rejecting anything that is not `letter=value`. */
function parseAttributes(text: string, what: string): [string, string][] {
  return text.split(',').map((part) => {
    if (part.length < 2 || part[1] !== '=' || !/^[A-Za-z]$/.test(part[0]!)) {
      throw scramError(`malformed ${what} attribute ${JSON.stringify(part.slice(0, 20))}`);
    }
    return [part[0]!, part.slice(2)];
  });
}

type State = 'initial' | 'first-sent' | 'deriving' | 'final-sent' | 'done' | 'failed';

/**
 * One SCRAM exchange: `clientFirstMessage()` → `receiveServerFirst()` (returns the key derivation to run)
 * → `clientFinal(saltedPassword)` (returns client-final) → `receiveServerFinal()`. Calls out of order, and
 * every failed check, throw AuthenticationError PGNUDGE_ERR_AUTH_SCRAM; the client cannot be used after a
 * failure.
 */
export class ScramClient {
  readonly #password: string;
  readonly #mechanism: ScramMechanism;
  readonly #gs2Header: string;
  readonly #bindingData: Uint8Array;
  readonly #nonce: string;
  readonly #maxIterations: number;
  readonly #clientFirstBare: string;
  #state: State = 'initial';
  #expectedServerSignature: Buffer | undefined;
  /** Set by receiveServerFirst for clientFinal. */
  #authMessage = '';
  #clientFinalWithoutProof = '';

  constructor(options: ScramClientOptions) {
    this.#password = options.password;
    this.#mechanism = options.mechanism;
    const maxIterations = options.maxIterations ?? DEFAULT_MAX_SCRAM_ITERATIONS;
    if (!Number.isSafeInteger(maxIterations) || maxIterations < 1) {
      throw new RangeError(`maxIterations must be a positive integer, got ${maxIterations}`);
    }
    this.#maxIterations = maxIterations;
    if (options.mechanism === 'SCRAM-SHA-256-PLUS') {
      if (options.channelBinding === undefined) {
        throw new RangeError('SCRAM-SHA-256-PLUS needs channelBinding data');
      }
      this.#gs2Header = `p=${options.channelBinding.type},,`;
      this.#bindingData = options.channelBinding.data;
    } else {
      this.#gs2Header = options.clientSupportsBinding === true ? 'y,,' : 'n,,';
      this.#bindingData = new Uint8Array(0);
    }
    this.#nonce = options.nonce ?? randomBytes(18).toString('base64');
    if (!PRINTABLE_NONCE.test(this.#nonce)) {
      throw new RangeError('the SCRAM nonce must be printable ASCII without commas');
    }
    const username = (options.username ?? '').replaceAll('=', '=3D').replaceAll(',', '=2C');
    this.#clientFirstBare = `n=${username},r=${this.#nonce}`;
  }

  /** The mechanism this client runs, for SASLInitialResponse. */
  get mechanism(): ScramMechanism {
    return this.#mechanism;
  }

  /** The client-first message (gs2 header + `n=,r=<nonce>`). */
  clientFirstMessage(): Uint8Array {
    this.#expect('initial', 'clientFirstMessage');
    this.#state = 'first-sent';
    return encoder.encode(this.#gs2Header + this.#clientFirstBare);
  }

  /**
   * Checks server-first and returns the key derivation it asks for. Refuses an iteration count above the
   * cap before any work is done.
   */
  receiveServerFirst(data: Uint8Array): ScramKeyRequest {
    this.#expect('first-sent', 'receiveServerFirst');
    this.#state = 'failed';
    const serverFirst = decoder.decode(data);
    const attributes = parseAttributes(serverFirst, 'server-first');
    if (attributes[0]?.[0] === 'm') {
      throw scramError('the server requires an unsupported SCRAM extension');
    }
    const [nonceAttr, saltAttr, iterationsAttr] = attributes;
    if (nonceAttr?.[0] !== 'r' || saltAttr?.[0] !== 's' || iterationsAttr?.[0] !== 'i') {
      throw scramError('server-first must start with r=, s= and i=');
    }
    const serverNonce = nonceAttr[1];
    if (!serverNonce.startsWith(this.#nonce) || serverNonce.length <= this.#nonce.length) {
      throw scramError(
        'the server nonce does not extend the client nonce (possible replay or misbehaving server)',
      );
    }
    if (!PRINTABLE_NONCE.test(serverNonce)) {
      throw scramError('the server nonce contains invalid characters');
    }
    const saltText = saltAttr[1];
    if (saltText === '' || !BASE64.test(saltText)) {
      throw scramError('the salt is missing or not valid base64');
    }
    // Checked as text first so that a count in the billions is refused before any PBKDF2 work.
    const iterationsText = iterationsAttr[1];
    const iterations = DECIMAL.test(iterationsText) ? Number(iterationsText) : Number.NaN;
    if (!(iterations >= 1 && iterations <= this.#maxIterations)) {
      throw scramError(
        `the iteration count ${JSON.stringify(iterationsText.slice(0, 20))} is not an integer in [1, ${this.#maxIterations}]` +
          (iterations > this.#maxIterations
            ? ` (PostgreSQL's default scram_iterations is 4096; pgnudge refuses more than ${this.#maxIterations}, so that a server cannot make every connection attempt compute for seconds)`
            : ''),
      );
    }
    const gs2 = Buffer.concat([Buffer.from(this.#gs2Header, 'utf8'), this.#bindingData]);
    this.#clientFinalWithoutProof = `c=${gs2.toString('base64')},r=${serverNonce}`;
    this.#authMessage = `${this.#clientFirstBare},${serverFirst},${this.#clientFinalWithoutProof}`;
    this.#state = 'deriving';
    return {
      password: saslprep(this.#password),
      salt: Buffer.from(saltText, 'base64'),
      iterations,
      keyLength: 32,
      digest: 'sha256',
    };
  }

  /** Takes the derived key (SaltedPassword) and returns client-final, with the proof. */
  clientFinal(saltedPassword: Uint8Array): Uint8Array {
    this.#expect('deriving', 'clientFinal');
    this.#state = 'failed';
    if (saltedPassword.byteLength !== 32) {
      throw scramError(`the derived key has ${saltedPassword.byteLength} bytes, not 32`);
    }
    const clientKey = hmac(saltedPassword, 'Client Key');
    const storedKey = createHash('sha256').update(clientKey).digest();
    const clientSignature = hmac(storedKey, this.#authMessage);
    const proof = Buffer.alloc(clientKey.byteLength);
    for (let i = 0; i < proof.byteLength; i++) {
      proof[i] = clientKey[i]! ^ clientSignature[i]!;
    }
    this.#expectedServerSignature = hmac(hmac(saltedPassword, 'Server Key'), this.#authMessage);
    this.#state = 'final-sent';
    return encoder.encode(`${this.#clientFinalWithoutProof},p=${proof.toString('base64')}`);
  }

  /** Checks server-final: an `e=` error, or a server signature that must match ours. */
  receiveServerFinal(data: Uint8Array): void {
    this.#expect('final-sent', 'receiveServerFinal');
    this.#state = 'failed';
    const attributes = parseAttributes(decoder.decode(data), 'server-final');
    const [name, value] = attributes[0]!;
    if (name === 'e') {
      throw scramError(`the server reported ${JSON.stringify(value)}`);
    }
    if (name !== 'v' || value === '' || !BASE64.test(value)) {
      throw scramError('server-final has no valid server signature');
    }
    const signature = Buffer.from(value, 'base64');
    const expected = this.#expectedServerSignature!;
    // The server proves it knows the password; a mismatch means we may be talking to an impostor.
    if (signature.byteLength !== expected.byteLength || !timingSafeEqual(signature, expected)) {
      throw scramError('the server signature does not match (the server does not know the password)');
    }
    this.#state = 'done';
  }

  #expect(state: State, method: string): void {
    if (this.#state !== state) {
      throw scramError(`${method}() called out of order (state ${this.#state})`);
    }
  }
}

/** What {@link chooseSaslMechanism} picked. */
export interface SaslChoice {
  mechanism: ScramMechanism;
  useBinding: boolean;
}

/**
 * Picks the SASL mechanism as libpq does: SCRAM-SHA-256-PLUS when offered and channel binding is not
 * disabled; else SCRAM-SHA-256. A PLUS offer without binding data fails closed (PGNUDGE_ERR_CHANNEL_BINDING)
 * with `prefer` as with `require`, and `require` also fails without a PLUS offer; no known mechanism is
 * PGNUDGE_ERR_AUTH_UNSUPPORTED.
 */
export function chooseSaslMechanism(
  offered: readonly string[],
  options: { channelBinding: 'disable' | 'prefer' | 'require'; bindingData: Uint8Array | null },
): SaslChoice {
  const plus = offered.includes('SCRAM-SHA-256-PLUS');
  if (options.channelBinding === 'require') {
    if (!plus) {
      throw new AuthenticationError(
        'PGNUDGE_ERR_CHANNEL_BINDING',
        'channel binding is required, but the server did not offer SCRAM-SHA-256-PLUS. ' +
          'Connect over TLS to a server that supports it (PostgreSQL 11+ with OpenSSL), or relax channel_binding.',
      );
    }
    if (options.bindingData === null) {
      throw new AuthenticationError(
        'PGNUDGE_ERR_CHANNEL_BINDING',
        'channel binding is required, but no TLS server certificate is available to bind to. ' +
          'Use sslmode=require or stricter, or relax channel_binding.',
      );
    }
    return { mechanism: 'SCRAM-SHA-256-PLUS', useBinding: true };
  }
  if (plus && options.channelBinding === 'prefer') {
    // libpq takes a PLUS offer whenever binding is not disabled. Without binding data, plain SCRAM would be
    // a downgrade a man in the middle could force, so `prefer` fails closed here too.
    if (options.bindingData === null) {
      throw new AuthenticationError(
        'PGNUDGE_ERR_CHANNEL_BINDING',
        'the server offered SCRAM-SHA-256-PLUS, but there is no channel binding data for its certificate; ' +
          'pgnudge does not fall back to unbound SCRAM. Use a server certificate signed with RSA or ECDSA and a ' +
          "SHA-2 hash, or set channelBinding: 'disable' (channel_binding=disable).",
      );
    }
    return { mechanism: 'SCRAM-SHA-256-PLUS', useBinding: true };
  }
  if (offered.includes('SCRAM-SHA-256')) {
    return { mechanism: 'SCRAM-SHA-256', useBinding: false };
  }
  throw new AuthenticationError(
    'PGNUDGE_ERR_AUTH_UNSUPPORTED',
    `the server offered SASL mechanisms ${JSON.stringify(offered)}, none of which pgnudge supports ` +
      '(SCRAM-SHA-256, SCRAM-SHA-256-PLUS). Set the role password with password_encryption = scram-sha-256.',
  );
}

// The fan-out's shared secret (contract R29): checking it, and the per-channel keys derived from it that
// sign wire messages and name the bridge election's slot. Pure apart from node:crypto.
import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../errors.js';

/**
 * The shortest secret accepted. Every listener sees signed messages, so a guessable secret can be
 * searched offline; 16 bytes keeps a careless one from being trivially short (docs/fanout.md asks for
 * 32 random bytes, e.g. `openssl rand -base64 32`).
 */
export const MIN_SECRET_BYTES = 16;

/** The longest secret accepted: a secret is a key, not a document. */
export const MAX_SECRET_BYTES = 4096;

/** Characters of a message's MAC: HMAC-SHA-256 (32 bytes) as unpadded base64url. */
export const MAC_LENGTH = 43;

// HKDF (RFC 5869) separates the uses of one secret: the salt names the protocol, the info names the use
// and the channel (after a NUL, which neither a label nor a channel name can hold), so a key for one
// channel or one use is worthless for another.
const SALT = 'pgnudge fan-out';
const MAC_INFO = 'wire v2 mac';
const ELECTION_INFO = 'bridge election';

const encoder = new TextEncoder();

/**
 * Checks a shared secret from `source` (an option or variable name, used in the message and as the
 * error's `option`): a string or bytes of 16 to 4096 bytes (a string counts in UTF-8). Returns its
 * bytes. The message never contains the secret.
 */
export function checkSecret(secret: unknown, source = 'secret'): Uint8Array {
  let bytes: Uint8Array;
  if (typeof secret === 'string') bytes = encoder.encode(secret);
  else if (secret instanceof Uint8Array) bytes = secret;
  else {
    throw new ConfigError(
      `${source} must be a string or a Uint8Array; got ${secret === null ? 'null' : typeof secret}`,
      source,
    );
  }
  if (bytes.byteLength < MIN_SECRET_BYTES || bytes.byteLength > MAX_SECRET_BYTES) {
    throw new ConfigError(
      `${source} must be ${MIN_SECRET_BYTES} to ${MAX_SECRET_BYTES} bytes; it is ${bytes.byteLength}. ` +
        'Generate one with: openssl rand -base64 32',
      source,
    );
  }
  return bytes;
}

/**
 * The keys one channel's bridges and listeners share. Holds no secret in a readable property: it
 * prints and serialises as `[ChannelKey]`.
 */
export class ChannelKey {
  /** The channel the keys belong to. */
  readonly channel: string;
  readonly #mac: Buffer;
  readonly #election: Buffer;

  private constructor(channel: string, mac: Buffer, election: Buffer) {
    this.channel = channel;
    this.#mac = mac;
    this.#election = election;
  }

  /** Derives the channel's keys from the shared secret (checked by {@link checkSecret}). */
  static derive(secret: string | Uint8Array, channel: string): ChannelKey {
    const ikm = checkSecret(secret);
    const key = (use: string) =>
      Buffer.from(hkdfSync('sha256', ikm, SALT, encoder.encode(`${use}\0${channel}`), 32));
    return new ChannelKey(channel, key(MAC_INFO), key(ELECTION_INFO));
  }

  /** The MAC of `body` (over its UTF-8 bytes): 43 base64url characters. */
  sign(body: string): string {
    return createHmac('sha256', this.#mac).update(body, 'utf8').digest('base64url');
  }

  /**
   * Whether `mac` is exactly the MAC {@link sign} gives for `body`, compared in constant time. The text
   * is compared, not the decoded bytes: base64url has several spellings of the same last bits, and a
   * lenient decoder skips characters it does not know, so only the canonical spelling is accepted.
   */
  verify(body: string, mac: string): boolean {
    const given = Buffer.from(mac, 'utf8');
    if (given.length !== MAC_LENGTH) return false;
    return timingSafeEqual(Buffer.from(this.sign(body), 'latin1'), given);
  }

  /**
   * 32 lowercase hex digits naming this channel's election in `database` (slot names are per cluster,
   * channels per database). Unguessable without the secret.
   */
  electionTag(database: string): string {
    return createHmac('sha256', this.#election).update(database, 'utf8').digest('hex').slice(0, 32);
  }

  /** Never the keys. */
  toJSON(): string {
    return '[ChannelKey]';
  }

  /** Never the keys (util.inspect, console.log). */
  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[ChannelKey]';
  }
}

/**
 * The key a bridge or listener of `channel` uses, from its `secret` and `insecure` options; `owner`
 * (`NotifyBridge`, `NotifyFeed`) names it in messages. Null means insecure: messages go unsigned and
 * are believed unchecked. Throws ConfigError when neither or both are given, or either is bad.
 */
export function resolveChannelKey(
  options: { secret?: unknown; insecure?: unknown },
  channel: string,
  owner: string,
): ChannelKey | null {
  const { secret, insecure } = options;
  if (insecure !== undefined && typeof insecure !== 'boolean') {
    throw new ConfigError(`insecure must be true or false; got ${typeof insecure}`, 'insecure');
  }
  if (secret !== undefined && insecure === true) {
    throw new ConfigError(
      `${owner} was given both a secret and insecure: true; give the secret only (insecure turns authentication off)`,
      'insecure',
    );
  }
  if (secret === undefined) {
    if (insecure === true) return null;
    throw new ConfigError(
      `${owner} needs the secret its bridges and listeners share (option secret; pgnudge reads PGNUDGE_SECRET or --secret-file): ` +
        'without one, any role that can connect to the database can forge, replay and silence fan-out messages. ' +
        'Set insecure: true (--insecure) to accept that; see docs/fanout.md',
      'secret',
    );
  }
  checkSecret(secret);
  return ChannelKey.derive(secret as string | Uint8Array, channel);
}

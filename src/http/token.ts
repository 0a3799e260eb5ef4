// The bearer token of `pgnudge serve`: what a valid one looks like, where a request presents it, and a
// comparison in constant time. Pure (node:crypto only).
import { createHash, timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../errors.js';

/** Fewer characters than this is too easy to guess for a token that guards a network port. */
export const MIN_TOKEN_LENGTH = 16;

/**
 * Checks a token read from `source` (named in the error): at least 16 characters, all visible ASCII, since
 * it travels in an `Authorization` header and a URL. The error never shows the token.
 */
export function validateToken(token: string, source: string): string {
  if (token.length < MIN_TOKEN_LENGTH) {
    throw new ConfigError(
      `the token from ${source} has ${token.length} characters; use at least ${MIN_TOKEN_LENGTH} (e.g. openssl rand -hex 32)`,
      source,
    );
  }
  if (!/^[\x21-\x7e]+$/.test(token)) {
    throw new ConfigError(
      `the token from ${source} holds a space, a control or a non-ASCII character; use visible ASCII only (e.g. openssl rand -hex 32)`,
      source,
    );
  }
  return token;
}

/** The token a request presents: `Authorization: Bearer <token>`, else the `token` query parameter. */
export function presentedToken(
  authorization: string | undefined,
  query: URLSearchParams,
): string | undefined {
  if (authorization !== undefined) {
    // The scheme is case-insensitive (RFC 9110 §11.1); the token is the rest after one run of spaces.
    const match = /^bearer +(\S+) *$/i.exec(authorization);
    return match?.[1];
  }
  return query.get('token') ?? undefined;
}

/**
 * Compares presented tokens with the expected one in time that does not depend on where they differ, or
 * on their lengths: both sides are hashed to 32 bytes first, and the digests compared with timingSafeEqual.
 */
export class TokenCheck {
  readonly #digest: Buffer;

  constructor(token: string) {
    this.#digest = digest(token);
  }

  /** Whether `presented` is the token; undefined (none presented) never is. */
  matches(presented: string | undefined): boolean {
    // Hash even when nothing was presented, so a missing token costs what a wrong one does.
    const equal = timingSafeEqual(digest(presented ?? ''), this.#digest);
    return presented !== undefined && equal;
  }
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

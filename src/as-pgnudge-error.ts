// Where a foreign exception becomes a PgnudgeError, for every layer that ends something with one (a
// connection, a session, a feed): beside errors.ts, so that the transport and the feed file a bug alike.
// Not in errors.ts, whose every export is public API.
import { InternalError, PgnudgeError } from './errors.js';

/**
 * `error` as a PgnudgeError: itself, or, for an exception of any other kind, an InternalError (a bug
 * in pgnudge) that keeps it as `cause` and its stack in the message, so a report can be filed as is.
 */
export function asPgnudgeError(error: unknown): PgnudgeError {
  if (error instanceof PgnudgeError) return error;
  return new InternalError(`internal error, please report it: ${(error as Error)?.stack ?? String(error)}`, {
    cause: error,
  });
}

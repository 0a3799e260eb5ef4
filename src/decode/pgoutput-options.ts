// The options pgnudge starts pgoutput with (START_REPLICATION ... LOGICAL ... (<options>)), chosen
// from the server's version: the highest protocol version it speaks, streaming of large in-progress
// transactions, never two_phase, never logical messages. Pure: the caller supplies server_version_num.

import { ConfigError } from '../errors.js';

/** pgoutput protocol versions: 2 adds streaming (PG14), 3 two-phase (PG15), 4 parallel streaming (PG16). */
export type PgoutputProtocolVersion = 1 | 2 | 3 | 4;

/**
 * How large in-progress transactions reach the client. `on`: in blocks while they run, committed or
 * aborted at the end, so the server spills less to disk. `parallel` (PG16+): the same, and a Stream
 * Abort also carries the abort's LSN and time. `off`: only after commit, whole.
 */
export type PgoutputStreaming = 'off' | 'on' | 'parallel';

/** What the caller chooses; the rest follows from the server version. */
export interface PgoutputChoices {
  /** Values in binary (each type's send function) instead of text. Default false. */
  binary?: boolean;
  /** Default `on`. */
  streaming?: PgoutputStreaming;
}

/** The resolved options of one pgoutput session. */
export interface PgoutputOptions {
  readonly protoVersion: PgoutputProtocolVersion;
  /** The publication's name exactly as in `pg_publication.pubname` (unquoted). */
  readonly publication: string;
  readonly binary: boolean;
  readonly streaming: PgoutputStreaming;
}

// NAMEDATALEN - 1: the server truncates a longer name, which could then name another publication.
const MAX_NAME_BYTES = 63;
const MIN_SERVER_VERSION = 150_000;
const encoder = new TextEncoder();

/**
 * The options for `publication` on a server whose `server_version_num` is `serverVersionNum`:
 * protocol 3 on PostgreSQL 15, 4 on 16 and later. Throws ConfigError (option `publication`) for a
 * name the server cannot hold, a server older than 15, or `parallel` streaming before 16.
 */
export function resolvePgoutputOptions(
  serverVersionNum: number,
  publication: string,
  choices: PgoutputChoices = {},
): PgoutputOptions {
  checkPublication(publication);
  if (!Number.isSafeInteger(serverVersionNum) || serverVersionNum < MIN_SERVER_VERSION) {
    throw new ConfigError(
      `a publication needs PostgreSQL 15 or later; the server reports server_version_num ${serverVersionNum}`,
      'publication',
    );
  }
  const protoVersion: PgoutputProtocolVersion = serverVersionNum >= 160_000 ? 4 : 3;
  const streaming = choices.streaming ?? 'on';
  if (streaming !== 'off' && streaming !== 'on' && streaming !== 'parallel') {
    throw new ConfigError(
      `streaming must be 'off', 'on' or 'parallel', got ${String(streaming)}`,
      'publication',
    );
  }
  if (streaming === 'parallel' && protoVersion < 4) {
    throw new ConfigError(
      'parallel streaming needs PostgreSQL 16 or later (pgoutput protocol 4)',
      'publication',
    );
  }
  return { protoVersion, publication, binary: choices.binary === true, streaming };
}

/**
 * The option list, as (name, value) pairs before any quoting. `publication_names` is a list of SQL
 * identifiers that the server splits and case-folds, so the one name is double-quoted there: a name
 * with capitals, commas or quotes stays one exact name.
 */
export function pgoutputOptionPairs(options: PgoutputOptions): [string, string][] {
  checkPublication(options.publication);
  const pairs: [string, string][] = [
    ['proto_version', String(options.protoVersion)],
    ['publication_names', `"${options.publication.replaceAll('"', '""')}"`],
  ];
  if (options.binary) pairs.push(['binary', 'true']);
  if (options.streaming !== 'off') pairs.push(['streaming', options.streaming]);
  // Messages are off by default; saying so keeps a server-side default change from adding traffic.
  pairs.push(['messages', 'false']);
  return pairs;
}

/**
 * Checks that `name` can be a publication's name: a non-empty string of valid Unicode without NUL, at most
 * 63 bytes in UTF-8 (a longer one the server would truncate, which could name another publication).
 * Throws ConfigError (option `publication`) naming the rule.
 */
export function checkPublication(name: string): void {
  const problem =
    typeof name !== 'string' || name.length === 0
      ? 'it is empty'
      : name.includes('\0')
        ? 'names cannot contain NUL'
        : /\p{Cs}/u.test(name)
          ? 'names must be valid Unicode (a lone surrogate was found)'
          : encoder.encode(name).length > MAX_NAME_BYTES
            ? `it is longer than PostgreSQL's ${MAX_NAME_BYTES}-byte limit`
            : undefined;
  if (problem !== undefined) {
    throw new ConfigError(`invalid publication name ${JSON.stringify(name)}: ${problem}`, 'publication');
  }
}

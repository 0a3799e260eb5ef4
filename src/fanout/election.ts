// Electing the active bridge of a channel (contract R29) with something only a REPLICATION role can hold: a
// TEMPORARY PHYSICAL replication slot with a fixed name per channel and database. Creating it needs the
// REPLICATION attribute; the name is unique in the cluster, so one session holds it; it dies with that
// session (zero footprint), and without RESERVE_WAL it retains no WAL. docs/fanout.md has the design and
// why it is not the feed's own logical slot. Pure: the names, the command, and what an error means.
import { createHash } from 'node:crypto';
import { ServerError } from '../errors.js';
import type { ChannelKey } from './auth.js';

/** Every election slot's name starts with this; `pgnudge_` alone marks a feed's own slot. */
export const ELECTION_SLOT_PREFIX = 'pgnudge_bridge_';

/** PostgreSQL's NAMEDATALEN − 1; slot names are `[a-z0-9_]` only (slot.c, ReplicationSlotValidateName). */
export const MAX_SLOT_NAME_BYTES = 63;

const SLOT_NAME = /^[a-z0-9_]{1,63}$/;

/** SQLSTATE 42710 duplicate_object: "replication slot ... already exists". */
const ALREADY_EXISTS = '42710';

/**
 * The election slot's name for `channel` in `database` (the connected database's exact name: slot
 * names are unique per cluster, NOTIFY channels per database). With a key, 128 bits of HMAC under the
 * secret: bridges with another secret hold another election (their listeners would drop each other's
 * messages anyway), and a role without the secret cannot tell which slot is the election. Insecure
 * bridges use a SHA-256 of the same facts, which anyone can compute. Always 47 characters.
 */
export function electionSlotName(options: {
  channel: string;
  database: string;
  key: ChannelKey | null;
}): string {
  const { channel, database, key } = options;
  const tag =
    key === null
      ? createHash('sha256')
          .update(`pgnudge bridge election\0${database}\0${channel}`, 'utf8')
          .digest('hex')
          .slice(0, 32)
      : key.electionTag(database);
  return checkSlotName(`${ELECTION_SLOT_PREFIX}${tag}`);
}

/**
 * `CREATE_REPLICATION_SLOT <name> TEMPORARY PHYSICAL`, for a `replication=database` connection. Not
 * LOGICAL: a logical slot waits for every transaction in progress to end before it exists, and any
 * LOGIN role can keep one open; a physical slot without RESERVE_WAL is created at once and holds nothing.
 */
export function formatCreateElectionSlot(name: string): string {
  return `CREATE_REPLICATION_SLOT ${checkSlotName(name)} TEMPORARY PHYSICAL`;
}

/** What a failed election attempt means. */
export type ElectionFailure =
  /** Another session holds the slot: stay standby and try again after the poll interval. */
  | 'taken'
  /** Anything else: handle as any error of the connection (retry if retryable, else contract R11 fatal). */
  | 'error';

/**
 * Classifies the error of {@link formatCreateElectionSlot}'s command. Only "already exists" means
 * another bridge is active; a missing REPLICATION attribute, `max_replication_slots` exhausted or a
 * lost link are errors (classified as every server error is, contract R11).
 */
export function classifyElectionError(error: unknown): ElectionFailure {
  return error instanceof ServerError && error.sqlState === ALREADY_EXISTS ? 'taken' : 'error';
}

function checkSlotName(name: string): string {
  if (!SLOT_NAME.test(name)) {
    throw new RangeError(`an election slot name must be 1 to ${MAX_SLOT_NAME_BYTES} of [a-z0-9_]`);
  }
  return name;
}

// The replication commands a feed sends (PostgreSQL "Streaming Replication Protocol"; contract R2, R18):
// every slot name is generated and validated, every option value is an escaped SQL string literal.

import type { AutoPluginName, PluginName } from '../decode/change.js';
import { type PgoutputOptions, pgoutputOptionPairs } from '../decode/pgoutput-options.js';
import { ConfigError } from '../errors.js';
import { quoteReplicationLiteral } from '../protocol/quote.js';
import { formatWal2jsonAddTables, type TableName } from './tables.js';

const SLOT_PREFIX = 'pgnudge_';
const SLOT_NAME = /^[a-z0-9_]{1,63}$/;
const MAX_SLOT_NAME = 63;
// 32 bits is the least randomness worth calling unique among concurrent feeds on one server.
const MIN_RANDOM_HEX = 8;

/**
 * A fresh slot name: `pgnudge_` followed by lowercase hex from `random`, which returns random bytes
 * (hex-encoded here) or a hex string. At most 63 characters, the server's limit; longer randomness is
 * cut. Throws RangeError when `random` gives fewer than 8 hex digits or a non-hex string.
 */
export function generateSlotName(random: () => Uint8Array | string): string {
  const value = random();
  let hex: string;
  if (typeof value === 'string') {
    hex = value.toLowerCase();
    if (!/^[0-9a-f]*$/.test(hex)) throw new RangeError('slot randomness must be a hex string');
  } else {
    hex = '';
    for (const byte of value) hex += byte.toString(16).padStart(2, '0');
  }
  if (hex.length < MIN_RANDOM_HEX) {
    throw new RangeError(`slot randomness must give at least ${MIN_RANDOM_HEX} hex digits`);
  }
  return SLOT_PREFIX + hex.slice(0, MAX_SLOT_NAME - SLOT_PREFIX.length);
}

/**
 * `CREATE_REPLICATION_SLOT <slot> TEMPORARY LOGICAL <plugin> (SNAPSHOT 'nothing')` (PostgreSQL 15+
 * syntax): the slot dies with the session (contract R12) and exports no snapshot, since nothing is replayed (contract R2).
 */
export function formatCreateSlot(slot: string, plugin: PluginName): string {
  return `CREATE_REPLICATION_SLOT ${checkSlot(slot)} TEMPORARY LOGICAL ${checkPlugin(plugin)} (SNAPSHOT 'nothing')`;
}

/** `DROP_REPLICATION_SLOT <slot>`: drops a slot before the session that holds it ends. */
export function formatDropSlot(slot: string): string {
  return `DROP_REPLICATION_SLOT ${checkSlot(slot)}`;
}

/**
 * `START_REPLICATION SLOT <slot> LOGICAL 0/0 (<options>)`. For wal2json: format version 2 without
 * BEGIN/COMMIT records or column types (less work for the walsender, less to send), plus
 * `add-tables` when `tables` is given, so unwatched tables are filtered on the server (contract R14).
 * For test_decoding: skip empty transactions, no xids; its filtering happens in the client, so
 * `tables` is ignored. `tables` must be null (every table) or non-empty.
 */
export function formatStartReplication(
  slot: string,
  plugin: AutoPluginName,
  tables: readonly TableName[] | null,
): string {
  if (tables !== null && tables.length === 0) {
    throw new ConfigError(
      'tables must name at least one table, or be left out to watch every table',
      'tables',
    );
  }
  if ((checkPlugin(plugin) as PluginName) === 'pgoutput') {
    throw new ConfigError('pgoutput is started with its own options: use formatStartPgoutput', 'plugin');
  }
  const options: [string, string][] =
    plugin === 'wal2json'
      ? [
          ['format-version', '2'],
          ['include-transaction', 'false'],
          ['include-types', 'false'],
        ]
      : [
          ['skip-empty-xacts', '1'],
          ['include-xids', '0'],
        ];
  if (plugin === 'wal2json' && tables !== null) options.push(['add-tables', formatWal2jsonAddTables(tables)]);
  return startCommand(slot, options, 'tables');
}

/**
 * `START_REPLICATION SLOT <slot> LOGICAL 0/0 (<pgoutput options>)` for a slot created with plugin
 * pgoutput: the options of pgoutput-options.ts (protocol version, the publication, streaming), each value
 * an escaped literal (contract R18). pgoutput filters by publication only; `tables` filters in the client.
 */
export function formatStartPgoutput(slot: string, options: PgoutputOptions): string {
  return startCommand(slot, pgoutputOptionPairs(options), 'publication');
}

/** START_REPLICATION with `options` as `"name" 'value'` pairs; `option` names what a bad value came from. */
function startCommand(slot: string, options: readonly [string, string][], option: string): string {
  const list = options
    .map(([name, value]) => `"${name}" ${quoteReplicationLiteral(value, option)}`)
    .join(', ');
  return `START_REPLICATION SLOT ${checkSlot(slot)} LOGICAL 0/0 (${list})`;
}

function checkSlot(slot: string): string {
  if (!SLOT_NAME.test(slot)) {
    throw new ConfigError(
      `invalid replication slot name ${JSON.stringify(slot)}: use 1 to 63 characters from a-z, 0-9 and _`,
      'slot',
    );
  }
  return slot;
}

function checkPlugin<P extends PluginName>(plugin: P): P {
  if (plugin !== 'wal2json' && plugin !== 'test_decoding' && plugin !== 'pgoutput') {
    throw new ConfigError(
      `unknown output plugin ${JSON.stringify(plugin)}: use wal2json, test_decoding or pgoutput`,
      'plugin',
    );
  }
  return plugin;
}

// How a RawFeed session starts (contract R27): what it asks the server before START_REPLICATION PHYSICAL,
// how it reads the answers, what server it refuses, and the command itself. Pure: queries are text and
// answers rows; raw-feed.ts runs them. The order of the start position, the watermark and the snapshot
// is explained in physical-stream.ts.

import { PAGE_MAGIC_BY_MAJOR, PAGE_SIZE } from '../decode/wal/constants.js';
import { ProtocolError, UnsupportedServerError } from '../errors.js';
import { formatLsn, type Lsn, parseLsn } from '../protocol/lsn.js';
import type { QueryResult } from '../protocol/query-response.js';
import { parseSnapshot } from './relation-names.js';

/** What IDENTIFY_SYSTEM says: the timeline and the position WAL is flushed to. */
export interface SystemIdentity {
  readonly systemId: string;
  readonly timeline: number;
  readonly flushLsn: Lsn;
}

/** Reads IDENTIFY_SYSTEM's one row (systemid, timeline, xlogpos, dbname). */
export function parseIdentifySystem(result: QueryResult | undefined): SystemIdentity {
  const row = result?.rows[0];
  const [systemId, timeline, xlogpos] = row ?? [];
  if (systemId == null || timeline == null || xlogpos == null || !/^\d+$/.test(timeline)) {
    throw new ProtocolError(`IDENTIFY_SYSTEM answered ${JSON.stringify(row ?? null)}`);
  }
  return { systemId, timeline: Number(timeline), flushLsn: parseLsn(xlogpos, 'IDENTIFY_SYSTEM xlogpos') };
}

/**
 * The server and database facts a session needs, in one row: the database's OID, block_size,
 * wal_block_size, server_version_num, the files of pg_class, pg_namespace and pg_inherits (as JSON
 * [name, tablespace, filenode] triples), wal_segment_size in bytes (pg_settings' unit), and whether the
 * server is a standby.
 */
export const SERVER_FACTS_QUERY = `SELECT d.oid,
    pg_catalog.current_setting('block_size'), pg_catalog.current_setting('wal_block_size'),
    pg_catalog.current_setting('server_version_num'),
    (SELECT pg_catalog.json_agg(pg_catalog.json_build_array(c.relname,
        (CASE WHEN c.reltablespace = 0 THEN d.dattablespace ELSE c.reltablespace END)::pg_catalog.int8,
        pg_catalog.pg_relation_filenode(c.oid)::pg_catalog.int8))
       FROM pg_catalog.pg_class c
      WHERE c.oid IN ('pg_catalog.pg_class'::pg_catalog.regclass,
                      'pg_catalog.pg_namespace'::pg_catalog.regclass,
                      'pg_catalog.pg_inherits'::pg_catalog.regclass)),
    (SELECT setting FROM pg_catalog.pg_settings WHERE name = 'wal_segment_size'),
    pg_catalog.pg_is_in_recovery()
  FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()`;

/** The answer to {@link SERVER_FACTS_QUERY}. */
export interface ServerFacts {
  readonly dbOid: number;
  readonly segmentSize: number;
  readonly blockSize: number;
  readonly walBlockSize: number;
  readonly versionNum: number;
  /** Whether the server is in recovery (a standby). */
  readonly standby: boolean;
  /** Where pg_class, pg_namespace and pg_inherits live now, by name. */
  readonly nameCatalogs: ReadonlyMap<string, { spcOid: number; relNumber: number }>;
}

/** Reads the one row of {@link SERVER_FACTS_QUERY}. */
export function parseServerFacts(result: QueryResult | undefined): ServerFacts {
  const row = result?.rows[0];
  if (row === undefined || row.length !== 7) {
    throw new ProtocolError('the server facts query returned no row');
  }
  const [oid, blockSize, walBlockSize, versionNum, catalogs, segmentBytes, recovery] = row;
  const number = (text: string | null | undefined, what: string) => {
    if (text == null || !/^\d+$/.test(text)) throw new ProtocolError(`${what} is ${JSON.stringify(text)}`);
    return Number(text);
  };
  const nameCatalogs = new Map<string, { spcOid: number; relNumber: number }>();
  const triples: unknown = JSON.parse(catalogs ?? '[]');
  if (!Array.isArray(triples)) throw new ProtocolError('the catalog files are not a list');
  for (const triple of triples) {
    if (!Array.isArray(triple) || typeof triple[0] !== 'string' || typeof triple[1] !== 'number') {
      throw new ProtocolError(`a catalog file is ${JSON.stringify(triple)}`);
    }
    if (typeof triple[2] === 'number')
      nameCatalogs.set(triple[0], { spcOid: triple[1], relNumber: triple[2] });
  }
  return {
    dbOid: number(oid, 'the database OID'),
    segmentSize: number(segmentBytes, 'wal_segment_size'),
    blockSize: number(blockSize, 'block_size'),
    walBlockSize: number(walBlockSize, 'wal_block_size'),
    versionNum: number(versionNum, 'server_version_num'),
    standby: recovery === 't',
    nameCatalogs,
  };
}

/** The server's major version, if RawFeed can read its WAL; else an UnsupportedServerError to throw. */
export function checkReadable(facts: ServerFacts): number | UnsupportedServerError {
  const major = Math.floor(facts.versionNum / 10000);
  if (!PAGE_MAGIC_BY_MAJOR.has(major)) {
    return new UnsupportedServerError(
      `RawFeed reads the WAL of PostgreSQL 15 to 18; this server runs ${major}. Use WalFeed (logical decoding), or a pgnudge release that knows PostgreSQL ${major}'s WAL`,
    );
  }
  if (facts.standby) {
    return new UnsupportedServerError(
      'RawFeed runs against a primary: on a standby it cannot learn which transactions were running when its stream started. Connect it to the primary, or use WalFeed on the standby (PostgreSQL 16 and later)',
    );
  }
  if (facts.blockSize !== PAGE_SIZE || facts.walBlockSize !== PAGE_SIZE) {
    return new UnsupportedServerError(
      `RawFeed reads 8 kB pages only; this server was built with block_size ${facts.blockSize} and wal_block_size ${facts.walBlockSize}. Use WalFeed (logical decoding)`,
    );
  }
  return major;
}

/**
 * The watermark and the transactions already running, in one round trip and in this order: the WAL
 * insert position W; then an xid X of our own (assigned now, rolled back at once: it costs an abort
 * record); then a snapshot S. A transaction that commits after S without being visible to it is either
 * in S's xip or at or above S's xmax (xmax is the latest completed xid plus one, so a running xid above
 * it is in neither); those above xmax that could have written before the stream started were assigned
 * before X. So the running set is xip plus [xmax, X). (Separate statements: each takes its own snapshot.)
 */
export const START_QUERY = `SELECT pg_catalog.pg_current_wal_insert_lsn()::text;
BEGIN;
SELECT pg_catalog.pg_current_xact_id()::text;
SELECT pg_catalog.pg_current_snapshot()::text;
ROLLBACK`;

/** Running xids past which the start query's answer is taken for garbage (max_connections bounds them). */
const MAX_RUNNING_AT_START = 1_000_000;

/** What {@link START_QUERY} answered. */
export interface StartPoint {
  readonly watermark: Lsn;
  /** Top-level xids that were running (or prepared) and may have written before the stream started. */
  readonly runningAtStart: readonly number[];
}

/** Reads the five results of {@link START_QUERY}. */
export function parseStartPoint(results: readonly QueryResult[]): StartPoint {
  if (results.length !== 5) {
    throw new ProtocolError(`the start query returned ${results.length} results, not 5`);
  }
  const watermark = parseLsn(results[0]?.rows[0]?.[0] ?? '', 'pg_current_wal_insert_lsn()');
  const ours = results[2]?.rows[0]?.[0] ?? '';
  if (!/^\d+$/.test(ours)) throw new ProtocolError(`pg_current_xact_id() answered ${JSON.stringify(ours)}`);
  const text = results[3]?.rows[0]?.[0] ?? '';
  const snapshot = parseSnapshot(text);
  if (snapshot === null) throw new ProtocolError(`pg_current_snapshot() answered ${JSON.stringify(text)}`);
  const own = Number(BigInt(ours) & 0xffff_ffffn);
  const above = (own - snapshot.xmax) >>> 0;
  if (above > MAX_RUNNING_AT_START) {
    throw new ProtocolError(`${above} xids between the snapshot's xmax ${snapshot.xmax} and ${own}`);
  }
  const running = [...snapshot.xip];
  for (let i = 0; i < above; i++) running.push((snapshot.xmax + i) >>> 0);
  return { watermark, runningAtStart: running };
}

/**
 * Where the stream starts: the page holding IDENTIFY_SYSTEM's flush position (which the watermark, read
 * later, is at or past). A page start, since WAL pages carry the headers the reader needs to find its
 * way; the watermark drops the commits on that page that were written before it.
 */
export function startPosition(flushLsn: Lsn): Lsn {
  return flushLsn - (flushLsn % BigInt(PAGE_SIZE));
}

/** `START_REPLICATION PHYSICAL X/Y TIMELINE n`: no slot, so nothing is left on the server (contract R12). */
export function formatStartPhysical(start: Lsn, timeline: number): string {
  if (!Number.isInteger(timeline) || timeline < 1 || timeline > 0xffff_ffff) {
    throw new RangeError(`timeline ${timeline} is not a timeline id`);
  }
  return `START_REPLICATION PHYSICAL ${formatLsn(start)} TIMELINE ${timeline}`;
}

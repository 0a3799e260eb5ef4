// The WAL reader's oracles and golden fixtures: a scripted workload that exercises every record RawFeed
// reads, the server's own view of the resulting WAL (pg_walinspect on every major, pg_waldump on 15),
// the raw segment bytes, and the same view computed by our reader, in one comparable shape.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import pg from 'pg';
import type { ChangeOp } from '../../src/decode/change.js';
import type { GateOutput } from '../../src/decode/wal/commit-gate.js';
import { RMGR_NAMES } from '../../src/decode/wal/constants.js';
import { interpretRecord, type WalEventSink } from '../../src/decode/wal/interpret.js';
import { formatWalPosition } from '../../src/decode/wal/position.js';
import { WalReader } from '../../src/decode/wal/reader.js';
import type { BlockRef, WalRecord } from '../../src/decode/wal/record.js';
import type { RelFileLocator, XactEnd, XactPrepare } from '../../src/decode/wal/xact.js';
import { type ClusterInfo, repoPath, runSql } from './cluster.js';

/** One block reference, as the oracles describe it. */
export interface ComparableBlock {
  id: number;
  spc: number;
  db: number;
  rel: number;
  fork: string;
  blk: number;
  /** Present when the block carries a full-page image. */
  image?: { holeOffset: number; holeLength: number; method: string | null; apply: boolean };
  /** Bytes of block data: pg_get_wal_block_info (16+) and our reader only. */
  dataLength?: number;
  /** Bytes of the stored image: pg_get_wal_block_info (16+) and our reader only. */
  imageLength?: number;
}

/** One record, as the oracles describe it (LSNs as PostgreSQL prints them). */
export interface ComparableRecord {
  lsn: string;
  end: string;
  prev: string;
  xid: number;
  rmgr: string;
  /** The record type name (the oracles only: our reader has no name table for every rmgr). */
  type?: string;
  length: number;
  mainDataLength: number;
  fpiLength: number;
  blocks: ComparableBlock[];
  /** pg_walinspect's description of the records whose meaning RawFeed reads (xact, multi-insert). */
  desc?: string;
}

/** A golden fixture's metadata (test/fixtures/wal/<major>/<level>.json.gz). */
export interface WalFixture {
  major: number;
  version: string;
  walLevel: 'replica' | 'logical';
  segmentSize: number;
  timeline: number;
  startLsn: string;
  endLsn: string;
  /** Database OIDs of the watched and the other database. */
  dbOid: number;
  otherDbOid: number;
  records: ComparableRecord[];
  /** pg_waldump's view (15 only: the only major whose package ships it). */
  waldump?: ComparableRecord[];
  /** The workload tables' relfilenodes in the watched database, before and after the workload. */
  tables: { before: Record<string, number>; after: Record<string, number> };
}

/** The workload tables, and the relfilenode of each (in the watched database). */
export async function tableFiles(info: ClusterInfo): Promise<Record<string, number>> {
  const rows = await runSql<{ relname: string; file: number }>(
    info,
    `SELECT relname, pg_relation_filenode(oid)::int AS file FROM pg_class
      WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY relname`,
    WATCHED_DB,
  );
  return Object.fromEntries(rows.map((row) => [row.relname, row.file]));
}

const FORKS = ['main', 'fsm', 'vm', 'init'];
const METHODS: [number, string][] = [
  [0x04, 'pglz'],
  [0x08, 'lz4'],
  [0x10, 'zstd'],
];

export function parseLsnText(text: string): bigint {
  const [hi, lo] = text.split('/');
  return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
}

/** What our reader says about one record, in the oracles' shape. */
export function comparableRecord(record: WalRecord): ComparableRecord {
  const blocks: ComparableBlock[] = [];
  for (let i = 0; i < record.blockCount; i++) {
    const b = record.blocks[i]!;
    const block: ComparableBlock = {
      id: b.id,
      spc: b.spcOid,
      db: b.dbOid,
      rel: b.relNumber,
      fork: FORKS[b.forkNumber] ?? String(b.forkNumber),
      blk: b.blockNumber,
      dataLength: b.dataLength,
    };
    if (b.hasImage) {
      block.image = {
        holeOffset: b.holeOffset,
        holeLength: b.holeLength,
        method: METHODS.find(([bit]) => (b.imageInfo & bit) !== 0)?.[1] ?? null,
        apply: (b.imageInfo & 0x02) !== 0,
      };
      block.imageLength = b.imageLength;
    }
    blocks.push(block);
  }
  return {
    lsn: formatWalPosition(record.lsn),
    end: formatWalPosition(record.endLsn),
    prev: formatWalPosition(record.prevLsn),
    xid: record.xid,
    rmgr: RMGR_NAMES[record.rmid] ?? `custom${record.rmid}`,
    length: record.totalLength,
    mainDataLength: record.mainDataLength,
    fpiLength: record.imageBytes,
    blocks,
  };
}

/** Reads every record of `bytes` (which start at `startLsn`), pushed in the given chunk sizes. */
export function readAll(
  bytes: Uint8Array,
  startLsn: bigint,
  segmentSize: number,
  chunkSizes: (index: number) => number = () => bytes.byteLength,
  visit: (record: WalRecord, reader: WalReader) => void = () => {},
): ComparableRecord[] {
  const reader = new WalReader({ startLsn, segmentSize });
  const out: ComparableRecord[] = [];
  let at = 0;
  for (let i = 0; at < bytes.byteLength; i++) {
    const size = Math.max(1, chunkSizes(i));
    reader.push(bytes.subarray(at, at + size));
    at += size;
    for (let record = reader.next(); record !== undefined; record = reader.next()) {
      out.push(comparableRecord(record));
      visit(record, reader);
    }
  }
  return out;
}

/** Parses the block_ref text of pg_walinspect and pg_waldump --bkp-details (xlogdesc.c's detailed form). */
export function parseBlockRefs(text: string): ComparableBlock[] {
  const blocks: ComparableBlock[] = [];
  const pattern =
    /blkref #(\d+): rel (\d+)\/(\d+)\/(\d+) fork (\w+) blk (\d+)(?: \(FPW( for WAL verification)?\); hole: offset: (\d+), length: (\d+)(?:, compression saved: \d+, method: (\w+))?)?/g;
  for (const m of text.matchAll(pattern)) {
    const block: ComparableBlock = {
      id: Number(m[1]),
      spc: Number(m[2]),
      db: Number(m[3]),
      rel: Number(m[4]),
      fork: m[5]!,
      blk: Number(m[6]),
    };
    if (m[8] !== undefined) {
      block.image = {
        holeOffset: Number(m[8]),
        holeLength: Number(m[9]),
        method: m[10] ?? null,
        apply: m[7] === undefined,
      };
    }
    blocks.push(block);
  }
  return blocks;
}

/** Whether a record's description is kept in fixtures (the records whose meaning RawFeed reads). */
function keepsDescription(rmgr: string, type: string): boolean {
  return rmgr === 'Transaction' || (rmgr === 'Heap2' && type.startsWith('MULTI_INSERT'));
}

/** pg_walinspect's view of [start, end), with pg_get_wal_block_info's block details on 16+. */
export async function walinspectRecords(
  info: ClusterInfo,
  database: string,
  start: string,
  end: string,
): Promise<ComparableRecord[]> {
  const rows = await runSql<{
    start_lsn: string;
    end_lsn: string;
    prev_lsn: string;
    xid: string;
    resource_manager: string;
    record_type: string;
    record_length: number;
    main_data_length: number;
    fpi_length: number;
    description: string | null;
    block_ref: string | null;
  }>(info, `SELECT * FROM pg_get_wal_records_info('${start}', '${end}') ORDER BY start_lsn`, database);
  const records = rows.map((row) => {
    const record: ComparableRecord = {
      lsn: row.start_lsn,
      end: row.end_lsn,
      prev: row.prev_lsn,
      xid: Number(row.xid),
      rmgr: row.resource_manager,
      type: row.record_type,
      length: row.record_length,
      mainDataLength: row.main_data_length,
      fpiLength: row.fpi_length,
      blocks: parseBlockRefs(row.block_ref ?? ''),
    };
    if (keepsDescription(row.resource_manager, row.record_type)) {
      record.desc = (row.description ?? '').replace(/; inval msgs:.*$/, '');
    }
    return record;
  });
  if (info.major >= 16) {
    const blocks = await runSql<{
      start_lsn: string;
      block_id: number;
      block_data_length: number;
      block_fpi_length: number;
    }>(
      info,
      `SELECT start_lsn, block_id, block_data_length, block_fpi_length FROM pg_get_wal_block_info('${start}', '${end}', false)`,
      database,
    );
    const byLsn = new Map(records.map((r) => [r.lsn, r]));
    for (const row of blocks) {
      const block = byLsn.get(row.start_lsn)?.blocks.find((b) => b.id === row.block_id);
      if (block === undefined)
        throw new Error(`pg_get_wal_block_info names ${row.start_lsn} #${row.block_id}`);
      block.dataLength = row.block_data_length;
      if (block.image !== undefined) block.imageLength = row.block_fpi_length;
    }
  }
  return records;
}

/**
 * pg_waldump's view (PostgreSQL 15 only) of the records in `bytes`, which start at `startLsn`: the bytes
 * are laid out as segment files in a scratch directory, so the oracle reads exactly what our reader reads.
 */
export function waldumpRecords(
  bytes: Uint8Array,
  startLsn: bigint,
  endLsn: bigint,
  segmentSize: number,
  timeline: number,
): ComparableRecord[] | null {
  const bin = '/usr/lib/postgresql/15/bin/pg_waldump';
  if (!existsSync(bin)) return null;
  const dir = mkdtempSync(join(tmpdir(), 'pgnudge-waldump-'));
  try {
    const seg = BigInt(segmentSize);
    const perId = 0x1_0000_0000n / seg;
    for (let s = startLsn / seg; s * seg < endLsn; s++) {
      const file = new Uint8Array(segmentSize);
      const from = s * seg;
      const lo = startLsn > from ? startLsn - from : 0n;
      const hi = endLsn - from < seg ? endLsn - from : seg;
      file.set(bytes.subarray(Number(from + lo - startLsn), Number(from + hi - startLsn)), Number(lo));
      const hex = (n: bigint | number) => n.toString(16).toUpperCase().padStart(8, '0');
      writeFileSync(join(dir, `${hex(timeline)}${hex(s / perId)}${hex(s % perId)}`), file);
    }
    return waldumpDirectory(dir, startLsn, endLsn);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** pg_waldump's view (PostgreSQL 15 only) of the records in [startLsn, endLsn) of the segment files in `dir`. */
export function waldumpDirectory(dir: string, startLsn: bigint, endLsn: bigint): ComparableRecord[] | null {
  const bin = '/usr/lib/postgresql/15/bin/pg_waldump';
  if (!existsSync(bin)) return null;
  const run = spawnSync(
    bin,
    ['--bkp-details', '-p', dir, '-s', formatWalPosition(startLsn), '-e', formatWalPosition(endLsn)],
    { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 },
  );
  if (run.status !== 0 && !/error in WAL record|could not find a valid record/.test(run.stderr)) {
    throw new Error(`pg_waldump failed: ${run.stderr}`);
  }
  const records: ComparableRecord[] = [];
  const header =
    /^rmgr: (\S+)\s+len \(rec\/tot\):\s*(\d+)\/\s*(\d+), tx:\s*(\d+), lsn: ([0-9A-F]+\/[0-9A-F]+), prev ([0-9A-F]+\/[0-9A-F]+), desc: (\S+)/;
  for (const line of run.stdout.split('\n')) {
    const m = header.exec(line);
    if (m !== null) {
      const total = Number(m[3]);
      records.push({
        lsn: formatWalPosition(parseLsnText(m[5]!)),
        end: '',
        prev: formatWalPosition(parseLsnText(m[6]!)),
        xid: Number(m[4]),
        rmgr: m[1]!,
        type: m[7]!,
        length: total,
        mainDataLength: -1,
        fpiLength: total - Number(m[2]),
        blocks: [],
      });
    } else if (line.startsWith('\tblkref') && records.length > 0) {
      records[records.length - 1]!.blocks.push(...parseBlockRefs(line));
    }
  }
  return records;
}

/** The WAL bytes [start, end) of a running cluster, read from its segment files. */
export async function readWalBytes(
  info: ClusterInfo,
  start: bigint,
  end: bigint,
  segmentSize: number,
  timeline: number,
): Promise<Uint8Array> {
  const out = new Uint8Array(Number(end - start));
  const seg = BigInt(segmentSize);
  const perId = 0x1_0000_0000n / seg;
  const hex = (n: bigint | number) => n.toString(16).toUpperCase().padStart(8, '0');
  for (let s = start / seg; s * seg < end; s++) {
    const from = s * seg;
    const lo = start > from ? start - from : 0n;
    const hi = end - from < seg ? end - from : seg;
    const name = `${hex(timeline)}${hex(s / perId)}${hex(s % perId)}`;
    const [row] = await runSql<{ b: Buffer }>(
      info,
      `SELECT pg_read_binary_file('pg_wal/${name}', ${lo}, ${hi - lo}) AS b`,
    );
    out.set(row!.b, Number(from + lo - start));
  }
  return out;
}

/** Names of the two databases the workload uses. */
export const WATCHED_DB = 'walfix';
export const OTHER_DB = 'walother';

/** Creates the databases and tables the workload needs (before the captured range starts). */
export async function prepareWorkload(info: ClusterInfo): Promise<{ dbOid: number; otherDbOid: number }> {
  // FILE_COPY: the default WAL_LOG strategy would copy the whole template database into the WAL.
  for (const db of [WATCHED_DB, OTHER_DB]) {
    await runSql(info, `DROP DATABASE IF EXISTS ${db}`);
    await runSql(info, `CREATE DATABASE ${db} STRATEGY FILE_COPY`);
  }
  await runSql(
    info,
    `CREATE EXTENSION IF NOT EXISTS pg_walinspect;
     CREATE TABLE items (id int PRIMARY KEY, note text, n int NOT NULL DEFAULT 0);
     ALTER TABLE items REPLICA IDENTITY FULL;
     CREATE TABLE bulk (id int, note text);
     CREATE TABLE wide (id int, payload text);
     ALTER TABLE wide ALTER COLUMN payload SET STORAGE PLAIN;
     CREATE TABLE doomed (id int);
     INSERT INTO doomed SELECT generate_series(1, 10);
     CREATE TABLE shrink (id int);
     INSERT INTO shrink SELECT generate_series(1, 10);
     CREATE TABLE dropme (id int);
     CREATE TABLE upsert (id int PRIMARY KEY, n int);
     INSERT INTO upsert VALUES (1, 0);`,
    WATCHED_DB,
  );
  await runSql(info, 'CREATE TABLE elsewhere (id int PRIMARY KEY, note text)', OTHER_DB);
  const rows = await runSql<{ datname: string; oid: number }>(
    info,
    `SELECT datname, oid::int AS oid FROM pg_database WHERE datname IN ('${WATCHED_DB}', '${OTHER_DB}')`,
  );
  const oid = (name: string) => rows.find((r) => r.datname === name)!.oid;
  return { dbOid: oid(WATCHED_DB), otherDbOid: oid(OTHER_DB) };
}

/** Compression methods this server was built with (for full-page images). */
export async function compressionMethods(info: ClusterInfo): Promise<string[]> {
  const [row] = await runSql<{ vals: string[] }>(
    info,
    "SELECT enumvals AS vals FROM pg_settings WHERE name = 'wal_compression'",
  );
  return ['pglz', 'lz4', 'zstd'].filter((m) => row!.vals.includes(m));
}

/**
 * The scripted workload: every kind of record RawFeed reads, each statement its own transaction unless
 * the script opens one. Needs full_page_writes = on and max_prepared_transactions > 0.
 */
export async function runWorkload(info: ClusterInfo, options: { switchWal: boolean }): Promise<void> {
  const methods = await compressionMethods(info);
  const client = new pg.Client({
    host: info.host,
    port: info.port,
    user: info.superuser.user,
    password: info.superuser.password,
    database: WATCHED_DB,
  });
  await client.connect();
  try {
    const run = async (...statements: string[]) => {
      for (const sql of statements) await client.query(sql);
    };
    // Relation rewrites and drops first, before the checkpoints below: pages they touch then need no
    // full-page image, which keeps the fixtures small.
    await run(
      'TRUNCATE doomed',
      'VACUUM FULL shrink',
      'DROP TABLE dropme',
      'INSERT INTO upsert VALUES (2, 0) ON CONFLICT (id) DO NOTHING',
      'INSERT INTO upsert VALUES (1, 5) ON CONFLICT (id) DO UPDATE SET n = EXCLUDED.n',
    );
    await run(
      "INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 20) g",
      'UPDATE items SET n = n + 1 WHERE id <= 3',
      'UPDATE items SET id = id + 100 WHERE id = 4',
      'DELETE FROM items WHERE id = 5',
      "COPY bulk (id) FROM PROGRAM 'seq 1 300'",
    );
    // Subtransactions: one rolled back, two nested and released.
    await run(
      'BEGIN',
      "INSERT INTO items VALUES (21, 'sub')",
      'SAVEPOINT a',
      "INSERT INTO items VALUES (22, 'rolled back')",
      'ROLLBACK TO a',
      'SAVEPOINT b',
      "INSERT INTO items VALUES (23, 'released')",
      'SAVEPOINT c',
      'UPDATE items SET n = 5 WHERE id = 23',
      'RELEASE c',
      'RELEASE b',
      'COMMIT',
    );
    await run('BEGIN', "INSERT INTO items VALUES (30, 'aborted')", 'ROLLBACK');
    await run(
      'BEGIN',
      "INSERT INTO items VALUES (40, 'prepared')",
      'SAVEPOINT s',
      "INSERT INTO items VALUES (41, 'prepared sub')",
      "PREPARE TRANSACTION 'pgnudge_fix_commit'",
      "COMMIT PREPARED 'pgnudge_fix_commit'",
    );
    await run(
      'BEGIN',
      'DELETE FROM items WHERE id = 6',
      "PREPARE TRANSACTION 'pgnudge_fix_abort'",
      "ROLLBACK PREPARED 'pgnudge_fix_abort'",
    );
    // More than 64 subtransactions with an xid each: XLOG_XACT_ASSIGNMENT.
    await run(
      "DO $$ BEGIN FOR i IN 1..70 LOOP BEGIN INSERT INTO bulk VALUES (i, 'sub'); EXCEPTION WHEN others THEN NULL; END; END LOOP; END $$",
    );
    await runSql(
      info,
      "INSERT INTO elsewhere VALUES (1, 'other db'); UPDATE elsewhere SET note = 'changed'",
      OTHER_DB,
    );
    // Records longer than a page: a heap tuple stored inline, and a logical message over two pages.
    await run(
      "INSERT INTO wide VALUES (1, repeat('w', 7000))",
      "SELECT pg_logical_emit_message(false, 'pgnudge', repeat('m', 20000))",
    );
    // Full-page images after a checkpoint: uncompressed, then with each method the server has.
    for (const method of ['off', ...methods]) {
      await run('CHECKPOINT', `SET wal_compression = ${method}`, 'UPDATE items SET n = n + 1 WHERE id = 7');
    }
    await run('RESET wal_compression');
    if (options.switchWal) {
      await run('SELECT pg_switch_wal()');
    }
    await run("INSERT INTO items VALUES (200, 'after the switch')", 'DELETE FROM bulk WHERE id <= 3');
  } finally {
    await client.end();
  }
}

/** Reads a fixture: its metadata and its WAL bytes. */
export function loadFixture(major: number, walLevel: string): { fixture: WalFixture; bytes: Uint8Array } {
  const dir = repoPath('test', 'fixtures', 'wal', String(major));
  const fixture = JSON.parse(gunzipSync(readFileSync(join(dir, `${walLevel}.json.gz`))).toString('utf8'));
  const bytes = new Uint8Array(gunzipSync(readFileSync(join(dir, `${walLevel}.wal.gz`))));
  return { fixture, bytes };
}

/** One sink call, as plain data, with the LSN of the record it came from. */
export type RecordedEvent =
  | {
      kind: 'change';
      lsn: string;
      xid: number;
      topXid: number;
      rel: number;
      db: number;
      op: string;
      count: number;
    }
  | { kind: 'end'; lsn: string; event: XactEnd }
  | { kind: 'prepare'; lsn: string; event: XactPrepare }
  | { kind: 'assignment'; lsn: string; top: number; subxacts: number[] }
  | { kind: 'create'; lsn: string; xid: number; locator: RelFileLocator }
  | { kind: 'running'; lsn: string; oldest: number; next: number };

/** A WalEventSink that records every call (and forwards it, if given another sink). */
export class RecordingSink implements WalEventSink {
  readonly events: RecordedEvent[] = [];
  lsn = '';

  constructor(readonly forward?: WalEventSink) {}

  change(xid: number, block: BlockRef, op: ChangeOp, count: number, record: WalRecord): void {
    this.events.push({
      kind: 'change',
      lsn: this.lsn,
      xid,
      topXid: record.topXid,
      rel: block.relNumber,
      db: block.dbOid,
      op,
      count,
    });
    this.forward?.change(xid, block, op, count, record);
  }

  end(event: XactEnd): void {
    this.events.push({ kind: 'end', lsn: this.lsn, event });
    this.forward?.end(event);
  }

  prepare(event: XactPrepare): void {
    this.events.push({ kind: 'prepare', lsn: this.lsn, event });
    this.forward?.prepare(event);
  }

  assignment(top: number, subxacts: readonly number[]): void {
    this.events.push({ kind: 'assignment', lsn: this.lsn, top, subxacts: [...subxacts] });
    this.forward?.assignment(top, subxacts);
  }

  create(xid: number, locator: RelFileLocator): void {
    this.events.push({ kind: 'create', lsn: this.lsn, xid, locator });
    this.forward?.create(xid, locator);
  }

  runningXacts(oldestRunningXid: number, nextXid: number, record: WalRecord): void {
    this.events.push({ kind: 'running', lsn: this.lsn, oldest: oldestRunningXid, next: nextXid });
    this.forward?.runningXacts(oldestRunningXid, nextXid, record);
  }
}

/** Reads `bytes` and runs every record through interpretRecord into `sink`; returns the records. */
export function interpretAll(
  bytes: Uint8Array,
  startLsn: bigint,
  segmentSize: number,
  sink: RecordingSink,
): { records: ComparableRecord[]; infos: number[] } {
  const infos: number[] = [];
  const records = readAll(
    bytes,
    startLsn,
    segmentSize,
    () => 65536,
    (record, reader) => {
      infos.push(record.info);
      sink.lsn = formatWalPosition(record.lsn);
      interpretRecord(record, reader.major!, sink);
    },
  );
  return { records, infos };
}

/**
 * Checks the commit gate's outputs for one run of the workload: exactly the committed row changes per
 * table, and the old and new files of the rewritten tables. `rounds` is the number of full-page image
 * rounds (checkpoints) the workload ran.
 */
export function assertWorkloadReleases(
  outputs: readonly GateOutput[],
  records: readonly ComparableRecord[],
  tables: { before: Record<string, number>; after: Record<string, number> },
  dbOid: number,
  rounds: number,
): void {
  const counts = new Map<number, number>();
  const dropped = new Set<number>();
  const created = new Set<number>();
  for (const out of outputs) {
    assert.equal(out.type, 'release', `${out.type} at ${out.endLsn}`);
    if (out.type !== 'release') continue;
    for (const rel of out.relations) {
      assert.equal(rel.dbOid, dbOid);
      counts.set(rel.relNumber, (counts.get(rel.relNumber) ?? 0) + rel.count);
    }
    for (const file of out.droppedRelFiles) dropped.add(file.relNumber);
    for (const file of out.createdRelFiles) created.add(file.relNumber);
  }
  const { before, after } = tables;
  // Images of the items table after each checkpoint (with data checksums, as 18's initdb enables by
  // default, the first one may come with a hint bit, as XLOG FPI_FOR_HINT).
  const images = records.filter((r) => r.blocks.some((b) => b.rel === before.items && b.image !== undefined));
  assert.ok(images.length >= 2, `${images.length} full-page images of items`);
  // 20 inserted, 3 HOT-updated, 1 updated, 1 deleted, 3 in the subtransactions that survived, 2 prepared
  // and committed, 1 after the switch, and 1 update per full-page image round.
  assert.equal(counts.get(before.items!), 31 + rounds, 'items');
  // COPY of 300, 70 subtransactions, 6 deleted (ids 1 to 3 of each).
  assert.equal(counts.get(before.bulk!), 376, 'bulk');
  assert.equal(counts.get(before.wide!), 1, 'wide');
  // ON CONFLICT: one confirmed speculative insertion, one update.
  assert.equal(counts.get(before.upsert!), 2, 'upsert');
  for (const table of ['doomed', 'shrink', 'dropme']) {
    assert.ok(dropped.has(before[table]!), `the old file of ${table} is dropped`);
    assert.equal(counts.get(before[table]!), undefined);
  }
  for (const table of ['doomed', 'shrink']) {
    assert.notEqual(after[table], before[table]);
    assert.ok(created.has(after[table]!), `the new file of ${table} is created`);
  }
}

// The WAL reader against real WAL from every supported major, at wal_level replica and logical
// (test/fixtures/wal, recorded by scripts/capture-wal-fixtures.mjs): every record is compared with
// pg_walinspect's view (and pg_waldump's on 15), what the records mean is compared with the oracles'
// descriptions, and the commit gate must release exactly the workload's committed row changes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CommitGate, type GateOutput } from '../../../../src/decode/wal/commit-gate.js';
import { PAGE_SIZE } from '../../../../src/decode/wal/constants.js';
import { formatWalPosition } from '../../../../src/decode/wal/position.js';
import type { RelFileLocator } from '../../../../src/decode/wal/xact.js';
import {
  assertWorkloadReleases,
  type ComparableRecord,
  interpretAll,
  loadFixture,
  parseLsnText,
  RecordingSink,
  readAll,
} from '../../../support/wal-oracle.js';

const MAJORS = [15, 16, 17, 18];
const LEVELS = ['replica', 'logical'] as const;

/** The oracle's record without what only the oracle knows (type names, descriptions, and on 15 block lengths). */
function expectedShape(record: ComparableRecord): ComparableRecord {
  const { type: _type, desc: _desc, ...rest } = record;
  return { ...rest, blocks: rest.blocks.map((b) => ({ ...b })) };
}

/** Our record, reduced to what the oracle of `major` reports. */
function ourShape(record: ComparableRecord, major: number): ComparableRecord {
  if (major >= 16) return record;
  return {
    ...record,
    blocks: record.blocks.map(({ dataLength: _d, imageLength: _i, ...block }) => block),
  };
}

/** Record type names of the resource managers RawFeed interprets (rm_identify in *desc.c). */
function typeName(rmgr: string, info: number, major: number): string | undefined {
  const op = info & 0x70;
  const init = (info & 0x80) !== 0 ? '+INIT' : '';
  switch (rmgr) {
    case 'Heap':
      return `${['INSERT', 'DELETE', 'UPDATE', 'TRUNCATE', 'HOT_UPDATE', 'HEAP_CONFIRM', 'LOCK', 'INPLACE'][op >> 4]}${init}`;
    case 'Heap2': {
      const names =
        major >= 17
          ? ['REWRITE', 'PRUNE_ON_ACCESS', 'PRUNE_VACUUM_SCAN', 'PRUNE_VACUUM_CLEANUP']
          : ['REWRITE', 'PRUNE', 'VACUUM', 'FREEZE_PAGE'];
      return `${[...names, 'VISIBLE', 'MULTI_INSERT', 'LOCK_UPDATED', 'NEW_CID'][op >> 4]}${init}`;
    }
    case 'Transaction':
      return [
        'COMMIT',
        'PREPARE',
        'ABORT',
        'COMMIT_PREPARED',
        'ABORT_PREPARED',
        'ASSIGNMENT',
        'INVALIDATION',
      ][op >> 4];
    case 'Standby':
      return ['LOCK', 'RUNNING_XACTS', 'INVALIDATIONS'][info >> 4];
    case 'Storage':
      return [undefined, 'CREATE', 'TRUNCATE'][info >> 4];
    case 'XLOG':
      return [
        'CHECKPOINT_SHUTDOWN',
        'CHECKPOINT_ONLINE',
        'NOOP',
        'NEXTOID',
        'SWITCH',
        'BACKUP_END',
        'PARAMETER_CHANGE',
        'RESTORE_POINT',
        'FPW_CHANGE',
        'END_OF_RECOVERY',
        'FPI_FOR_HINT',
        'FPI',
        undefined,
        'OVERWRITE_CONTRECORD',
        'CHECKPOINT_REDO',
      ][info >> 4];
  }
  return undefined;
}

/** A relation file as xactdesc prints it (relpathperm of the main fork). */
function relPath(file: RelFileLocator): string {
  if (file.spcOid === 1664) return `global/${file.relNumber}`;
  if (file.spcOid === 1663) return `base/${file.dbOid}/${file.relNumber}`;
  return `pg_tblspc/${file.spcOid}/*/${file.dbOid}/${file.relNumber}`;
}

function listAfter(desc: string, label: string): string[] {
  const m = new RegExp(`; ${label}: ([^;]*)`).exec(desc);
  return m === null ? [] : m[1]!.trim().split(/\s+/);
}

for (const major of MAJORS) {
  for (const level of LEVELS) {
    describe(`WAL of PostgreSQL ${major} at wal_level=${level}`, () => {
      const { fixture, bytes } = loadFixture(major, level);
      const start = parseLsnText(fixture.startLsn);
      const sink = new RecordingSink();
      const { records, infos } = interpretAll(bytes, start, fixture.segmentSize, sink);

      test('every record agrees with pg_walinspect (position, links, xid, rmgr, lengths, block references, images)', () => {
        assert.equal(fixture.major, major);
        assert.equal(records.length, fixture.records.length, 'record count');
        assert.ok(records.length > 250, `${records.length} records`);
        for (const [i, expected] of fixture.records.entries()) {
          assert.deepEqual(
            ourShape(records[i]!, major),
            expectedShape(expected),
            `record #${i} at ${expected.lsn}`,
          );
        }
        assert.equal(formatWalPosition(start + BigInt(bytes.byteLength)), fixture.endLsn);
        console.log(
          `# PostgreSQL ${fixture.version} ${level}: ${records.length} records agree with pg_walinspect`,
        );
      });

      if (fixture.waldump !== undefined) {
        const dumped = fixture.waldump;
        test('every record agrees with pg_waldump', () => {
          assert.equal(records.length, dumped.length);
          for (const [i, expected] of dumped.entries()) {
            const ours = records[i]!;
            assert.deepEqual(
              {
                lsn: ours.lsn,
                prev: ours.prev,
                xid: ours.xid,
                rmgr: ours.rmgr,
                length: ours.length,
                fpiLength: ours.fpiLength,
                blocks: ourShape(ours, 15).blocks,
              },
              {
                lsn: expected.lsn,
                prev: expected.prev,
                xid: expected.xid,
                rmgr: expected.rmgr,
                length: expected.length,
                fpiLength: expected.fpiLength,
                blocks: expected.blocks,
              },
              `record #${i} at ${expected.lsn}`,
            );
          }
          console.log(
            `# PostgreSQL ${fixture.version} ${level}: ${dumped.length} records agree with pg_waldump`,
          );
        });
      }

      test('record types: the interpreted ones by name, every other one consistently', () => {
        const seen = new Map<string, string>();
        let named = 0;
        for (const [i, expected] of fixture.records.entries()) {
          const name = typeName(expected.rmgr, infos[i]!, major);
          if (name !== undefined) {
            assert.equal(name, expected.type, `record #${i} at ${expected.lsn}`);
            named++;
          }
          const key = `${expected.rmgr}/${infos[i]! & 0xf0}`;
          assert.equal(seen.get(key) ?? expected.type, expected.type, `${key} at ${expected.lsn}`);
          seen.set(key, expected.type!);
        }
        assert.ok(named > 100, `${named} records named`);
      });

      test('transaction ends, prepares, assignments and multi-inserts agree with the descriptions', () => {
        const byLsn = new Map(fixture.records.map((r) => [r.lsn, r]));
        let checked = 0;
        for (const event of sink.events) {
          const record = byLsn.get(event.lsn)!;
          if (event.kind === 'end') {
            const e = event.event;
            assert.equal(record.type, e.kind.toUpperCase().replace('-', '_'), event.lsn);
            const twophase = /^(\d+): /.exec(record.desc!);
            assert.equal(e.xid, twophase === null ? record.xid : Number(twophase[1]), event.lsn);
            assert.deepEqual(e.subxacts.map(String), listAfter(record.desc!, 'subxacts'), event.lsn);
            assert.deepEqual(e.relFiles.map(relPath), listAfter(record.desc!, 'rels'), event.lsn);
            checked++;
          } else if (event.kind === 'prepare') {
            const e = event.event;
            assert.equal(record.type, 'PREPARE');
            assert.match(record.desc!, new RegExp(`^gid ${e.gid}: `));
            assert.equal(e.xid, record.xid);
            assert.deepEqual(e.subxacts.map(String), listAfter(record.desc!, 'subxacts'), event.lsn);
            checked++;
          } else if (event.kind === 'assignment') {
            assert.equal(record.type, 'ASSIGNMENT');
            assert.match(record.desc!, new RegExp(`^xtop ${event.top}: `), event.lsn);
            assert.deepEqual(
              event.subxacts.map(String),
              listAfter(record.desc!.replace(/^xtop \d+: /, '; '), 'subxacts'),
              event.lsn,
            );
            checked++;
          } else if (event.kind === 'change' && record.rmgr === 'Heap2') {
            const m = /(\d+) tuples|ntuples: (\d+)/.exec(record.desc!);
            assert.equal(event.count, Number(m![1] ?? m![2]), event.lsn);
            checked++;
          }
        }
        // Every transaction end and multi-insert in the WAL was interpreted.
        const expected = fixture.records.filter(
          (r) =>
            (r.rmgr === 'Transaction' && r.type !== 'INVALIDATION') ||
            (r.rmgr === 'Heap2' && r.type!.startsWith('MULTI_INSERT')),
        ).length;
        assert.equal(checked, expected);
        assert.ok(
          sink.events.some((e) => e.kind === 'assignment'),
          'an XLOG_XACT_ASSIGNMENT record',
        );
        if (level === 'logical') {
          assert.ok(
            sink.events.some((e) => e.kind === 'change' && e.topXid !== 0),
            'a top-level xid block',
          );
        }
      });

      test('the commit gate releases exactly the committed row changes of the workload', () => {
        const outputs: GateOutput[] = [];
        const gate = new CommitGate({ dbOid: fixture.dbOid }, (out) => outputs.push(out));
        interpretAll(bytes, start, fixture.segmentSize, new RecordingSink(gate));
        const rounds = fixture.records.filter(
          (r) => r.rmgr === 'XLOG' && r.type === 'CHECKPOINT_ONLINE',
        ).length;
        assertWorkloadReleases(outputs, fixture.records, fixture.tables, fixture.dbOid, rounds);
        assert.equal(gate.transactions, 0, 'nothing left open');
        assert.equal(gate.relations, 0);
      });

      test('any chunking and any page-aligned start read the same records', () => {
        const switchRecord = fixture.records.find((r) => r.type === 'SWITCH')!;
        const prefix = bytes.subarray(0, Number(parseLsnText(switchRecord.lsn) - start) + 64);
        const expectPrefix = records.filter((r) => parseLsnText(r.end) <= start + BigInt(prefix.byteLength));
        for (const size of [1, 7, 4093, 8199]) {
          const got = readAll(prefix, start, fixture.segmentSize, () => size);
          assert.deepEqual(got.slice(0, expectPrefix.length), expectPrefix, `chunks of ${size}`);
        }
        // Every page but the zero-filled ones after XLOG_SWITCH (they have no page header).
        let starts = 0;
        for (let page = start; page < start + BigInt(bytes.byteLength); page += BigInt(PAGE_SIZE)) {
          const at = Number(page - start);
          if (bytes[at] === 0 && bytes[at + 1] === 0) continue;
          const got = readAll(bytes.subarray(Number(page - start)), page, fixture.segmentSize, () => 1 << 20);
          assert.deepEqual(
            got,
            records.filter((r) => parseLsnText(r.lsn) > page),
            `start at ${formatWalPosition(page)}`,
          );
          starts++;
        }
        assert.ok(starts > 5, `${starts} start pages`);
      });
    });
  }
}

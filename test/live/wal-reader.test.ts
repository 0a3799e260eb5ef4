// The WAL reader on a live stream: a cluster of this run's major at wal_level = replica runs the scripted
// workload while a START_REPLICATION PHYSICAL connection (no slot) streams its WAL into WalReader; every
// record must agree with pg_walinspect on the same range (and with pg_waldump on 15), and the commit gate
// must release exactly the workload's committed changes.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CommitGate, type GateOutput } from '../../src/decode/wal/commit-gate.js';
import { interpretRecord } from '../../src/decode/wal/interpret.js';
import { formatWalPosition } from '../../src/decode/wal/position.js';
import { WalReader } from '../../src/decode/wal/reader.js';
import { PgConnection } from '../../src/transport/connection.js';
import { Cluster, type ClusterInfo, liveCluster } from '../support/cluster.js';
import { settingsFor } from '../support/live-connection.js';
import { waitFor } from '../support/wait.js';
import {
  assertWorkloadReleases,
  type ComparableRecord,
  comparableRecord,
  compressionMethods,
  parseLsnText,
  prepareWorkload,
  RecordingSink,
  runWorkload,
  tableFiles,
  WATCHED_DB,
  waldumpDirectory,
  walinspectRecords,
} from '../support/wal-oracle.js';

const PAGE = 8192n;

describe('WAL reader on a physical replication stream', { timeout: 180_000 }, () => {
  let info: ClusterInfo;
  let cluster: Cluster | undefined;
  let skip: string | undefined;
  before(async () => {
    info = await liveCluster();
    if (info.external) {
      skip = 'needs a cluster of its own (wal_level = replica, full_page_writes, prepared transactions)';
      return;
    }
    cluster = await Cluster.start({
      major: info.major,
      walLevel: 'replica',
      settings: { full_page_writes: 'on', max_prepared_transactions: 10 },
    });
  });
  after(() => cluster?.stop());

  test('every streamed record agrees with pg_walinspect (and pg_waldump on 15); the gate releases the committed changes', async (t) => {
    if (skip || !cluster) return t.skip(skip);
    const live = cluster.info;
    const { dbOid } = await prepareWorkload(live);
    const tablesBefore = await tableFiles(live);
    const [{ lsn, segsize, tli }] = (await cluster.sql(
      `SELECT pg_current_wal_insert_lsn()::text AS lsn,
              (SELECT setting::int FROM pg_settings WHERE name = 'wal_segment_size') AS segsize,
              (SELECT timeline_id FROM pg_control_checkpoint()) AS tli`,
    )) as [{ lsn: string; segsize: number; tli: number }];
    const start = (parseLsnText(lsn) / PAGE) * PAGE;

    const reader = new WalReader({ startLsn: start, segmentSize: segsize, major: live.major });
    const outputs: GateOutput[] = [];
    const sink = new RecordingSink(new CommitGate({ dbOid }, (out) => outputs.push(out)));
    const records: ComparableRecord[] = [];
    let expected = start;
    let failure: unknown;
    const connection = await PgConnection.connect(settingsFor(live, live.roles.replication), {
      replication: 'physical',
    });
    t.after(() => connection.abort());
    await connection.startReplication(
      `START_REPLICATION PHYSICAL ${formatWalPosition(start)} TIMELINE ${tli}`,
      {
        xlogData(message) {
          try {
            assert.equal(message.walStart, expected, 'the stream is contiguous');
            expected += BigInt(message.data.byteLength);
            reader.push(message.data);
            for (let record = reader.next(); record !== undefined; record = reader.next()) {
              records.push(comparableRecord(record));
              sink.lsn = formatWalPosition(record.lsn);
              interpretRecord(record, reader.major!, sink);
            }
          } catch (error) {
            failure ??= error;
          }
        },
        keepalive(message) {
          if (message.replyRequested) {
            connection.sendStatusUpdate({
              write: expected,
              flush: expected,
              apply: expected,
              replyRequested: false,
            });
          }
        },
      },
    );

    await runWorkload(live, { switchWal: true });
    const tablesAfter = await tableFiles(live);
    const [{ flush }] = (await cluster.sql('SELECT pg_current_wal_flush_lsn()::text AS flush')) as [
      { flush: string },
    ];
    const oracle = await walinspectRecords(live, WATCHED_DB, formatWalPosition(start), flush);
    const last = oracle[oracle.length - 1]!;
    await waitFor(() => failure !== undefined || records.some((r) => r.lsn === last.lsn), {
      timeoutMs: 30_000,
      what: `the stream to reach ${last.lsn}`,
    });
    if (failure !== undefined) throw failure;

    const ours = records.slice(0, oracle.length);
    for (const [i, expectedRecord] of oracle.entries()) {
      const { type: _type, desc: _desc, ...shape } = expectedRecord;
      const mine =
        live.major >= 16
          ? ours[i]
          : { ...ours[i]!, blocks: ours[i]!.blocks.map(({ dataLength: _d, imageLength: _l, ...b }) => b) };
      assert.deepEqual(mine, shape, `record #${i} at ${expectedRecord.lsn}`);
    }
    t.diagnostic(`PostgreSQL ${live.version}: ${oracle.length} streamed records agree with pg_walinspect`);
    console.log(`# PostgreSQL ${live.version}: ${oracle.length} streamed records agree with pg_walinspect`);

    const end = parseLsnText(last.end);
    if (live.major === 15) {
      // pg_waldump ships with the 15 package only; it reads the server's own segment files.
      const dumped = waldumpDirectory(join(cluster.dataDir, 'pg_wal'), start, end);
      assert.ok(dumped !== null, 'pg_waldump ships with PostgreSQL 15');
      assert.equal(dumped.length, oracle.length);
      for (const [i, d] of dumped.entries()) {
        const mine = ours[i]!;
        assert.deepEqual(
          [mine.lsn, mine.prev, mine.xid, mine.rmgr, mine.length, mine.fpiLength, mine.blocks.length],
          [d.lsn, d.prev, d.xid, d.rmgr, d.length, d.fpiLength, d.blocks.length],
          `record #${i} at ${d.lsn}`,
        );
      }
      console.log(`# PostgreSQL ${live.version}: ${dumped.length} streamed records agree with pg_waldump`);
    }

    const rounds = 1 + (await compressionMethods(live)).length;
    const released = outputs.filter((out) => out.endLsn <= end);
    assertWorkloadReleases(released, oracle, { before: tablesBefore, after: tablesAfter }, dbOid, rounds);
  });
});

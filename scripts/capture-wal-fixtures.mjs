#!/usr/bin/env node
// Records the golden WAL fixtures of the WAL reader: for each major and wal_level, boots a throwaway
// cluster with the test harness, runs the scripted workload (test/support/wal-oracle.ts), and writes
//   test/fixtures/wal/<major>/<level>.wal.gz    the WAL bytes of the captured range (gzip)
//   test/fixtures/wal/<major>/<level>.json.gz   the range, and pg_walinspect's view of every record
//                                               (plus pg_waldump's on 15)
//   node scripts/capture-wal-fixtures.mjs [15,16,17,18] [replica,logical]
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const majors = (process.argv[2] ?? '15,16,17,18').split(',').map(Number);
const levels = (process.argv[3] ?? 'replica,logical').split(',');

const tsc = spawnSync(
  process.execPath,
  [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')],
  {
    stdio: 'inherit',
  },
);
if (tsc.status !== 0) process.exit(1);

const load = (path) => import(pathToFileURL(join(root, 'build', path)).href);
const { Cluster } = await load('test/support/cluster.js');
const oracle = await load('test/support/wal-oracle.js');
const { formatWalPosition } = await load('src/decode/wal/position.js');

const PAGE = 8192n;

for (const major of majors) {
  for (const walLevel of levels) {
    const cluster = await Cluster.start({
      major,
      walLevel,
      settings: { full_page_writes: 'on', max_prepared_transactions: 10 },
    });
    try {
      const info = cluster.info;
      const { dbOid, otherDbOid } = await oracle.prepareWorkload(info);
      const before = await oracle.tableFiles(info);
      await cluster.sql('SELECT pg_switch_wal()');
      const [{ lsn, segsize, tli }] = await cluster.sql(
        `SELECT pg_current_wal_insert_lsn()::text AS lsn, (SELECT setting::int FROM pg_settings WHERE name = 'wal_segment_size') AS segsize,
                (SELECT timeline_id FROM pg_control_checkpoint()) AS tli`,
      );
      const start = (oracle.parseLsnText(lsn) / PAGE) * PAGE;
      await oracle.runWorkload(info, { switchWal: true });
      const after = await oracle.tableFiles(info);
      const [{ flush }] = await cluster.sql('SELECT pg_current_wal_flush_lsn()::text AS flush');
      const records = await oracle.walinspectRecords(
        info,
        oracle.WATCHED_DB,
        formatWalPosition(start),
        flush,
      );
      const end = oracle.parseLsnText(records[records.length - 1].end);
      const bytes = await oracle.readWalBytes(info, start, end, segsize, tli);
      const fixture = {
        major,
        version: info.version,
        walLevel,
        segmentSize: segsize,
        timeline: tli,
        startLsn: formatWalPosition(start),
        endLsn: formatWalPosition(end),
        dbOid,
        otherDbOid,
        records,
        tables: { before, after },
      };
      const dumped = oracle.waldumpRecords(bytes, start, end, segsize, tli);
      if (major === 15 && dumped !== null) fixture.waldump = dumped;
      const ours = oracle.readAll(bytes, start, segsize);
      const dir = join(root, 'test', 'fixtures', 'wal', String(major));
      mkdirSync(dir, { recursive: true });
      const wal = gzipSync(bytes, { level: 9 });
      const json = gzipSync(JSON.stringify(fixture), { level: 9 });
      writeFileSync(join(dir, `${walLevel}.wal.gz`), wal);
      writeFileSync(join(dir, `${walLevel}.json.gz`), json);
      console.log(
        `PostgreSQL ${info.version} ${walLevel}: ${fixture.startLsn}..${fixture.endLsn} (${bytes.byteLength} bytes, ${wal.byteLength} gzipped), ${records.length} records (pg_walinspect), ${dumped?.length ?? '-'} (pg_waldump), ${ours.length} read by the reader; metadata ${json.byteLength} bytes gzipped`,
      );
    } finally {
      cluster.stop();
    }
  }
}

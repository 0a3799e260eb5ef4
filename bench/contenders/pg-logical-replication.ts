// pg-logical-replication's LogicalReplicationService with its Wal2JsonPlugin, on a slot it creates
// first (the library streams from an existing slot). Asked for wal2json format 2 with the options
// pgnudge uses, so both read the same bytes: one JSON record per row change, which it counts.
import pg from 'pg';
import { LogicalReplicationService, Wal2JsonPlugin } from 'pg-logical-replication';
import { waitFor } from '../../test/support/wait.js';
import { login, tls } from './connection.js';
import type { Contender, Running, Sink, Target } from './contender.js';

interface Wal2JsonRecord {
  action: string;
  schema?: string;
  table?: string;
}

export const pgLogicalReplication: Contender = {
  name: 'pg-logical-replication',
  plugin: 'wal2json',
  countsRows: true,
  walsender: true,
  async start(target: Target, sink: Sink): Promise<Running> {
    const config = { ...login(target), ssl: tls(target) };
    const slot = `bench_plr_${process.pid}`;
    const admin = new pg.Client(config);
    await admin.connect();
    await admin.query("SELECT pg_create_logical_replication_slot($1, 'wal2json')", [slot]);
    const service = new LogicalReplicationService(config);
    service.on('start', () => sink.ready());
    service.on('error', (error) => sink.fail(error));
    service.on('data', (_lsn: string, record: Wal2JsonRecord) => {
      if (record.table !== undefined) sink.rows(`${record.schema}.${record.table}`, 1);
    });
    const plugin = new Wal2JsonPlugin({
      formatVersion: '2',
      includeTransaction: false,
      includeTypes: false,
    });
    const streaming = service.subscribe(plugin, slot).catch((error: unknown) => sink.fail(error));
    return {
      async close() {
        await service.destroy();
        await streaming;
        // The walsender lets go of the slot a moment after the connection ends.
        await waitFor(
          async () => {
            await admin.query('SELECT pg_drop_replication_slot($1)', [slot]);
            return true;
          },
          { timeoutMs: 10_000, what: `slot ${slot} to be dropped` },
        );
        await admin.end();
      },
    };
  },
};

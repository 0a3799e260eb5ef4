// The pgoutput decoder on a live stream: the scripted workload (test/support/pgoutput-workload.ts)
// runs while temporary pgoutput slots stream it over walsender connections started with the option
// command pgnudge builds (formatStartPgoutput), one per publication and option set; each decoder's
// counts per table must be exactly what the workload commits. On a cluster of its own (booted for
// this file on the runner's major): PREPARE TRANSACTION needs max_prepared_transactions, and
// logical_decoding_work_mem = 64kB makes the large transactions stream.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createPgoutputDecoder } from '../../src/decode/pgoutput.js';
import { type PgoutputChoices, resolvePgoutputOptions } from '../../src/decode/pgoutput-options.js';
import { ServerError } from '../../src/errors.js';
import { formatStartPgoutput } from '../../src/feed/commands.js';
import { PgConnection } from '../../src/transport/connection.js';
import { Cluster, type ClusterInfo, liveCluster, scratchDatabase } from '../support/cluster.js';
import { settingsFor } from '../support/live-connection.js';
import { RecordingSink, sortTotals } from '../support/pgoutput-record.js';
import {
  addTotal,
  expectedChanges,
  PUBLICATIONS,
  type PublicationKind,
  runSteps,
  SETUP_SQL,
} from '../support/pgoutput-workload.js';
import { waitFor, withDeadline } from '../support/wait.js';

let info: ClusterInfo;
let skip: string | undefined;
let cluster: Cluster | undefined;
let db: { name: string; drop(): Promise<void> };

before(async () => {
  info = await liveCluster();
  if (info.external) {
    skip = 'external server: this file boots a cluster of its own';
    return;
  }
  cluster = await Cluster.start({
    major: info.major,
    settings: { max_prepared_transactions: 8, logical_decoding_work_mem: "'64kB'" },
  });
  db = await scratchDatabase(cluster.info, 'pgoutput');
  await cluster.sql(SETUP_SQL, db.name);
});
after(() => cluster?.stop());

interface Variant {
  label: string;
  publication: PublicationKind;
  choices: PgoutputChoices;
  since: number;
}

const VARIANTS: Variant[] = [
  { label: 'FOR ALL TABLES, streaming on', publication: 'all', choices: {}, since: 15 },
  { label: 'publish_via_partition_root', publication: 'root', choices: {}, since: 15 },
  { label: 'key-only column list, binary', publication: 'keys', choices: { binary: true }, since: 15 },
  { label: 'FOR ALL TABLES, no streaming', publication: 'all', choices: { streaming: 'off' }, since: 15 },
  {
    label: 'FOR ALL TABLES, parallel streaming',
    publication: 'all',
    choices: { streaming: 'parallel' },
    since: 16,
  },
];

/** A walsender streaming a fresh temporary pgoutput slot into a decoder. */
async function openStream(variant: Variant, slot: string) {
  const connection = await PgConnection.connect(
    settingsFor(cluster!.info, cluster!.info.roles.replication, { database: db.name }),
    { replication: 'database' },
  );
  await connection.query(`CREATE_REPLICATION_SLOT ${slot} TEMPORARY LOGICAL pgoutput (SNAPSHOT 'nothing')`);
  const options = resolvePgoutputOptions(
    connection.serverVersionNum,
    PUBLICATIONS[variant.publication],
    variant.choices,
  );
  const decoder = createPgoutputDecoder();
  const sink = new RecordingSink();
  const types = new Map<string, number>();
  const aborts = new Set<number>();
  await withDeadline(
    connection.startReplication(formatStartPgoutput(slot, options), {
      xlogData: (message) => {
        const type = String.fromCharCode(message.data[0]!);
        types.set(type, (types.get(type) ?? 0) + 1);
        if (type === 'A') aborts.add(message.data.length);
        decoder.decode(message.data, sink);
      },
      keepalive: (message) => {
        if (message.replyRequested) {
          connection.sendStatusUpdate({
            write: message.walEnd,
            flush: message.walEnd,
            apply: message.walEnd,
            replyRequested: false,
          });
        }
      },
    }),
    10_000,
    `START_REPLICATION for ${variant.label}`,
  );
  return { connection, decoder, sink, types, aborts, options };
}

describe('pgoutput decoder on a live walsender stream', { timeout: 150_000 }, () => {
  test('every publication and option set counts exactly what the workload commits', async (t) => {
    if (skip) return t.skip(skip);
    const variants = VARIANTS.filter((variant) => info.major >= variant.since);
    const streams = await Promise.all(
      variants.map((variant, i) => openStream(variant, `pgoutput_live_${i}`)),
    );
    t.after(() => {
      for (const stream of streams) stream.connection.abort();
    });
    await runSteps(() => cluster!.client(db.name));
    // A last change every publication covers: once it is decoded, everything before it was.
    await cluster!.sql("INSERT INTO public.orders VALUES (999, 'end')", db.name);

    for (const [i, stream] of streams.entries()) {
      const variant = variants[i]!;
      const expected = expectedChanges(variant.publication);
      addTotal(expected, 'public.orders', 'insert', 1);
      await waitFor(() => JSON.stringify(stream.sink.totals()) === JSON.stringify(sortTotals(expected)), {
        timeoutMs: 60_000,
        what: `${variant.label}: the workload's counts (have ${JSON.stringify(stream.sink.totals())}, want ${JSON.stringify(sortTotals(expected))})`,
      });
      assert.equal(stream.sink.overflows, 0, variant.label);
      assert.equal(stream.decoder.heldTransactions, 0, variant.label);
      const shape = [...stream.types].map(([type, n]) => `${type}×${n}`).join(' ');
      t.diagnostic(
        `PostgreSQL ${cluster!.info.version}, proto_version ${stream.options.protoVersion}, ${variant.label}: ${shape}; Stream Abort sizes ${[...stream.aborts].join(', ') || 'none'}`,
      );
      if (stream.options.streaming !== 'off') {
        assert.ok(stream.types.has('S') && stream.types.has('c'), `${variant.label} streamed: ${shape}`);
      } else {
        assert.ok(!stream.types.has('S'), `${variant.label} did not stream: ${shape}`);
      }
      // Without two_phase, a prepared transaction arrives at COMMIT PREPARED like any other.
      assert.ok(!['b', 'P', 'K', 'r', 'p'].some((type) => stream.types.has(type)), shape);
    }
  });

  test('the protocol version pgnudge asks for is the highest the server accepts', async (t) => {
    if (skip) return t.skip(skip);
    const connection = await PgConnection.connect(
      settingsFor(cluster!.info, cluster!.info.roles.replication, { database: db.name }),
      { replication: 'database' },
    );
    t.after(() => connection.abort());
    const options = resolvePgoutputOptions(connection.serverVersionNum, PUBLICATIONS.all);
    assert.equal(options.protoVersion, info.major >= 16 ? 4 : 3);
    // An error in START_REPLICATION drops the session's temporary slot: each attempt makes its own.
    const start = async (protoVersion: number, slot: string) => {
      await connection.query(
        `CREATE_REPLICATION_SLOT ${slot} TEMPORARY LOGICAL pgoutput (SNAPSHOT 'nothing')`,
      );
      const command = formatStartPgoutput(slot, { ...options, protoVersion: protoVersion as 4 });
      await connection.startReplication(command, {
        xlogData: () => {},
        keepalive: () => {},
      });
    };
    const refused = await start(options.protoVersion + 1, 'pgoutput_live_above').then(
      () => undefined,
      (error: unknown) => error,
    );
    assert.ok(refused instanceof ServerError, `proto_version ${options.protoVersion + 1} was accepted`);
    assert.match(refused.message, new RegExp(`only supports? protocol ${options.protoVersion} or lower`));
    // The session survives the refusal, and the version pgnudge chose starts the stream.
    await withDeadline(
      start(options.protoVersion, 'pgoutput_live_chosen'),
      10_000,
      `START_REPLICATION with proto_version ${options.protoVersion}`,
    );
  });
});

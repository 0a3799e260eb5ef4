// Chaos with a no-lost-wakeup oracle (contract R1–R8, R11, R12, R20): a writer commits to four watched tables and
// a two-level partitioned table (with a partition created halfway through, then written to directly) at
// random intervals while faults hit a WalFeed at random moments — pg_terminate_backend of its walsender,
// fast and immediate server restarts, a blackholed link, a TCP reset, every replication slot taken for a
// while. Afterwards every commit must have been followed by a Batch naming its table or by a Resync, and
// nothing of the feed may be left on the server once it is closed. A cluster of its own (it restarts it),
// on the runner's major. PGNUDGE_CHAOS_SECONDS (default 60) sets the length, PGNUDGE_CHAOS_SEED replays
// the writer's and the injector's choices (not their timing); PGNUDGE_CHAOS_VERBOSE=1 prints the feed's
// log. The figures are printed either way. The run is test/support/chaos-run.ts; scripts/test.mjs gives a
// file 180 s, so run a soak on its own:
//   npm run build:test && PGNUDGE_TEST_PG=17 PGNUDGE_CHAOS_SECONDS=1800 node --test build/test/live/chaos.test.js
import { randomInt } from 'node:crypto';
import { before, test } from 'node:test';
import { WalFeed } from '../../src/index.js';
import { runChaos } from '../support/chaos-run.js';
import type { ChaosTable } from '../support/chaos-writer.js';
import { liveCluster, runSql, selectedMajors, serverInstall } from '../support/cluster.js';
import { waitFor } from '../support/wait.js';

const SECONDS = Number(process.env.PGNUDGE_CHAOS_SECONDS ?? 60);
const SEED = process.env.PGNUDGE_CHAOS_SEED ? Number(process.env.PGNUDGE_CHAOS_SEED) : randomInt(2 ** 31);
if (!Number.isSafeInteger(SEED) || !(SECONDS > 0)) {
  throw new Error('PGNUDGE_CHAOS_SEED must be an integer and PGNUDGE_CHAOS_SECONDS a positive number');
}
/** Small, so "every slot taken" is a handful of sessions; the feed needs one, plus one while an old one dies. */
const MAX_SLOTS = 4;
/** How long creating the partition may be held up by faults. */
const RECOVERY_MS = 30_000;

/**
 * A partitioned table watched by its root (contract R20): list partitions by a bucket the column default
 * picks, bucket 1 hash-partitioned again. Its changes come from the leaves and must wake `public.chaos_p`.
 */
const PARTITIONED: ChaosTable = { sql: 'public.chaos_p', payload: 'public.chaos_p' };
const PARTITIONED_DDL = `CREATE TABLE public.chaos_p (id bigserial, bucket int NOT NULL DEFAULT floor(random() * 2)::int, n int NOT NULL DEFAULT 0, note text, PRIMARY KEY (id, bucket)) PARTITION BY LIST (bucket);
CREATE TABLE public.chaos_p_0 PARTITION OF public.chaos_p FOR VALUES IN (0);
CREATE TABLE public.chaos_p_1 PARTITION OF public.chaos_p FOR VALUES IN (1) PARTITION BY HASH (id);
CREATE TABLE public.chaos_p_1a PARTITION OF public.chaos_p_1 FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE public.chaos_p_1b PARTITION OF public.chaos_p_1 FOR VALUES WITH (MODULUS 2, REMAINDER 1)`;
/**
 * The partition created halfway through: the root's default starts sending rows to it, and the writer
 * also writes to it directly (its own default keeps those rows in its bucket). Idempotent, since a fault
 * may hide whether a try committed.
 */
const NEW_PARTITION: ChaosTable = { sql: 'public.chaos_p_2', payload: 'public.chaos_p' };
const NEW_PARTITION_DDL = `CREATE TABLE IF NOT EXISTS public.chaos_p_2 PARTITION OF public.chaos_p (bucket DEFAULT 2) FOR VALUES IN (2);
ALTER TABLE public.chaos_p ALTER COLUMN bucket SET DEFAULT floor(random() * 3)::int`;

let major: number;
let skip: string | undefined;
before(async () => {
  if (process.env.PGNUDGE_TEST_DSN) {
    skip = 'external server: the chaos test restarts a cluster of its own';
  } else if (process.env.PGNUDGE_TEST_CLUSTER) {
    major = (await liveCluster()).major;
  } else {
    // Run on its own (a soak, past the runner's 180 s per file): boot only the cluster this test needs.
    const found = selectedMajors().find((m) => serverInstall(m) !== null);
    if (found === undefined) throw new Error('no PostgreSQL server is installed for live tests');
    major = found;
  }
});

test(`chaos: ${SECONDS} s of faults, no lost wakeup, no slot left`, {
  timeout: SECONDS * 1000 + 100_000,
}, async (t) => {
  if (skip) return t.skip(skip);
  let created: { seq: number; at: number } | null = null;
  await runChaos(t, {
    name: 'WalFeed',
    seconds: SECONDS,
    seed: SEED,
    major,
    walLevel: 'logical',
    settings: { max_replication_slots: MAX_SLOTS, max_wal_senders: 10 },
    faults: ['terminate', 'restart-fast', 'restart-immediate', 'blackhole', 'reset', 'slots'],
    tables: [PARTITIONED],
    ddl: PARTITIONED_DDL,
    openFeed: (options) => new WalFeed(options),
    // Creates the new partition (retried through faults) and has the writer write to it directly too.
    async halfway({ cluster, database, writer, timeline }) {
      await waitFor(
        () =>
          runSql(cluster.info, NEW_PARTITION_DDL, database).then(
            () => true,
            () => false,
          ),
        { timeoutMs: RECOVERY_MS, intervalMs: 200, what: 'the partition created during the run' },
      );
      created = timeline.stamp();
      writer.addTable(NEW_PARTITION);
    },
    report: (commits) => {
      const after = created?.seq ?? Number.POSITIVE_INFINITY;
      const root = commits.filter((commit) => commit.table === PARTITIONED.payload);
      return [
        `partitioned: ${root.length} commit(s) to ${PARTITIONED.payload}, ${root.filter((commit) => commit.sent.seq > after).length} after ${NEW_PARTITION.sql} was created at ${((created?.at ?? 0) / 1000).toFixed(3)} s`,
      ];
    },
  });
});

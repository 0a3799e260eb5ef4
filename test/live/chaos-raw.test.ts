// Chaos with the no-lost-wakeup oracle for a RawFeed (contract R27, R28 and §3), on a cluster of its own at
// wal_level = replica: pg_terminate_backend of its walsender and of its catalog connection, fast and
// immediate restarts, a blackholed link, a TCP reset, while a writer commits to four watched tables.
// Every commit must be followed by a Batch naming its table or by a Resync, and nothing of the feed may
// be left on the server once it is closed (no slot at any time). The run is test/support/chaos-run.ts.
// PGNUDGE_CHAOS_RAW_SECONDS (default 25) sets the length; PGNUDGE_CHAOS_SEED and PGNUDGE_CHAOS_VERBOSE as in
// chaos.test.ts.
import { randomInt } from 'node:crypto';
import { before, test } from 'node:test';
import { RawFeed } from '../../src/index.js';
import { runChaos } from '../support/chaos-run.js';
import { liveCluster, selectedMajors, serverInstall } from '../support/cluster.js';

const SECONDS = Number(process.env.PGNUDGE_CHAOS_RAW_SECONDS ?? 25);
const SEED = process.env.PGNUDGE_CHAOS_SEED ? Number(process.env.PGNUDGE_CHAOS_SEED) : randomInt(2 ** 31);
if (!Number.isSafeInteger(SEED) || !(SECONDS > 0)) {
  throw new Error('PGNUDGE_CHAOS_SEED must be an integer and PGNUDGE_CHAOS_RAW_SECONDS a positive number');
}

let major: number;
let skip: string | undefined;
before(async () => {
  if (process.env.PGNUDGE_TEST_DSN) {
    skip = 'external server: the chaos test restarts a cluster of its own';
  } else if (process.env.PGNUDGE_TEST_CLUSTER) {
    major = (await liveCluster()).major;
  } else {
    const found = selectedMajors().find((m) => serverInstall(m) !== null);
    if (found === undefined) throw new Error('no PostgreSQL server is installed for live tests');
    major = found;
  }
});

test(`chaos: a RawFeed, ${SECONDS} s of faults at wal_level = replica, no lost wakeup, nothing left`, {
  timeout: SECONDS * 1000 + 100_000,
}, async (t) => {
  if (skip) return t.skip(skip);
  await runChaos(t, {
    name: 'RawFeed',
    seconds: SECONDS,
    seed: SEED,
    major,
    walLevel: 'replica',
    settings: { max_wal_senders: 10 },
    faults: ['terminate', 'terminate-catalog', 'restart-fast', 'restart-immediate', 'blackhole', 'reset'],
    openFeed: (options) => new RawFeed(options),
  });
});

// Chaos with a no-lost-wakeup oracle (contract R1–R8, R11, R12): a writer commits to four watched tables at
// random intervals while faults hit a WalFeed at random moments — pg_terminate_backend of its walsender,
// fast and immediate server restarts, a blackholed link, a TCP reset, every replication slot taken for a
// while. Afterwards every commit must have been followed by a Batch naming its table or by a Resync, and
// the server must hold no replication slot once the feed is closed. A cluster of its own (it restarts it),
// on the runner's major; the run itself is test/support/chaos-run.ts (chaos-raw.test.ts runs a RawFeed).
// PGNUDGE_CHAOS_SECONDS (default 60) sets the length, PGNUDGE_CHAOS_SEED replays the writer's and the
// injector's choices (not their timing); PGNUDGE_CHAOS_VERBOSE=1 prints the feed's log. The figures are
// printed either way. scripts/test.mjs gives a file 180 s, so run a soak on its own:
//   npm run build:test && PGNUDGE_TEST_PG=17 PGNUDGE_CHAOS_SECONDS=1800 node --test build/test/live/chaos.test.js
import { randomInt } from 'node:crypto';
import { before, test } from 'node:test';
import { WalFeed } from '../../src/index.js';
import { runChaos } from '../support/chaos-run.js';
import { liveCluster, selectedMajors, serverInstall } from '../support/cluster.js';

const SECONDS = Number(process.env.PGNUDGE_CHAOS_SECONDS ?? 60);
const SEED = process.env.PGNUDGE_CHAOS_SEED ? Number(process.env.PGNUDGE_CHAOS_SEED) : randomInt(2 ** 31);
if (!Number.isSafeInteger(SEED) || !(SECONDS > 0)) {
  throw new Error('PGNUDGE_CHAOS_SEED must be an integer and PGNUDGE_CHAOS_SECONDS a positive number');
}
/** Small, so "every slot taken" is a handful of sessions; the feed needs one, plus one while an old one dies. */
const MAX_SLOTS = 4;

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
  await runChaos(t, {
    name: 'WalFeed',
    seconds: SECONDS,
    seed: SEED,
    major,
    walLevel: 'logical',
    settings: { max_replication_slots: MAX_SLOTS, max_wal_senders: 10 },
    faults: ['terminate', 'restart-fast', 'restart-immediate', 'blackhole', 'reset', 'slots'],
    openFeed: (options) => new WalFeed(options),
  });
});

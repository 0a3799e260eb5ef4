// Resource hygiene (issue 8): 1,000 connect/close cycles leave no sockets, file descriptors, handles or
// timers behind in the process and no heap growth beyond noise, and nothing on the server: no backend
// of the cycling role, no replication slot (contract R10, R12).
//
// The mix, 1,000 cycles in all: 700 plain sessions over verified TLS with SCRAM (connect, end), 280
// walsender sessions (replication=database, connect, end), 20 WalFeeds (open, first Resync, close).
// Plain cycles cost a TLS handshake, a SCRAM exchange and a server fork (tens of ms); a feed cycle also
// creates a logical slot, which waits for every transaction running on the server, and other files run
// concurrently, so feeds are the fewest. Four cycles run at once. Baseline after a warm-up, so lazy
// initialisation (TLS contexts, JIT, module state) does not count as growth.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { WalFeed } from '../../src/index.js';
import { PgConnection, type ReplicationMode } from '../../src/transport/connection.js';
import { type ClusterInfo, liveCluster, type Role, runSql, scratchDatabase } from '../support/cluster.js';
import { feedConnection, slotsIn } from '../support/feed-probe.js';
import { settingsFor } from '../support/live-connection.js';
import { waitFor, withDeadline } from '../support/wait.js';

const MIX = { tls: 700, replication: 280, feed: 20 } as const;
const WARM_UP = { tls: 20, replication: 10, feed: 2 } as const;
const PARALLEL = 4;
// Tolerances. Heap: 2 MB over 1,000 cycles is 2 KB per cycle; a leaked socket, TLS session or feed
// costs more than that, while the heap after a full GC wanders by a few hundred KB. Descriptors and
// active resources: none may remain once the sockets have finished closing.
const HEAP_TOLERANCE_BYTES = 2 * 1024 * 1024;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

let info: ClusterInfo;
let db: { name: string; drop(): Promise<void> };
let role: Role;
const applicationName = `pgnudge-hygiene-${randomBytes(4).toString('hex')}`;

before(async () => {
  info = await liveCluster();
  db = await scratchDatabase(info, 'hygiene');
  // A role of its own, so "no backend of this role left" cannot see other test files' sessions.
  role = { user: `hygiene_${randomBytes(4).toString('hex')}`, password: randomBytes(12).toString('hex') };
  await runSql(info, `CREATE ROLE ${role.user} LOGIN REPLICATION PASSWORD '${role.password}'`);
});
after(async () => {
  await db?.drop();
  if (role) await runSql(info, `DROP ROLE IF EXISTS ${role.user}`).catch(() => {});
});

interface Snapshot {
  fds: number | null;
  resources: Record<string, number>;
  heapBytes: number;
}

function snapshot(): Snapshot {
  gc();
  gc();
  const resources: Record<string, number> = {};
  for (const type of process.getActiveResourcesInfo()) resources[type] = (resources[type] ?? 0) + 1;
  let fds: number | null = null;
  try {
    fds = readdirSync('/proc/self/fd').length;
  } catch {}
  return { fds, resources, heapBytes: process.memoryUsage().heapUsed };
}

/** Types of active resource whose count grew since `base`. */
function grown(base: Snapshot, now: Snapshot): string[] {
  return Object.entries(now.resources)
    .filter(([type, count]) => count > (base.resources[type] ?? 0))
    .map(([type, count]) => `${type} ${base.resources[type] ?? 0}→${count}`);
}

async function sessionCycle(replication: ReplicationMode): Promise<void> {
  const settings = settingsFor(info, role, {
    database: db.name,
    applicationName,
    ...(info.caFile ? { sslmode: 'verify-full', sslrootcert: info.caFile } : {}),
  });
  const connection = await PgConnection.connect(settings, { replication });
  if (info.caFile) assert.equal(connection.tls, true);
  assert.match(connection.authMethod, /^SCRAM-SHA-256/);
  await connection.end();
}

async function feedCycle(): Promise<void> {
  const plugin = info.plugins.includes('wal2json') ? 'wal2json' : 'test_decoding';
  const feed = new WalFeed({ ...feedConnection(info, db.name, role), applicationName, plugin });
  try {
    const first = await withDeadline(feed[Symbol.asyncIterator]().next(), 30_000, 'the first Resync');
    assert.equal(first.value?.type, 'resync');
  } finally {
    await feed.close();
  }
}

/** Runs every cycle of `mix`, `PARALLEL` at a time, each kind spread evenly over the run. */
async function cycles(mix: { tls: number; replication: number; feed: number }): Promise<void> {
  const run = {
    tls: () => sessionCycle('off'),
    replication: () => sessionCycle('database'),
    feed: feedCycle,
  };
  const planned = Object.entries(mix)
    .flatMap(([kind, count]) =>
      Array.from({ length: count }, (_, j) => ({ kind: kind as keyof typeof run, at: (j + 0.5) / count })),
    )
    .sort((a, b) => a.at - b.at);
  let next = 0;
  const worker = async () => {
    while (next < planned.length) await run[planned[next++]!.kind]();
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));
}

async function serverSessions(): Promise<number> {
  const [row] = await runSql<{ n: string }>(
    info,
    `SELECT count(*)::text AS n FROM pg_stat_activity WHERE usename = '${role.user}'`,
  );
  return Number(row?.n ?? -1);
}

// 1,000 sessions cost the server a backend start and the client a handshake each: 71–115 s on a quiet
// 2-core CI with the other majors' suites beside it, and past 150 s on a loaded one. What is tested is
// what they leave behind, not their speed.
test('1,000 connect/close cycles leave nothing behind, in the process or on the server', {
  timeout: 300_000,
}, async (t) => {
  await cycles(WARM_UP);
  await waitFor(async () => (await serverSessions()) === 0, { what: 'the warm-up sessions to end' });
  const base = snapshot();

  // Two halves: growth that continues into the second half is a leak, not a one-off cache fill.
  const half = { tls: MIX.tls / 2, replication: MIX.replication / 2, feed: MIX.feed / 2 };
  const started = performance.now();
  await cycles(half);
  const middle = snapshot();
  await cycles(half);
  const seconds = (performance.now() - started) / 1000;

  // Sockets finish closing a loop turn or two after end(); wait for that, with a deadline.
  let end = snapshot();
  await waitFor(
    () => {
      end = snapshot();
      return (end.fds === null || end.fds <= (base.fds ?? 0)) && grown(base, end).length === 0;
    },
    { what: 'descriptors and handles to return to the baseline', timeoutMs: 10_000 },
  ).catch(() => {});
  const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(2);
  const figures =
    `${MIX.tls + MIX.replication + MIX.feed} cycles (${MIX.tls} TLS+SCRAM sessions, ${MIX.replication} ` +
    `replication=database, ${MIX.feed} WalFeed open/Resync/close; ${PARALLEL} at a time) in ${seconds.toFixed(1)} s; ` +
    `fds ${base.fds}→${end.fds}; active resources ${JSON.stringify(base.resources)}→${JSON.stringify(end.resources)}; ` +
    `heap after GC ${mb(base.heapBytes)}→${mb(middle.heapBytes)}→${mb(end.heapBytes)} MB`;
  t.diagnostic(figures);

  assert.ok(end.fds === null || base.fds === null || end.fds <= base.fds, `descriptors grew: ${figures}`);
  assert.deepEqual(grown(base, end), [], `active resources grew: ${figures}`);
  assert.ok(end.heapBytes - base.heapBytes < HEAP_TOLERANCE_BYTES, `heap grew beyond noise: ${figures}`);

  // The server notices each closed socket on its own schedule; every backend of the role must go.
  await waitFor(async () => (await serverSessions()) === 0, {
    what: `every backend of ${role.user} to end`,
    timeoutMs: 15_000,
  });
  assert.deepEqual(await slotsIn(info, db.name), []);
});

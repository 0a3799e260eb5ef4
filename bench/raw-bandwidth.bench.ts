// What a RawFeed costs the network: it receives the whole cluster's WAL, so its bandwidth is the server's
// WAL rate, whatever it watches (docs/rawfeed.md quotes these figures). A cluster at wal_level = replica
// with full_page_writes on (the server default; the test harness turns it off), a RawFeed watching one
// table, and a writer committing at a fixed rate to a table with a primary key, in three windows:
// single-row INSERTs, single-row UPDATEs of random rows of 100,000, and the UPDATEs again right after a
// CHECKPOINT (every page's first change after it carries a full 8 kB image). For each window: the WAL
// written (pg_current_wal_lsn), the bytes this process read (rchar: the RawFeed's two connections and
// the writer's replies), once the feed has counted every change. Asserts nothing. Run: npm run bench raw-bandwidth
//   PGNUDGE_BENCH_PG=17            the major
//   PGNUDGE_BENCH_RATE=500         commits per second
//   PGNUDGE_BENCH_WINDOW_S=10      seconds per window
import { setTimeout as sleep } from 'node:timers/promises';
import { RawFeed } from '../src/index.js';
import { Cluster, scratchDatabase, serverInstall } from '../test/support/cluster.js';
import { feedConnection } from '../test/support/feed-probe.js';
import { waitFor } from '../test/support/wait.js';
import { nowMs, pgClient, readBytes } from './support/measure.js';

const RATE = Number(process.env.PGNUDGE_BENCH_RATE ?? 500);
const WINDOW_S = Number(process.env.PGNUDGE_BENCH_WINDOW_S ?? 10);
const major =
  Number(process.env.PGNUDGE_BENCH_PG ?? 0) || [17, 18, 16, 15].find((m) => serverInstall(m) !== null);
if (major === undefined) throw new Error('no PostgreSQL server is installed (see README: Testing)');

const cluster = await Cluster.start({ major, walLevel: 'replica', settings: { full_page_writes: 'on' } });
const db = await scratchDatabase(cluster.info, 'bench_raw');
const admin = pgClient(cluster.info, db.name);
await admin.connect();
await admin.query(
  `CREATE TABLE orders (id bigserial PRIMARY KEY, customer int NOT NULL, note text NOT NULL);
   INSERT INTO orders (customer, note) SELECT g % 1000, 'order ' || g FROM generate_series(1, 100000) g;
   CREATE TABLE watched (id int)`,
);
await admin.query('VACUUM ANALYZE orders');
// Lifecycle lines (a reconnect, a Resync and why) go to stderr: a window that ends in one is a finding.
const log = (line: string) => console.error(line);
const feed = new RawFeed({
  ...feedConnection(cluster.info, db.name),
  tables: ['public.orders'],
  logger: { debug() {}, info: log, warn: log, error: log },
});
let counted = 0;
let connected = false;
let resyncs = 0;
const consumed = (async () => {
  for await (const item of feed) {
    if (item.type === 'resync') {
      if (connected) resyncs += 1;
      connected = true;
    } else for (const event of item.events) counted += event.count;
  }
})();
await waitFor(() => connected, { timeoutMs: 30_000, what: 'the RawFeed to connect' });

async function lsn(): Promise<bigint> {
  const { rows } = await admin.query<{ n: string }>("SELECT (pg_current_wal_lsn() - '0/0')::text AS n");
  return BigInt(rows[0]!.n);
}

/** Runs `statement()` RATE times a second for WINDOW_S seconds; returns the window's figures. */
async function window(name: string, statement: () => string, before?: string) {
  const writer = pgClient(cluster.info, db.name);
  await writer.connect();
  if (before) await admin.query(before);
  const counted0 = counted;
  const resyncs0 = resyncs;
  const wal0 = await lsn();
  const read0 = readBytes(process.pid);
  const start = nowMs();
  let commits = 0;
  while (nowMs() - start < WINDOW_S * 1000) {
    await writer.query(statement());
    commits += 1;
    const ahead = commits / RATE - (nowMs() - start) / 1000;
    if (ahead > 0) await sleep(ahead * 1000);
  }
  const seconds = (nowMs() - start) / 1000;
  await writer.end();
  const wal = Number((await lsn()) - wal0);
  // A Resync stands for the changes it covers (coarser, never wrong): then the window's counts fall short.
  await waitFor(() => counted - counted0 >= commits || resyncs > resyncs0, {
    timeoutMs: 60_000,
    what: `${name}: every change or a Resync`,
  });
  const read = readBytes(process.pid) - read0;
  return {
    window: name,
    commits_per_s: Math.round(commits / seconds),
    wal_bytes_per_commit: Math.round(wal / commits),
    wal_kb_per_s: Math.round(wal / seconds / 1024),
    read_kb_per_s: Math.round(read / seconds / 1024),
    counted: counted - counted0,
    resyncs: resyncs - resyncs0,
  };
}

// The row is picked here, not with random() in SQL, which would be evaluated per row of a sequential
// scan and update none or several: every commit changes exactly one row.
const updateOne = () =>
  `UPDATE orders SET note = 'changed ' || now() WHERE id = ${1 + Math.floor(Math.random() * 100_000)}`;

try {
  const results = [
    await window(
      'INSERT',
      () => "INSERT INTO orders (customer, note) VALUES (7, 'a new order of a few words')",
    ),
    await window('UPDATE', updateOne),
    await window('UPDATE after CHECKPOINT', updateOne, 'CHECKPOINT'),
  ];
  console.log(
    `PostgreSQL ${cluster.info.version}, wal_level = replica, full_page_writes = on, ${RATE} commits/s target, ${WINDOW_S} s windows`,
  );
  console.table(results);
} finally {
  await feed.close();
  await consumed.catch(() => {});
  await admin.end();
  await db.drop();
  cluster.stop();
}

// contract R21 against a real server: settings of the role or the database cannot silence a wakeup. wal2json
// reports an UPDATE of a table without a replica identity only as a WARNING notice, which
// `client_min_messages = error` would drop; the walsender's startup packet pins it back. A dedicated role
// and database per test, so the shared roles keep their settings.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { WalFeed } from '../../src/index.js';
import { PgConnection } from '../../src/transport/connection.js';
import {
  type ClusterInfo,
  liveCluster,
  pluginUnavailable,
  type Role,
  runSql,
  scratchDatabase,
} from '../support/cluster.js';
import { FeedProbe, feedConnection } from '../support/feed-probe.js';
import { settingsFor } from '../support/live-connection.js';

let info: ClusterInfo;
const cleanups: (() => Promise<unknown>)[] = [];
before(async () => {
  info = await liveCluster();
});
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

/** A LOGIN REPLICATION role of this test's own, dropped after the file. */
async function dedicatedRole(): Promise<Role> {
  const role = {
    user: `nudge_r21_${randomBytes(4).toString('hex')}`,
    password: randomBytes(12).toString('hex'),
  };
  await runSql(info, `CREATE ROLE ${role.user} LOGIN REPLICATION PASSWORD '${role.password}'`);
  cleanups.push(() => runSql(info, `DROP ROLE IF EXISTS ${role.user}`));
  return role;
}

/** A scratch database with a table without a primary key (replica identity DEFAULT: nothing to identify). */
async function databaseWithNopk(): Promise<string> {
  const db = await scratchDatabase(info, 'r21');
  cleanups.push(() => db.drop());
  await runSql(
    info,
    'CREATE TABLE public.nopk (id int, v int); INSERT INTO public.nopk VALUES (1, 1), (2, 2)',
    db.name,
  );
  return db.name;
}

/** What `SHOW client_min_messages` says on a session of `replication` kind opened by pgnudge. */
async function shownOn(
  role: Role,
  database: string,
  replication: 'off' | 'database',
): Promise<string | null | undefined> {
  const connection = await PgConnection.connect(settingsFor(info, role, { database }), { replication });
  try {
    const [result] = await connection.query('SHOW client_min_messages');
    return result?.rows[0]?.[0];
  } finally {
    connection.abort();
  }
}

/** Opens a wal2json feed on `database` as `role`, UPDATEs both rows, and waits for the two wakeups. */
async function updateIsNudged(
  t: { after(fn: () => unknown): void },
  role: Role,
  database: string,
): Promise<void> {
  const feed = new WalFeed({
    ...feedConnection(info, database, role),
    plugin: 'wal2json',
    tables: ['public.nopk'],
    debounce: 5,
  });
  const probe = new FeedProbe(feed);
  t.after(() => feed.close());
  await probe.resync('connected');
  const from = probe.mark();
  await runSql(info, 'UPDATE public.nopk SET v = v + 1', database);
  await probe.counted('public.nopk', 2, from);
}

describe('contract R21: role and database settings cannot silence a wakeup', { timeout: 60_000 }, () => {
  test('ALTER ROLE … SET client_min_messages = error: the UPDATE of a table without a key still nudges', async (t) => {
    const skip = pluginUnavailable(info, 'wal2json');
    if (skip) return t.skip(skip);
    const role = await dedicatedRole();
    const database = await databaseWithNopk();
    await runSql(info, `ALTER ROLE ${role.user} SET client_min_messages = error`);
    // The setting holds on an ordinary session; the walsender's startup packet outranks it.
    assert.equal(await shownOn(role, database, 'off'), 'error');
    assert.equal(await shownOn(role, database, 'database'), 'notice');
    await updateIsNudged(t, role, database);
  });

  test('ALTER DATABASE … SET client_min_messages = error: the same', async (t) => {
    const skip = pluginUnavailable(info, 'wal2json');
    if (skip) return t.skip(skip);
    const role = await dedicatedRole();
    const database = await databaseWithNopk();
    await runSql(info, `ALTER DATABASE ${database} SET client_min_messages = error`);
    assert.equal(await shownOn(role, database, 'off'), 'error');
    assert.equal(await shownOn(role, database, 'database'), 'notice');
    await updateIsNudged(t, role, database);
  });
});

// The bridge election's primitives against a real server (contract R29), before any bridge uses them: a
// REPLICATION role creates the channel's TEMPORARY PHYSICAL election slot over replication=database and
// publishes signed messages on that same session; a second gets "already exists" (taken); a LOGIN role
// can neither create, squat nor drop it, nor hold it up with an open transaction; the slot retains no
// WAL and dies with its session.
import assert from 'node:assert/strict';
import { after, before, describe, type TestContext, test } from 'node:test';
import { PgnudgeError, ServerError } from '../../src/errors.js';
import { ChannelKey } from '../../src/fanout/auth.js';
import { formatListen, formatNotify } from '../../src/fanout/channel.js';
import {
  classifyElectionError,
  electionSlotName,
  formatCreateElectionSlot,
} from '../../src/fanout/election.js';
import { newBridgeId, openWireMessage, WireEncoder } from '../../src/fanout/wire.js';
import type { Notification, PgConnection } from '../../src/transport/connection.js';
import { type ClusterInfo, liveCluster, runSql, scratchDatabase } from '../support/cluster.js';
import { openConnection, refusal, settingsFor } from '../support/live-connection.js';
import { waitFor, withDeadline } from '../support/wait.js';

const TEST = { timeout: 60_000 } as const;

let info: ClusterInfo;
let db: { name: string; drop(): Promise<void> };
let count = 0;

before(async () => {
  info = await liveCluster();
  db = await scratchDatabase(info, 'election');
});

after(async () => {
  await db?.drop();
});

/** A fresh channel and its election slot name, with a secret. */
function election(): { channel: string; key: ChannelKey; slot: string } {
  count += 1;
  const channel = `Election ${count} ${process.pid}`;
  const key = ChannelKey.derive('a live-test secret of enough bytes', channel);
  return { channel, key, slot: electionSlotName({ channel, database: db.name, key }) };
}

function connect(t: TestContext, role: 'replication' | 'login', replication: 'database' | 'off') {
  return openConnection(t, settingsFor(info, info.roles[role], { database: db.name }), { replication });
}

async function slotRow(slot: string): Promise<Record<string, unknown> | undefined> {
  const rows = await runSql(
    info,
    `SELECT slot_type, temporary, restart_lsn, xmin, active_pid FROM pg_replication_slots WHERE slot_name = '${slot}'`,
  );
  return rows[0];
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  assert.fail('expected the command to fail');
}

describe('election slot', () => {
  test(
    'the first REPLICATION session wins; a second is told "taken"; the slot holds nothing',
    TEST,
    async (t) => {
      const { slot } = election();
      const active = await connect(t, 'replication', 'database');
      await active.query(formatCreateElectionSlot(slot));
      const row = await slotRow(slot);
      assert.deepEqual(
        { ...row, active_pid: typeof row?.active_pid },
        { slot_type: 'physical', temporary: true, restart_lsn: null, xmin: null, active_pid: 'number' },
      );
      const standby = await connect(t, 'replication', 'database');
      const error = await rejection(standby.query(formatCreateElectionSlot(slot)));
      assert.ok(error instanceof ServerError && error.sqlState === '42710', String(error));
      assert.equal(classifyElectionError(error), 'taken');
      // The standby's session survives the refusal and can retry.
      assert.deepEqual((await standby.query('SELECT 1'))[0]?.rows, [['1']]);
    },
  );

  test('the slot dies with its session, and the standby then wins', TEST, async (t) => {
    const { slot } = election();
    const active = await connect(t, 'replication', 'database');
    await active.query(formatCreateElectionSlot(slot));
    const standby = await connect(t, 'replication', 'database');
    assert.equal(
      classifyElectionError(await rejection(standby.query(formatCreateElectionSlot(slot)))),
      'taken',
    );
    active.abort();
    await waitFor(async () => (await slotRow(slot)) === undefined, {
      what: 'the slot to go with its session',
    });
    await standby.query(formatCreateElectionSlot(slot));
    assert.equal((await slotRow(slot))?.temporary, true);
  });

  test(
    'the holder publishes signed messages on the same session; a LOGIN listener verifies them',
    TEST,
    async (t) => {
      const { channel, key, slot } = election();
      const listener = await connect(t, 'login', 'off');
      const heard: Notification[] = [];
      listener.onNotification((notification) => heard.push(notification));
      await listener.query(formatListen(channel));
      const active = await connect(t, 'replication', 'database');
      await active.query(formatCreateElectionSlot(slot));
      const wire = new WireEncoder({ bridgeId: newBridgeId(), key });
      const events = [
        { table: `odd "schema".t'able\\`, key: ['42', 'a,b'], count: 2, firstSeenMs: Date.now() - 5 },
      ];
      await active.query(
        formatNotify(channel, [...wire.resync('connected', Date.now()), ...wire.batch(events, Date.now())]),
      );
      await waitFor(() => heard.length === 2, { what: 'both notifications' });
      const messages = heard.map((notification) => openWireMessage(notification.payload, key));
      assert.deepEqual(
        messages.map((result) => result.ok && result.message.kind),
        ['resync', 'batch'],
      );
      const batch = messages[1];
      assert.ok(batch?.ok && batch.message.kind === 'batch');
      assert.deepEqual(batch.message.events, events);
    },
  );

  test('a LOGIN role cannot create, squat on or drop the election slot', TEST, async (t) => {
    const { slot } = election();
    const denied = await refusal(settingsFor(info, info.roles.login, { database: db.name }), {
      replication: 'database',
    });
    assert.equal(denied.code, 'PGNUDGE_ERR_REPLICATION_DENIED');
    const login = await connect(t, 'login', 'off');
    for (const sql of [
      `SELECT pg_create_physical_replication_slot('${slot}', false, true)`,
      `SELECT pg_create_logical_replication_slot('${slot}', 'test_decoding', true)`,
    ]) {
      const error = await rejection(login.query(sql));
      assert.ok(error instanceof ServerError && error.sqlState === '42501', `${sql}: ${String(error)}`);
    }
    const active = await connect(t, 'replication', 'database');
    await active.query(formatCreateElectionSlot(slot));
    const error = await rejection(login.query(`SELECT pg_drop_replication_slot('${slot}')`));
    assert.ok(error instanceof ServerError && error.sqlState === '42501', String(error));
    assert.equal((await slotRow(slot))?.slot_type, 'physical');
  });

  test("a LOGIN role's open transaction does not hold up the election", TEST, async (t) => {
    const { slot } = election();
    const login: PgConnection = await connect(t, 'login', 'off');
    // A transaction with an xid: what makes a logical slot's creation wait until it ends.
    await login.query('BEGIN; CREATE TEMP TABLE hold (x int); INSERT INTO hold VALUES (1)');
    const active = await connect(t, 'replication', 'database');
    await withDeadline(
      active.query(formatCreateElectionSlot(slot)),
      20_000,
      'the election slot behind an open transaction',
    );
    const [state] = await runSql<{ state: string }>(
      info,
      `SELECT state FROM pg_stat_activity WHERE pid = ${login.processId}`,
    );
    assert.equal(
      state?.state,
      'idle in transaction',
      'the transaction was still open while the slot was created',
    );
    await login.query('ROLLBACK');
  });

  test('errors other than "already exists" are not a lost election', TEST, async (t) => {
    const replication = await connect(t, 'replication', 'database');
    const error = await rejection(replication.query('CREATE_REPLICATION_SLOT "Bad Name" TEMPORARY PHYSICAL'));
    assert.ok(error instanceof PgnudgeError);
    assert.equal(classifyElectionError(error), 'error');
  });
});

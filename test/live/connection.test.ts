// Live tests of the connection shell as a session: simple query on plain and walsender sessions, errors and
// notices, the CopyBoth replication stream and its temporary slot, multiple hosts, connect_timeout and
// AbortSignal (contract R10, R12, §4).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { before, describe, type TestContext, test } from 'node:test';
import { ConnectionError, PgnudgeError, ServerError } from '../../src/errors.js';
import type { PrimaryKeepalive } from '../../src/protocol/replication.js';
import { PgConnection, type ReplicationMode } from '../../src/transport/connection.js';
import {
  type ClusterInfo,
  liveCluster,
  pluginUnavailable,
  runSql,
  scratchDatabase,
} from '../support/cluster.js';
import {
  answerKeepalive,
  closedPort,
  DEADLINE,
  openConnection,
  refusal,
  settingsFor,
} from '../support/live-connection.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { waitFor, withDeadline } from '../support/wait.js';

let info: ClusterInfo;
before(async () => {
  info = await liveCluster();
});

const SESSIONS: ReplicationMode[] = ['off', 'database'];

/** A proxy to the cluster that accepts TCP and never passes a byte on; closed when the test ends. */
async function silentProxy(t: TestContext): Promise<TcpProxy> {
  const proxy = await TcpProxy.start({ host: info.host, port: info.port });
  t.after(() => proxy.close());
  proxy.blackhole();
  return proxy;
}

function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

describe('connection shell: queries', () => {
  for (const replication of SESSIONS) {
    const kind = replication === 'off' ? 'plain session' : 'replication=database session';

    test(`SELECT 1 returns text rows and the command tag (${kind})`, DEADLINE, async (t) => {
      const connection = await openConnection(t, settingsFor(info, info.roles.replication), { replication });
      const results = await connection.query('SELECT 1');
      assert.deepEqual(results, [{ tag: 'SELECT 1', fields: ['?column?'], rows: [['1']] }]);
    });

    test(`several statements give one result each, NULL as null (${kind})`, DEADLINE, async (t) => {
      const connection = await openConnection(t, settingsFor(info, info.roles.replication), { replication });
      const results = await connection.query("SELECT 1; SELECT 'a' AS letter, NULL AS nothing");
      assert.deepEqual(results, [
        { tag: 'SELECT 1', fields: ['?column?'], rows: [['1']] },
        { tag: 'SELECT 1', fields: ['letter', 'nothing'], rows: [['a', null]] },
      ]);
    });

    test(
      `a failing statement rejects with a ServerError and the session stays usable (${kind})`,
      DEADLINE,
      async (t) => {
        const connection = await openConnection(t, settingsFor(info, info.roles.replication), {
          replication,
        });
        await assert.rejects(connection.query('SELECT * FROM pgnudge_no_such_table'), (error: unknown) => {
          assert.ok(error instanceof ServerError, `expected ServerError, got ${String(error)}`);
          assert.equal(error.sqlState, '42P01');
          assert.equal(error.code, 'PGNUDGE_ERR_SERVER');
          assert.equal(error.severity, 'ERROR');
          return true;
        });
        assert.deepEqual((await connection.query('SELECT 2'))[0]?.rows, [['2']]);
        assert.equal(connection.closed, false);
      },
    );

    test(`notices are logged and do not disturb the query (${kind})`, DEADLINE, async (t) => {
      const debug: string[] = [];
      const logger = {
        enabled: (level: string) => level === 'debug',
        trace() {},
        debug: (message: string) => debug.push(message),
        info() {},
        warn() {},
        error() {},
      };
      const connection = await openConnection(t, settingsFor(info, info.roles.replication), {
        replication,
        logger,
      });
      const results = await connection.query("DO $$ BEGIN RAISE NOTICE 'pgnudge notice x'; END $$; SELECT 3");
      assert.deepEqual(results, [
        { tag: 'DO', fields: [], rows: [] },
        { tag: 'SELECT 1', fields: ['?column?'], rows: [['3']] },
      ]);
      assert.ok(
        debug.some((line) => line.includes('pgnudge notice x')),
        `notice not logged: ${debug.join(' | ')}`,
      );
    });
  }

  test('queries issued together run one at a time, in order', DEADLINE, async (t) => {
    const connection = await openConnection(t, settingsFor(info, info.roles.replication));
    const answers = await Promise.all(
      ['1', '2', '3', '4'].map((n) => connection.query(`SELECT ${n}, pg_sleep(0.01)`)),
    );
    assert.deepEqual(
      answers.map((results) => results[0]?.rows[0]?.[0]),
      ['1', '2', '3', '4'],
    );
  });

  test('an empty query resolves with no results', DEADLINE, async (t) => {
    const connection = await openConnection(t, settingsFor(info, info.roles.replication));
    assert.deepEqual(await connection.query(''), []);
  });

  test(
    'IDENTIFY_SYSTEM over replication=database returns systemid, timeline, xlogpos and dbname',
    DEADLINE,
    async (t) => {
      const connection = await openConnection(t, settingsFor(info, info.roles.replication), {
        replication: 'database',
      });
      const [result] = await connection.query('IDENTIFY_SYSTEM');
      assert.equal(result?.tag, 'IDENTIFY_SYSTEM');
      assert.deepEqual(result?.fields, ['systemid', 'timeline', 'xlogpos', 'dbname']);
      const [systemid, timeline, xlogpos, dbname] = result?.rows[0] ?? [];
      assert.match(systemid ?? '', /^\d+$/);
      assert.match(timeline ?? '', /^\d+$/);
      assert.match(xlogpos ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
      assert.equal(dbname, 'postgres');
    },
  );

  test('the session reports server parameters and the version', DEADLINE, async (t) => {
    const connection = await openConnection(t, settingsFor(info, info.roles.replication));
    assert.equal(connection.parameters.get('client_encoding'), 'UTF8');
    assert.equal(connection.parameters.get('application_name'), 'pgnudge');
    if (!info.external) assert.equal(Math.floor(connection.serverVersionNum / 10000), info.major);
  });

  test('end() says goodbye and the server session goes away', DEADLINE, async (t) => {
    const connection = await openConnection(t, settingsFor(info, info.roles.replication));
    const pid = connection.processId;
    assert.ok(pid > 0);
    await withDeadline(connection.end(), 5_000, 'end()');
    assert.equal(connection.closed, true);
    await assert.rejects(connection.query('SELECT 1'), (error: unknown) => error instanceof ConnectionError);
    await waitFor(
      async () => (await runSql(info, `SELECT 1 FROM pg_stat_activity WHERE pid = ${pid}`)).length === 0,
      { timeoutMs: 5_000, what: `backend ${pid} to exit` },
    );
  });

  test('a backend killed by the server ends the connection and tells onClose', DEADLINE, async (t) => {
    const connection = await openConnection(t, settingsFor(info, info.roles.replication));
    const closed = new Promise<PgnudgeError>((resolve) => connection.onClose(resolve));
    await runSql(info, `SELECT pg_terminate_backend(${connection.processId})`);
    const error = await withDeadline(closed, 5_000, 'onClose after pg_terminate_backend');
    assert.ok(error instanceof PgnudgeError);
    assert.equal(error.retryable, true, `${error.code}: ${error.message}`);
    assert.equal(connection.closed, true);
  });
});

describe('connection shell: replication stream', () => {
  test(
    'a temporary slot streams XLogData after an INSERT and vanishes after abort()',
    DEADLINE,
    async (t) => {
      const skip = pluginUnavailable(info, 'test_decoding');
      if (skip) return t.skip(skip);
      const database = await scratchDatabase(info, 'conn_repl');
      t.after(() => database.drop());
      await runSql(info, 'CREATE TABLE nudge_items (id int PRIMARY KEY, note text)', database.name);

      const connection = await PgConnection.connect(
        settingsFor(info, info.roles.replication, { database: database.name }),
        { replication: 'database' },
      );
      t.after(() => connection.abort());
      const slot = uniqueName('conn_slot');
      const [created] = await connection.query(
        `CREATE_REPLICATION_SLOT ${slot} TEMPORARY LOGICAL test_decoding (SNAPSHOT 'nothing')`,
      );
      assert.equal(created?.rows[0]?.[0], slot);
      assert.deepEqual(created?.fields, ['slot_name', 'consistent_point', 'snapshot_name', 'output_plugin']);

      const xlog: { walStart: bigint; walEnd: bigint; data: Buffer }[] = [];
      const keepalives: PrimaryKeepalive[] = [];
      await withDeadline(
        connection.startReplication(`START_REPLICATION SLOT ${slot} LOGICAL 0/0`, {
          // The connection re-points one view at each message: keep copies.
          xlogData: (message) =>
            xlog.push({
              walStart: message.walStart,
              walEnd: message.walEnd,
              data: Buffer.from(message.data),
            }),
          keepalive: (message) => {
            keepalives.push(message);
            answerKeepalive(connection, message);
          },
        }),
        10_000,
        'START_REPLICATION to reach CopyBoth',
      );
      await assert.rejects(connection.query('SELECT 1'), /streaming replication/);

      await runSql(info, "INSERT INTO nudge_items VALUES (1, 'hello')", database.name);
      const decoded = () => xlog.map((message) => message.data.toString('utf8'));
      await waitFor(() => decoded().some((text) => text.includes('table public.nudge_items: INSERT')), {
        timeoutMs: 10_000,
        what: 'the INSERT to arrive as XLogData',
      });
      const texts = decoded();
      assert.ok(
        texts.some((text) => /^BEGIN \d+$/.test(text)),
        texts.join('\n'),
      );
      assert.ok(
        texts.some((text) => text.includes("note[text]:'hello'")),
        texts.join('\n'),
      );
      await waitFor(() => decoded().some((text) => /^COMMIT \d+$/.test(text)), {
        timeoutMs: 5_000,
        what: 'the COMMIT',
      });
      // Ask for a keepalive so that path is proved too.
      connection.sendStatusUpdate({ write: 0n, flush: 0n, apply: 0n, replyRequested: true });
      await waitFor(() => keepalives.length > 0, { timeoutMs: 10_000, what: 'a primary keepalive' });
      assert.ok(keepalives[0]!.walEnd > 0n);
      assert.ok(xlog.every((message) => message.walStart >= 0n && message.walEnd >= message.walStart));

      connection.abort();
      assert.equal(connection.closed, true);
      await waitFor(
        async () =>
          (await runSql(info, `SELECT 1 FROM pg_replication_slots WHERE slot_name = '${slot}'`)).length === 0,
        { timeoutMs: 10_000, what: `temporary slot ${slot} to disappear after abort()` },
      );
    },
  );

  test('START_REPLICATION on a missing slot rejects and the session stays usable', DEADLINE, async (t) => {
    const connection = await openConnection(t, settingsFor(info, info.roles.replication), {
      replication: 'database',
    });
    const handler = { xlogData() {}, keepalive() {} };
    await assert.rejects(
      connection.startReplication(`START_REPLICATION SLOT ${uniqueName('missing')} LOGICAL 0/0`, handler),
      (error: unknown) => error instanceof ServerError && error.sqlState === '42704',
    );
    assert.deepEqual((await connection.query('SELECT 1'))[0]?.rows, [['1']]);
  });
});

describe('connection shell: reaching the server', () => {
  test('with two hosts, an unreachable first host is skipped for the second', DEADLINE, async (t) => {
    const dead = await closedPort();
    const settings = settingsFor(info, info.roles.replication, {
      connectionString: `host=127.0.0.1,${info.host} port=${dead},${info.port}`,
    });
    assert.deepEqual(
      settings.hosts.map((h) => h.port),
      [dead, info.port],
    );
    const connection = await openConnection(t, settings);
    assert.match(connection.target, new RegExp(`:${info.port}`));
    assert.deepEqual((await connection.query('SELECT 1'))[0]?.rows, [['1']]);
  });

  test('a single unreachable host fails with a retryable ConnectionError', DEADLINE, async () => {
    const dead = await closedPort();
    const error = await refusal(settingsFor(info, info.roles.replication, { host: '127.0.0.1', port: dead }));
    assert.ok(error instanceof ConnectionError);
    assert.equal(error.code, 'PGNUDGE_ERR_CONNECTION');
    assert.equal(error.retryable, true);
  });

  test('a wrong password on the first host ends the attempt (no second host)', DEADLINE, async (t) => {
    const proxy = await TcpProxy.start({ host: info.host, port: info.port });
    t.after(() => proxy.close());
    const settings = settingsFor(
      info,
      { ...info.roles.replication, password: 'not-the-password' },
      {
        connectionString: `host=${info.host},${proxy.host} port=${info.port},${proxy.port}`,
      },
    );
    const error = await refusal(settings);
    assert.equal(error.code, 'PGNUDGE_ERR_AUTH_FAILED');
    assert.equal(proxy.accepted, 0, 'the second host was tried after an authentication failure');
  });

  test('connectTimeout fails a server that accepts TCP but never answers', DEADLINE, async (t) => {
    const proxy = await silentProxy(t);
    const settings = settingsFor(info, info.roles.replication, {
      host: proxy.host,
      port: proxy.port,
      connectTimeout: 300,
    });
    const error = await withDeadline(refusal(settings), 10_000, 'connect_timeout to fire');
    assert.ok(error instanceof ConnectionError, `expected ConnectionError, got ${error.name}`);
    assert.equal(error.code, 'PGNUDGE_ERR_CONNECT_TIMEOUT');
    assert.equal(proxy.accepted, 1);
    await waitFor(() => proxy.open === 0, { timeoutMs: 5_000, what: 'the timed-out socket to be closed' });
  });

  test('connectTimeout also bounds a silent server when TLS is off', DEADLINE, async (t) => {
    const proxy = await silentProxy(t);
    const settings = settingsFor(info, info.roles.replication, {
      host: proxy.host,
      port: proxy.port,
      sslmode: 'disable',
      connectTimeout: 300,
    });
    const error = await withDeadline(refusal(settings), 10_000, 'connect_timeout to fire');
    assert.equal(error.code, 'PGNUDGE_ERR_CONNECT_TIMEOUT');
  });

  test('an AbortSignal aborts a connect in progress with a typed error', DEADLINE, async (t) => {
    const proxy = await silentProxy(t);
    const controller = new AbortController();
    const settings = settingsFor(info, info.roles.replication, {
      host: proxy.host,
      port: proxy.port,
      connectTimeout: 0,
    });
    const attempt = refusal(settings, { signal: controller.signal });
    await waitFor(() => proxy.accepted === 1, { timeoutMs: 5_000, what: 'the proxy to accept' });
    controller.abort();
    const error = await withDeadline(attempt, 5_000, 'the aborted connect to settle');
    assert.ok(error instanceof ConnectionError, `expected ConnectionError, got ${error.name}`);
    assert.equal(error.code, 'PGNUDGE_ERR_CONNECTION');
    assert.match(error.message, /aborted/);
    await waitFor(() => proxy.open === 0, { timeoutMs: 5_000, what: 'the aborted socket to be closed' });
  });

  for (const how of ['AbortSignal', 'connectTimeout'] as const) {
    test(`${how} during a slow password function leaves no session behind`, DEADLINE, async (t) => {
      const proxy = await TcpProxy.start({ host: info.host, port: info.port });
      t.after(() => proxy.close());
      let release: ((password: string) => void) | undefined;
      const password = () =>
        new Promise<string>((resolve) => {
          release = resolve;
        });
      const controller = new AbortController();
      const attempt = refusal(
        settingsFor(info, info.roles.replication, {
          host: proxy.host,
          port: proxy.port,
          password,
          connectTimeout: how === 'connectTimeout' ? 200 : 0,
        }),
        { signal: controller.signal },
      );
      await waitFor(() => release !== undefined, { timeoutMs: 5_000, what: 'the password function call' });
      if (how === 'AbortSignal') controller.abort();
      const error = await withDeadline(attempt, 5_000, 'the attempt to fail');
      assert.equal(
        error.code,
        how === 'AbortSignal' ? 'PGNUDGE_ERR_CONNECTION' : 'PGNUDGE_ERR_CONNECT_TIMEOUT',
      );
      release!(info.roles.replication.password);
      // A connection opened after the release is accepted after any the abandoned attempt would have made
      // (it would start first and reach the same listener), so one accepted link means none leaked.
      const later = await openConnection(
        t,
        settingsFor(info, info.roles.replication, { host: proxy.host, port: proxy.port }),
      );
      assert.deepEqual((await later.query('SELECT 1'))[0]?.rows, [['1']]);
      assert.equal(proxy.accepted, 1, 'the abandoned attempt connected after it had failed');
    });
  }

  test('an already aborted AbortSignal fails at once without connecting', DEADLINE, async (t) => {
    const proxy = await TcpProxy.start({ host: info.host, port: info.port });
    t.after(() => proxy.close());
    const error = await refusal(
      settingsFor(info, info.roles.replication, { host: proxy.host, port: proxy.port }),
      {
        signal: AbortSignal.abort(),
      },
    );
    assert.ok(error instanceof ConnectionError);
    assert.match(error.message, /aborted/);
    assert.equal(proxy.accepted, 0);
  });
});

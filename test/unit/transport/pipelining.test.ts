// Queries are pipelined: PgConnection sends each Query at once and matches the answers in order, so a
// feed's SHOW and CREATE_REPLICATION_SLOT cost one round trip. The fake server answers nothing until the
// second query has arrived: a connection that waited for the first answer would never send it.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ProtocolError, ServerError } from '../../../src/errors.js';
import { PgConnection } from '../../../src/transport/connection.js';
import { CASE_DEADLINE_MS, fakeSettings, ProcessLeakGuard } from '../../support/hostile-run.js';
import {
  commandComplete,
  copyBothResponse,
  dataRow,
  errorResponse,
  HostileServer,
  type Reply,
  readyForQuery,
  rowDescription,
} from '../../support/hostile-server.js';
import { withDeadline } from '../../support/wait.js';

const TEST = { timeout: 15_000 } as const;
const guard = new ProcessLeakGuard();
before(() => guard.install());
after(() => guard.uninstall());

const answer = (value: string): Reply => [
  rowDescription('v'),
  dataRow(value),
  commandComplete('SELECT 1'),
  readyForQuery(),
];

describe('PgConnection pipelines queries', () => {
  test('the second query goes out before the first is answered; answers keep their order', TEST, async () => {
    const fake = await HostileServer.start({
      // Holds every answer until the second query arrived, then answers both, in order.
      query: (_session, sql) => (sql === 'SELECT 2' ? [answer('one'), answer('two')] : []),
    });
    try {
      const connection = await PgConnection.connect(fakeSettings(fake), { replication: 'off' });
      const first = connection.query('SELECT 1');
      const second = connection.query('SELECT 2');
      const [one, two] = await withDeadline(Promise.all([first, second]), CASE_DEADLINE_MS, 'both answers');
      assert.equal(one[0]?.rows[0]?.[0], 'one');
      assert.equal(two[0]?.rows[0]?.[0], 'two');
      connection.abort();
      await guard.assertNone('pipelined');
    } finally {
      await fake.close();
    }
  });

  test('an error in the first query leaves the second its own answer', TEST, async () => {
    const fake = await HostileServer.start({
      query: (_session, sql) =>
        sql === 'SELECT 2'
          ? [errorResponse({ S: 'ERROR', C: '42601', M: 'syntax error' }), readyForQuery(), answer('two')]
          : [],
    });
    try {
      const connection = await PgConnection.connect(fakeSettings(fake), { replication: 'off' });
      const first = connection.query('SELEC 1').catch((error: unknown) => error);
      const second = connection.query('SELECT 2');
      assert.ok((await withDeadline(first, CASE_DEADLINE_MS, 'the first')) instanceof ServerError);
      assert.equal((await withDeadline(second, CASE_DEADLINE_MS, 'the second'))[0]?.rows[0]?.[0], 'two');
      connection.abort();
    } finally {
      await fake.close();
    }
  });

  test(
    'nothing is sent after START_REPLICATION: a query behind it fails, and never reaches the server',
    TEST,
    async () => {
      const fake = await HostileServer.start({
        query: (_session, sql) => (sql.startsWith('START_REPLICATION') ? copyBothResponse() : answer('x')),
      });
      try {
        const connection = await PgConnection.connect(fakeSettings(fake), { replication: 'database' });
        const started = connection.startReplication('START_REPLICATION SLOT s LOGICAL 0/0', {
          xlogData() {},
          keepalive() {},
        });
        const behind = connection.query('SELECT 1').catch((error: unknown) => error);
        await withDeadline(started, CASE_DEADLINE_MS, 'the stream');
        const error = await withDeadline(behind, CASE_DEADLINE_MS, 'the query behind it');
        assert.ok(error instanceof ProtocolError && /streaming replication/.test(error.message));
        const queries = fake.sessions[0]!.messages.filter((message) => message.type === 'Q');
        assert.equal(queries.length, 1);
        connection.abort();
      } finally {
        await fake.close();
      }
    },
  );
});

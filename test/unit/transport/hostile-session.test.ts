// contract R8, R11, R19 against a hostile server after startup: simple-query answers, the answer to
// START_REPLICATION, and the replication stream (framing, XLogData, keepalives, plugin payloads built to
// break wal2json and test_decoding). Each case runs on PgConnection (the typed error) and, for the
// replication stages, on a WalFeed (fatal before the stream is live; reported and retried once live).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Decoder } from '../../../src/decode/change.js';
import { createTestDecodingDecoder } from '../../../src/decode/test-decoding.js';
import { createWal2jsonDecoder } from '../../../src/decode/wal2json.js';
import {
  ConnectionError,
  DecodeError,
  type PgnudgeError,
  ProtocolError,
  ServerError,
} from '../../../src/errors.js';
import { WalFeed } from '../../../src/feed/wal-feed.js';
import { DEFAULT_MAX_RESULT_BYTES } from '../../../src/protocol/query-response.js';
import { PgConnection } from '../../../src/transport/connection.js';
import { frame, i16, i32, primaryKeepalive, xlogData } from '../../support/bytes.js';
import { FeedProbe } from '../../support/feed-probe.js';
import {
  assertTyped,
  CASE_DEADLINE_MS,
  type Expected,
  fakeOptions,
  fakeSettings,
  PASSWORD,
  ProcessLeakGuard,
  recordingLogger,
  rejection,
  socketsClosed,
} from '../../support/hostile-run.js';
import {
  commandComplete,
  copyBothResponse,
  copyData,
  dataRow,
  errorResponse,
  type HostileScript,
  HostileServer,
  type Reply,
  readyForQuery,
  rowDescription,
  walsenderAnswer,
} from '../../support/hostile-server.js';
import { waitFor, withDeadline } from '../../support/wait.js';

const TEST = { timeout: 15_000 } as const;
const guard = new ProcessLeakGuard();
before(() => guard.install());
after(() => guard.uninstall());

const protocol = (message: RegExp): Expected => ({
  type: ProtocolError,
  code: 'PGNUDGE_ERR_PROTOCOL',
  message,
});
const decode = (message: RegExp): Expected => ({ type: DecodeError, code: 'PGNUDGE_ERR_DECODE', message });
const lost: Expected = { type: ConnectionError, code: 'PGNUDGE_ERR_CONNECTION', message: /lost/ };

interface QueryCase {
  name: string;
  answer: Reply;
  expect: Expected;
}

const QUERY_CASES: QueryCase[] = [
  {
    name: 'DataRow before RowDescription',
    answer: [dataRow('1'), commandComplete('SELECT 1'), readyForQuery()],
    expect: protocol(/DataRow before RowDescription/),
  },
  {
    name: 'DataRow with more columns than RowDescription',
    answer: [rowDescription('a'), dataRow('1', '2'), commandComplete('SELECT 1'), readyForQuery()],
    expect: protocol(/DataRow has 2 columns, RowDescription 1/),
  },
  {
    name: 'DataRow with fewer columns than RowDescription',
    answer: [rowDescription('a', 'b'), dataRow('1'), commandComplete('SELECT 1'), readyForQuery()],
    expect: protocol(/DataRow has 1 columns, RowDescription 2/),
  },
  {
    name: 'CommandComplete missing before ReadyForQuery',
    answer: [rowDescription('a'), dataRow('1'), readyForQuery()],
    expect: protocol(/ReadyForQuery before CommandComplete/),
  },
  {
    name: 'DataRow whose column length runs past the message',
    answer: [rowDescription('a'), frame('D', i16(1), i32(1000), Buffer.from('x')), readyForQuery()],
    expect: protocol(/DataRow: truncated Byte1000/),
  },
  {
    name: 'DataRow with a column length of -2',
    answer: [rowDescription('a'), frame('D', i16(1), i32(-2)), readyForQuery()],
    expect: protocol(/negative column length -2/),
  },
  {
    name: 'DataRow declaring 32767 columns in 2 bytes',
    answer: [rowDescription('a'), frame('D', i16(32767)), readyForQuery()],
    expect: protocol(/invalid column count 32767/),
  },
  {
    name: 'RowDescription truncated inside a field',
    answer: [frame('T', i16(1), Buffer.from('a\0\0\0')), readyForQuery()],
    expect: protocol(/RowDescription: truncated/),
  },
  {
    name: 'CopyInResponse to a query',
    answer: [frame('G', Buffer.of(0), i16(0))],
    expect: protocol(/COPY is not supported/),
  },
  {
    name: 'CopyBothResponse to an ordinary query',
    answer: [copyBothResponse()],
    expect: protocol(/CopyBothResponse to a query that did not start replication/),
  },
  {
    name: 'CopyData during a query',
    answer: [copyData(Buffer.from('w'))],
    expect: protocol(/unexpected CopyData during a query/),
  },
  {
    name: 'AuthenticationOk during a query',
    answer: [frame('R', i32(0))],
    expect: protocol(/unexpected AuthenticationOk during a query/),
  },
  {
    name: 'ErrorResponse without fields during a query',
    answer: [frame('E', Buffer.of(0)), readyForQuery()],
    expect: protocol(/missing required field/),
  },
  {
    name: 'ErrorResponse, then ReadyForQuery (the ordinary failure path)',
    answer: [errorResponse({ S: 'ERROR', C: '42601', M: 'syntax error' }), readyForQuery()],
    expect: { type: ServerError, code: 'PGNUDGE_ERR_SERVER', message: /ERROR 42601: syntax error/ },
  },
  {
    name: 'FATAL ErrorResponse, then close: the server reason is kept',
    answer: [errorResponse({ S: 'FATAL', C: '57P01', M: 'terminating connection' }), 'close'],
    expect: { type: ServerError, code: 'PGNUDGE_ERR_SERVER', message: /FATAL 57P01: terminating connection/ },
  },
  {
    name: 'ReadyForQuery missing, then close',
    answer: [rowDescription('a'), dataRow('1'), commandComplete('SELECT 1'), 'close'],
    expect: lost,
  },
  {
    name: 'a second ReadyForQuery after the answer',
    answer: [commandComplete('SELECT 0'), readyForQuery(), readyForQuery()],
    // The query itself succeeded; the stray message ends the connection (checked through onClose).
    expect: protocol(/unexpected ReadyForQuery while idle/),
  },
];

describe('hostile server: simple query', () => {
  for (const c of QUERY_CASES) {
    test(c.name, TEST, async () => {
      const fake = await HostileServer.start({ query: () => c.answer });
      try {
        const connection = await PgConnection.connect(fakeSettings(fake), { replication: 'off' });
        const closed = new Promise<PgnudgeError>((resolve) => connection.onClose(resolve));
        const outcome = connection.query('SELECT 1').catch((error: unknown) => error);
        const settled = await withDeadline(outcome, CASE_DEADLINE_MS, c.name);
        const error = Array.isArray(settled) ? await withDeadline(closed, CASE_DEADLINE_MS, c.name) : settled;
        assertTyped(error, c.expect);
        if (c.expect.type !== ServerError || /FATAL/.test(c.expect.message.source)) await socketsClosed(fake);
        connection.abort();
        await guard.assertNone(c.name);
      } finally {
        await fake.close();
      }
    });
  }
});

describe('hostile server: result size (contract R19)', () => {
  test('the default bound on a held result is 64 MiB', () => {
    assert.equal(DEFAULT_MAX_RESULT_BYTES, 64 * 1024 * 1024);
  });

  test('a result that never ends fails once it holds more than maxResultBytes', TEST, async () => {
    const row = dataRow('x'.repeat(64 * 1024));
    // 4 MiB of rows and no CommandComplete: the client must give up at 1 MiB, not wait for the end.
    const fake = await HostileServer.start({
      query: () => [rowDescription('a'), ...Array.from({ length: 64 }, () => row)],
    });
    try {
      const connection = await PgConnection.connect(fakeSettings(fake), {
        replication: 'off',
        maxResultBytes: 1024 * 1024,
      });
      const error = await rejection(connection.query('SHOW everything'), 'endless result');
      assertTyped(error, protocol(/query result exceeds the limit of 1048576 bytes/));
      await socketsClosed(fake);
      await guard.assertNone('endless result');
    } finally {
      await fake.close();
    }
  });

  test('a result just under maxResultBytes is returned whole', TEST, async () => {
    const row = dataRow('x'.repeat(1000));
    const fake = await HostileServer.start({
      query: () => [
        rowDescription('a'),
        ...Array.from({ length: 100 }, () => row),
        commandComplete('SELECT 100'),
        readyForQuery(),
      ],
    });
    try {
      const connection = await PgConnection.connect(fakeSettings(fake), {
        replication: 'off',
        maxResultBytes: 100 * (row.byteLength - 5),
      });
      const [result] = await withDeadline(connection.query('SELECT a'), CASE_DEADLINE_MS, 'control');
      assert.equal(result?.rows.length, 100);
      connection.abort();
    } finally {
      await fake.close();
    }
  });
});

/** A replication case: hostile bytes at one point of the walsender conversation. */
interface StreamCase {
  name: string;
  plugin?: 'wal2json' | 'test_decoding';
  /** Sent once the stream is live (right after CopyBothResponse on PgConnection, at the feed's first status update). */
  stream?: Reply;
  /** Replaces the answer to START_REPLICATION. */
  start?: Reply;
  expect: Expected;
}

const xlog = (text: string | Uint8Array) =>
  copyData(xlogData(0x1000n, 0x2000n, 0n, typeof text === 'string' ? Buffer.from(text) : text));

const STREAM_CASES: StreamCase[] = [
  {
    name: 'XLogData shorter than its 25-byte header',
    stream: copyData(Buffer.from('w\0\0\0\0\0\0\0\x01\0\0')),
    expect: protocol(/XLogData must be at least 25 bytes, got 11/),
  },
  {
    name: 'XLogData of just its tag',
    stream: copyData(Buffer.from('w')),
    expect: protocol(/XLogData must be at least 25 bytes, got 1/),
  },
  {
    name: 'XLogData in a CopyData that declares 2 GiB',
    stream: Buffer.concat([Buffer.from('d'), i32(0x7fff_ffff), Buffer.from('w')]),
    expect: protocol(/declares 2147483647 bytes, more than the limit/),
  },
  {
    name: 'XLogData cut off mid-frame, then close',
    stream: [xlog('BEGIN').subarray(0, 12), 'close'],
    expect: lost,
  },
  {
    name: 'an empty CopyData',
    stream: copyData(Buffer.alloc(0)),
    expect: protocol(/empty CopyData in replication stream/),
  },
  {
    name: 'a keepalive cut to 10 bytes',
    stream: copyData(primaryKeepalive(1n, 0n, false).subarray(0, 10)),
    expect: protocol(/PrimaryKeepalive must be 18 bytes, got 10/),
  },
  {
    name: 'a keepalive with a trailing byte',
    stream: copyData(Buffer.concat([primaryKeepalive(1n, 0n, false), Buffer.of(0)])),
    expect: protocol(/PrimaryKeepalive must be 18 bytes, got 19/),
  },
  {
    name: 'a keepalive whose reply flag is 7',
    stream: copyData(Buffer.concat([primaryKeepalive(1n, 0n, false).subarray(0, 17), Buffer.of(7)])),
    expect: protocol(/reply flag must be 0 or 1, got 7/),
  },
  {
    name: 'an unknown CopyData tag',
    stream: copyData(Buffer.from('zzzz')),
    expect: protocol(/unknown replication message 'z' \(0x7a\)/),
  },
  {
    name: 'a RowDescription in the middle of the stream',
    stream: rowDescription('a'),
    expect: protocol(/unexpected RowDescription while replication/),
  },
  {
    name: 'CopyDone from the server',
    stream: frame('c'),
    expect: {
      type: ConnectionError,
      code: 'PGNUDGE_ERR_CONNECTION',
      message: /ended the replication stream/,
    },
  },
  {
    name: 'a FATAL ErrorResponse in the stream',
    stream: errorResponse({
      S: 'FATAL',
      C: '57P01',
      M: 'terminating connection due to administrator command',
    }),
    expect: { type: ServerError, code: 'PGNUDGE_ERR_SERVER', message: /FATAL 57P01/ },
  },
  {
    name: 'test_decoding: a line that is none of table/BEGIN/COMMIT/message',
    stream: xlog('DROP TABLE everything'),
    expect: decode(/test_decoding: expected a "table", BEGIN, COMMIT or message line/),
  },
  {
    name: 'test_decoding: an unterminated quoted identifier',
    stream: xlog('table "public.t: INSERT: id[integer]:1'),
    expect: decode(/unterminated quoted identifier/),
  },
  {
    name: 'test_decoding: invalid UTF-8 in a table name',
    stream: xlog(
      Buffer.concat([Buffer.from('table public."'), Buffer.of(0xc3, 0x28), Buffer.from('": INSERT: x')]),
    ),
    expect: decode(/invalid UTF-8 in a name/),
  },
  {
    name: 'test_decoding: an INSERT naming two tables',
    stream: xlog('table public.a, public.b: INSERT: id[integer]:1'),
    expect: decode(/INSERT names more than one relation/),
  },
  {
    name: 'test_decoding: an empty payload',
    stream: xlog(''),
    expect: decode(/expected a "table", BEGIN, COMMIT or message line/),
  },
  {
    name: 'wal2json: a record that is not a JSON object',
    plugin: 'wal2json',
    stream: xlog('["I","public","t"]'),
    expect: decode(/wal2json: expected "\{" to open the record/),
  },
  {
    name: 'wal2json: a cut-off record',
    plugin: 'wal2json',
    stream: xlog('{"action":"I","schema":"public","table":"t","columns":[{"name":"id"'),
    expect: decode(/expected the record to end with "\}"/),
  },
  {
    name: 'wal2json: an unterminated schema string',
    plugin: 'wal2json',
    stream: xlog('{"action":"I","schema":"pub\\"}'),
    expect: decode(/unterminated string/),
  },
  {
    name: 'wal2json: an unpaired surrogate escape in a table name',
    plugin: 'wal2json',
    stream: xlog('{"action":"I","schema":"public","table":"\\ud800x"}'),
    expect: decode(/unpaired high surrogate escape/),
  },
  {
    name: 'wal2json: invalid UTF-8 in a schema name',
    plugin: 'wal2json',
    stream: xlog(
      Buffer.concat([
        Buffer.from('{"action":"I","schema":"'),
        Buffer.of(0xff),
        Buffer.from('","table":"t"}'),
      ]),
    ),
    expect: decode(/invalid UTF-8 in a name/),
  },
  {
    name: 'wal2json: an unknown action',
    plugin: 'wal2json',
    stream: xlog('{"action":"Z","schema":"public","table":"t"}'),
    expect: decode(/unknown action "Z"/),
  },
  {
    name: 'wal2json: "action" twice',
    plugin: 'wal2json',
    stream: xlog('{"action":"I","action":"D","schema":"public","table":"t"}'),
    expect: decode(/"action" appears twice/),
  },
];

const START_CASES: StreamCase[] = [
  {
    name: 'CopyBothResponse with copy format 7',
    start: frame('W', Buffer.of(7), i16(0)),
    expect: protocol(/unknown copy format 7/),
  },
  {
    name: 'CopyBothResponse truncated before its column count',
    start: frame('W', Buffer.of(0)),
    expect: protocol(/CopyBothResponse: truncated Int16/),
  },
  {
    name: 'CopyBothResponse with a column format of 9',
    start: frame('W', Buffer.of(0), i16(1), i16(9)),
    expect: protocol(/unknown column format 9/),
  },
  {
    name: 'CopyData before CopyBothResponse',
    start: [xlog('BEGIN'), copyBothResponse()],
    expect: protocol(/unexpected CopyData during a query/),
  },
  {
    name: 'CopyOutResponse instead of CopyBothResponse',
    start: frame('H', Buffer.of(0), i16(0)),
    expect: protocol(/COPY is not supported/),
  },
  {
    name: 'START_REPLICATION completed without streaming',
    start: [commandComplete('START_REPLICATION'), readyForQuery()],
    expect: protocol(/finished the replication command without streaming/),
  },
];

/** Feeds XLogData through the plugin's decoder, as the WalFeed does. */
function decodingHandler(decoder: Decoder) {
  return { xlogData: (m: { data: Uint8Array }) => decoder.decode(m.data, () => {}), keepalive: () => {} };
}

function decoderFor(plugin: StreamCase['plugin']): Decoder {
  return plugin === 'wal2json' ? createWal2jsonDecoder() : createTestDecodingDecoder();
}

const START = 'START_REPLICATION SLOT pgnudge_hostile LOGICAL 0/0';

describe('hostile server: replication on PgConnection', () => {
  for (const c of [...START_CASES, ...STREAM_CASES]) {
    test(c.name, TEST, async () => {
      const script: HostileScript = {
        query: (_session, sql) =>
          sql.startsWith('START_REPLICATION')
            ? (c.start ?? [copyBothResponse(), c.stream ?? []])
            : walsenderAnswer(sql),
      };
      const fake = await HostileServer.start(script);
      try {
        const connection = await PgConnection.connect(fakeSettings(fake), { replication: 'database' });
        const closed = new Promise<PgnudgeError>((resolve) => connection.onClose(resolve));
        const started = connection.startReplication(START, decodingHandler(decoderFor(c.plugin)));
        let error: unknown;
        if (c.start) {
          error = await rejection(started, c.name);
        } else {
          await withDeadline(started, CASE_DEADLINE_MS, c.name);
          error = await withDeadline(closed, CASE_DEADLINE_MS, c.name);
        }
        assertTyped(error, c.expect);
        await socketsClosed(fake);
        await guard.assertNone(c.name);
      } finally {
        await fake.close();
      }
    });
  }
});

function feedFor(fake: HostileServer, plugin: StreamCase['plugin'], logger: object): WalFeed {
  return new WalFeed(
    {
      ...fakeOptions(fake),
      plugin: plugin ?? 'test_decoding',
      statusInterval: 40,
      livenessTimeout: 400,
      backoff: { initial: 10, maximum: 20 },
      logger,
      logLevel: 'trace',
    },
    { env: {} },
  );
}

describe('hostile server: replication on a WalFeed', () => {
  for (const c of START_CASES) {
    test(`before the stream is live: ${c.name} fails the feed`, TEST, async () => {
      const fake = await HostileServer.start({
        query: (_session, sql) => (sql.startsWith('START_REPLICATION') ? c.start! : walsenderAnswer(sql)),
      });
      const { lines, logger } = recordingLogger();
      const feed = feedFor(fake, c.plugin, logger);
      try {
        const error = await rejection(feed[Symbol.asyncIterator]().next(), c.name);
        assertTyped(error, c.expect);
        assert.equal(feed.closed, true);
        assert.equal(
          fake.sessions.length,
          1,
          'a refusal on the first connection is not retried (contract R11)',
        );
        await socketsClosed(fake);
        assert.ok(lines.every((line) => !line.message.includes(PASSWORD)));
        await guard.assertNone(c.name);
      } finally {
        await feed.close();
        await fake.close();
      }
    });
  }

  for (const c of STREAM_CASES) {
    test(`once live: ${c.name} is reported and the feed reconnects`, TEST, async () => {
      // Only the first session turns hostile, at its first status update: the feed is live by then.
      let armed = true;
      const fake = await HostileServer.start({
        copyData: () => {
          if (!armed) return [];
          armed = false;
          return c.stream ?? [];
        },
      });
      const { lines, logger } = recordingLogger();
      const feed = feedFor(fake, c.plugin, logger);
      const probe = new FeedProbe(feed);
      try {
        await probe.resync('connected', 0, CASE_DEADLINE_MS);
        const warning = await waitFor(() => lines.find((line) => line.level === 'warn'), {
          timeoutMs: CASE_DEADLINE_MS,
          what: 'the failure to be reported',
        });
        assert.match(warning.message, new RegExp(`\\(${c.expect.code}\\); reconnecting in`));
        assert.match(warning.message, c.expect.message);
        await probe.resync('reconnected', 0, CASE_DEADLINE_MS);
        assert.equal(fake.sessions[0]!.closed, true, 'the hostile session was closed');
        assert.ok(lines.every((line) => !line.message.includes(PASSWORD)));
      } finally {
        await feed.close();
      }
      try {
        await withDeadline(probe.finished, CASE_DEADLINE_MS, 'the feed to end');
        assert.equal(probe.error, undefined);
        await socketsClosed(fake);
        await guard.assertNone(c.name);
      } finally {
        await fake.close();
      }
    });
  }

  test('silence after CopyBothResponse: the liveness timeout replaces the link', TEST, async () => {
    let armed = true;
    const fake = await HostileServer.start({
      query: (_session, sql) => {
        if (!sql.startsWith('START_REPLICATION') || !armed) return walsenderAnswer(sql);
        armed = false;
        return [copyBothResponse(), 'silence'];
      },
    });
    const { lines, logger } = recordingLogger();
    const feed = feedFor(fake, 'test_decoding', logger);
    const probe = new FeedProbe(feed);
    try {
      await probe.resync('connected', 0, CASE_DEADLINE_MS);
      const warning = await waitFor(() => lines.find((line) => line.level === 'warn'), {
        timeoutMs: CASE_DEADLINE_MS,
        what: 'the liveness timeout',
      });
      assert.match(
        warning.message,
        /no data from .* \(livenessTimeout 400 ms\); the link is dead.*PGNUDGE_ERR_LIVENESS_TIMEOUT/,
      );
      await probe.resync('reconnected', 0, CASE_DEADLINE_MS);
    } finally {
      await feed.close();
      await fake.close();
    }
  });

  // CREATE_REPLICATION_SLOT is left out on purpose: a real server is silent there for as long as
  // older transactions run, so silence cannot tell a dead link from a busy server (see the issue 8 report).
  for (const stage of ['START_REPLICATION'] as const) {
    test(
      `silence after ${stage}: the liveness timeout ends the attempt and the feed retries`,
      TEST,
      async () => {
        let armed = true;
        const fake = await HostileServer.start({
          query: (_session, sql) => {
            if (!sql.startsWith(stage) || !armed) return walsenderAnswer(sql);
            armed = false;
            return 'silence';
          },
        });
        const { lines, logger } = recordingLogger();
        const feed = feedFor(fake, 'test_decoding', logger);
        const probe = new FeedProbe(feed);
        try {
          const warning = await waitFor(() => lines.find((line) => line.level === 'warn'), {
            timeoutMs: CASE_DEADLINE_MS,
            what: `the silent ${stage} to end`,
          });
          assert.match(warning.message, /PGNUDGE_ERR_LIVENESS_TIMEOUT/);
          await probe.resync('connected', 0, CASE_DEADLINE_MS);
        } finally {
          await feed.close();
          await fake.close();
        }
      },
    );
  }
});

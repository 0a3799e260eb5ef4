// One simple Query's answer, assembled without a socket (contract R19): results as PostgreSQL sent them, and every
// hostile answer a typed ProtocolError. The same cases through a socket: test/unit/transport/hostile-session.
// Random message sequences: test/unit/protocol/fuzz.test.ts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ProtocolError, ServerError } from '../../../src/errors.js';
import { parseBackendMessage } from '../../../src/protocol/backend.js';
import {
  DEFAULT_MAX_RESULT_BYTES,
  type QueryOutcome,
  QueryResponse,
} from '../../../src/protocol/query-response.js';
import { frame, i16 } from '../../support/bytes.js';
import {
  backendKeyData,
  commandComplete,
  copyBothResponse,
  dataRow,
  errorResponse,
  readyForQuery,
  rowDescription,
} from '../../support/hostile-server.js';

/** Feeds whole frames; returns the outcome of the last one (earlier ones must not end the answer). */
function answer(response: QueryResponse, frames: Buffer[]): QueryOutcome | undefined {
  let outcome: QueryOutcome | undefined;
  for (const [index, bytes] of frames.entries()) {
    assert.equal(outcome, undefined, `frame ${index - 1} ended the answer early`);
    const body = bytes.subarray(5);
    outcome = response.receive(parseBackendMessage(bytes[0]!, body), bytes[0]!, body.byteLength);
  }
  return outcome;
}

const query = (maxResultBytes?: number) =>
  new QueryResponse({
    startsReplication: false,
    ...(maxResultBytes === undefined ? {} : { maxResultBytes }),
  });
const replication = () => new QueryResponse({ startsReplication: true });

function refused(frames: Buffer[], message: RegExp, response = query()): void {
  assert.throws(
    () => answer(response, frames),
    (error: unknown) => error instanceof ProtocolError && message.test(error.message),
  );
}

/** DataRow body size of dataRow(value): count, length, bytes. */
const rowBytes = (value: string) => 2 + 4 + Buffer.byteLength(value);

describe('QueryResponse: answers a real server gives', () => {
  test('rows under their RowDescription, one result per statement, NULL as null', () => {
    const outcome = answer(query(), [
      rowDescription('?column?'),
      dataRow('1'),
      commandComplete('SELECT 1'),
      rowDescription('a', 'b'),
      dataRow('x', null),
      dataRow('', 'y'),
      commandComplete('SELECT 2'),
      commandComplete('SET'),
      readyForQuery(),
    ]);
    assert.deepEqual(outcome, {
      type: 'results',
      results: [
        { tag: 'SELECT 1', fields: ['?column?'], rows: [['1']] },
        {
          tag: 'SELECT 2',
          fields: ['a', 'b'],
          rows: [
            ['x', null],
            ['', 'y'],
          ],
        },
        { tag: 'SET', fields: [], rows: [] },
      ],
    });
  });

  test('an empty query string answers EmptyQueryResponse: no result', () => {
    assert.deepEqual(answer(query(), [frame('I'), readyForQuery()]), { type: 'results', results: [] });
  });

  test('an ErrorResponse is the outcome at ReadyForQuery, even after a result it cut short', () => {
    const response = query();
    const outcome = answer(response, [
      rowDescription('a'),
      dataRow('1'),
      errorResponse({ S: 'ERROR', V: 'ERROR', C: '22012', M: 'division by zero' }),
      readyForQuery(),
    ]);
    assert.ok(outcome?.type === 'error');
    assert.ok(outcome.error instanceof ServerError);
    assert.equal(outcome.error.sqlState, '22012');
    assert.equal(response.error, outcome.error);
  });

  test('the error is known before ReadyForQuery, for a session that ends mid-answer', () => {
    const response = query();
    answer(response, [errorResponse({ S: 'FATAL', V: 'FATAL', C: '57P01', M: 'terminating connection' })]);
    assert.equal(response.error?.sqlState, '57P01');
  });

  test('START_REPLICATION: CopyBothResponse starts the stream, after any earlier result', () => {
    assert.deepEqual(answer(replication(), [copyBothResponse()]), { type: 'streaming' });
  });

  test('a refused START_REPLICATION ends in its error', () => {
    const outcome = answer(replication(), [
      errorResponse({ S: 'ERROR', V: 'ERROR', C: '42704', M: 'replication slot does not exist' }),
      readyForQuery(),
    ]);
    assert.equal(outcome?.type, 'error');
  });
});

describe('QueryResponse: hostile answers', () => {
  test('DataRow before RowDescription', () => {
    refused([dataRow('1')], /DataRow before RowDescription/);
  });

  test('DataRow after its result was completed', () => {
    refused(
      [rowDescription('a'), commandComplete('SELECT 0'), dataRow('1')],
      /DataRow before RowDescription/,
    );
  });

  test('DataRow with more or fewer columns than its RowDescription', () => {
    refused([rowDescription('a'), dataRow('1', '2')], /DataRow has 2 columns, RowDescription 1/);
    refused([rowDescription('a', 'b'), dataRow('1')], /DataRow has 1 columns, RowDescription 2/);
  });

  test('rows up to maxResultBytes are held; one byte more fails, counting across statements', () => {
    const max = 3 * rowBytes('abcd');
    const response = query(max);
    answer(response, [
      rowDescription('a'),
      dataRow('abcd'),
      commandComplete('SELECT 1'),
      rowDescription('a'),
    ]);
    answer(response, [dataRow('abcd'), dataRow('abcd')]);
    assert.equal(response.heldBytes, max);
    refused([dataRow('')], /exceeds the limit of 30 bytes held in memory \(maxResultBytes\)/, response);
    assert.equal(response.heldBytes, max);
  });

  test('the default cap is 64 MiB', () => {
    assert.equal(DEFAULT_MAX_RESULT_BYTES, 64 * 1024 * 1024);
  });

  test('ReadyForQuery before CommandComplete would drop a result', () => {
    refused([rowDescription('a'), dataRow('1'), readyForQuery()], /ReadyForQuery before CommandComplete/);
  });

  test('CopyBothResponse to an ordinary query', () => {
    refused([copyBothResponse()], /CopyBothResponse to a query that did not start replication/);
  });

  test('a replication command finished without streaming', () => {
    refused([commandComplete('START_REPLICATION'), readyForQuery()], /without streaming/, replication());
  });

  test('COPY in or out', () => {
    refused([frame('G', Buffer.of(0), i16(0))], /CopyInResponse: COPY is not supported/);
    refused([frame('H', Buffer.of(0), i16(0))], /CopyOutResponse: COPY is not supported/);
  });

  test('a message that has no place in a query answer names its protocol name', () => {
    assert.throws(
      () => answer(query(), [backendKeyData(1, 2)]),
      (error: unknown) =>
        error instanceof ProtocolError &&
        /unexpected BackendKeyData during a query/.test(error.message) &&
        error.messageType === 'BackendKeyData',
    );
  });

  test('nothing is taken after the answer ended or failed', () => {
    const done = query();
    answer(done, [commandComplete('SET'), readyForQuery()]);
    refused([readyForQuery()], /after the query's answer ended/, done);
    const failed = query();
    refused([dataRow('1')], /DataRow before RowDescription/, failed);
    refused([rowDescription('a')], /after the query's answer ended/, failed);
  });
});

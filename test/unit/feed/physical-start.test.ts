// How a RawFeed session starts, without a server: reading IDENTIFY_SYSTEM, the server facts and the start
// query (the watermark, our own xid and the snapshot: the running set is xip plus [xmax, ours)), what
// servers it refuses, where the stream starts, and its options (WalFeed's, without plugin).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, ProtocolError, UnsupportedServerError } from '../../../src/errors.js';
import {
  checkReadable,
  formatStartPhysical,
  parseIdentifySystem,
  parseServerFacts,
  parseStartPoint,
  type ServerFacts,
  startPosition,
} from '../../../src/feed/physical-start.js';
import { RawFeed } from '../../../src/feed/raw-feed.js';
import type { QueryResult } from '../../../src/protocol/query-response.js';

const result = (...rows: (string | null)[][]): QueryResult => ({ tag: 'SELECT', fields: [], rows });

describe('IDENTIFY_SYSTEM', () => {
  test('timeline and flush position', () => {
    assert.deepEqual(parseIdentifySystem(result(['7400000000000000001', '3', '16/B374D848', null])), {
      systemId: '7400000000000000001',
      timeline: 3,
      flushLsn: 0x16_b374_d848n,
    });
    assert.throws(() => parseIdentifySystem(result()), ProtocolError);
    assert.throws(() => parseIdentifySystem(result(['1', 'x', '0/0', null])), ProtocolError);
    assert.throws(() => parseIdentifySystem(result(['1', '1', 'nonsense', null])), ProtocolError);
  });
});

describe('server facts', () => {
  const facts = (overrides: Partial<Record<number, string | null>> = {}) => {
    const row: (string | null)[] = [
      '16384',
      '8192',
      '8192',
      '170004',
      '[["pg_class", 1663, 1259], ["pg_inherits", 1663, 2611], ["pg_namespace", 1663, 2615]]',
      '16777216',
      'f',
    ];
    for (const [i, value] of Object.entries(overrides)) row[Number(i)] = value ?? null;
    return parseServerFacts(result(row));
  };

  test('one row: database OID, sizes, version, standby, and where the name catalogs live', () => {
    const read = facts();
    assert.equal(read.dbOid, 16384);
    assert.equal(read.segmentSize, 16 * 1024 * 1024);
    assert.equal(read.versionNum, 170004);
    assert.equal(read.standby, false);
    assert.deepEqual(read.nameCatalogs.get('pg_inherits'), { spcOid: 1663, relNumber: 2611 });
    assert.equal(checkReadable(read), 17);
  });

  test('RawFeed refuses what it cannot read, with UnsupportedServerError (not retryable)', () => {
    const refused: [ServerFacts, RegExp][] = [
      [facts({ 3: '140010' }), /PostgreSQL 15 to 18; this server runs 14/],
      [facts({ 3: '190000' }), /runs 19/],
      [facts({ 1: '16384' }), /block_size 16384/],
      [facts({ 2: '32768' }), /wal_block_size 32768/],
      [facts({ 6: 't' }), /against a primary/],
    ];
    for (const [read, rule] of refused) {
      const verdict = checkReadable(read);
      assert.ok(verdict instanceof UnsupportedServerError);
      assert.equal(verdict.retryable, false);
      assert.equal(verdict.code, 'PGNUDGE_ERR_UNSUPPORTED_SERVER');
      assert.match(verdict.message, rule);
    }
  });

  test('an answer of another shape is a ProtocolError', () => {
    assert.throws(() => parseServerFacts(result()), ProtocolError);
    assert.throws(() => facts({ 0: null }), ProtocolError);
    assert.throws(() => facts({ 4: '{"pg_class": 1}' }), ProtocolError);
    assert.throws(() => facts({ 4: '[["pg_class", "1663", 1259]]' }), ProtocolError);
  });
});

describe('the start point', () => {
  const start = (ours: string, snapshot: string) =>
    parseStartPoint([result(['0/1D569B8']), result(), result([ours]), result([snapshot]), result()]);

  test('the running set is the snapshot xip plus the xids from its xmax up to ours', () => {
    // A transaction with an xid above the latest completed one is in neither xip nor below xmax.
    assert.deepEqual(start('741', '741:741:'), { watermark: 0x1d5_69b8n, runningAtStart: [] });
    assert.deepEqual(start('745', '738:742:738,740').runningAtStart, [738, 740, 742, 743, 744]);
  });

  test('64-bit xids and wraparound', () => {
    const epoch = 9n << 32n;
    const point = start(String(epoch + 2n), `${epoch - 3n}:${epoch - 1n}:${epoch - 3n}`);
    assert.deepEqual(point.runningAtStart, [0xffff_fffd, 0xffff_ffff, 0, 1]);
  });

  test('an answer of another shape is a ProtocolError', () => {
    assert.throws(() => parseStartPoint([result(['0/1'])]), ProtocolError);
    assert.throws(() => start('x', '1:2:'), ProtocolError);
    assert.throws(() => start('5', 'garbage'), ProtocolError);
    assert.throws(() => start(String(5_000_000), '1:2:'), ProtocolError, 'millions of running xids');
  });
});

describe('the stream', () => {
  test('starts at the page holding the flush position', () => {
    assert.equal(startPosition(0x1d5_69b8n), 0x1d5_6000n);
    assert.equal(startPosition(0x1d5_6000n), 0x1d5_6000n);
  });

  test('START_REPLICATION PHYSICAL, no slot', () => {
    assert.equal(formatStartPhysical(0x1d5_6000n, 1), 'START_REPLICATION PHYSICAL 0/1D56000 TIMELINE 1');
    assert.throws(() => formatStartPhysical(0n, 0), RangeError);
  });
});

describe('RawFeed options', () => {
  test("WalFeed's options without those of logical decoding: plugin, keys, partitions", () => {
    for (const [option, value] of [
      ['plugin', 'wal2json'],
      ['keys', true],
      ['partitions', 'leaf'],
    ] as const) {
      assert.throws(
        () => new RawFeed({ [option]: value } as never),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.option === option &&
          new RegExp(`RawFeed has no option "${option}"`).test(error.message),
      );
    }
    const feed = new RawFeed({ tables: ['public.a'], debounce: 5, host: 'localhost' }, { env: {} });
    assert.equal(feed.closed, false);
    assert.equal(feed.position, null);
    assert.match(feed.target, /localhost/);
  });
});

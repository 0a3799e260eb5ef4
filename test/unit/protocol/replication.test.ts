import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ProtocolError } from '../../../src/errors.js';
import { parseBackendMessage } from '../../../src/protocol/backend.js';
import { formatLsn, parseLsn } from '../../../src/protocol/lsn.js';
import {
  encodeStandbyStatusUpdate,
  parseReplicationMessage,
  pgTimestampFromUnixMs,
  unixMsFromPgTimestamp,
  XLogDataView,
} from '../../../src/protocol/replication.js';
import { hex, primaryKeepalive, toHex, xlogData } from '../../support/bytes.js';

describe('parseReplicationMessage', () => {
  it('XLogData (golden bytes), data is a view', () => {
    const payload = hex('77 0000001600000010 0000001600000020 0002b5e3f2c6a000 7b7d');
    const m = parseReplicationMessage(payload);
    assert.ok(m.type === 'XLogData');
    assert.equal(m.walStart, 0x16_0000_0010n);
    assert.equal(m.walEnd, 0x16_0000_0020n);
    assert.equal(m.sendTime, 0x0002b5e3f2c6a000n);
    assert.equal(toHex(m.data), '7b7d');
    assert.equal(m.data.buffer, payload.buffer);
    assert.equal(m.data.byteOffset, payload.byteOffset + 25);
  });

  it('XLogData from a CopyData frame stays a view of the frame', () => {
    const body = xlogData(1n, 2n, 3n, Buffer.from('{"action":"I"}'));
    const copy = parseBackendMessage(0x64, body);
    assert.ok(copy.type === 'CopyData');
    const m = parseReplicationMessage(copy.data);
    assert.ok(m.type === 'XLogData');
    assert.equal(m.data.buffer, body.buffer);
    assert.equal(Buffer.from(m.data).toString(), '{"action":"I"}');
  });

  it('XLogData with an empty payload is allowed; shorter than 25 bytes is not', () => {
    assert.equal(parseReplicationMessage(xlogData(0n, 0n, 0n, hex(''))).type, 'XLogData');
    assert.throws(
      () => parseReplicationMessage(hex('77 00')),
      (e: unknown) => e instanceof ProtocolError && e.message === 'XLogData must be at least 25 bytes, got 2',
    );
  });

  it('PrimaryKeepalive (golden bytes)', () => {
    assert.deepEqual(parseReplicationMessage(hex('6b 000000010000abcd 0000000000000064 01')), {
      type: 'PrimaryKeepalive',
      walEnd: 0x1_0000_abcdn,
      sendTime: 100n,
      replyRequested: true,
    });
    assert.deepEqual(parseReplicationMessage(primaryKeepalive(5n, -1n, false)), {
      type: 'PrimaryKeepalive',
      walEnd: 5n,
      sendTime: -1n,
      replyRequested: false,
    });
  });

  it('PrimaryKeepalive of the wrong length has an exact error', () => {
    assert.throws(
      () => parseReplicationMessage(Buffer.concat([primaryKeepalive(1n, 1n, false), hex('00')])),
      (e: unknown) => e instanceof ProtocolError && e.message === 'PrimaryKeepalive must be 18 bytes, got 19',
    );
    assert.throws(() => parseReplicationMessage(hex('6b 00')), /PrimaryKeepalive must be 18 bytes, got 2/);
  });

  it('PrimaryKeepalive with a reply flag other than 0/1 is refused', () => {
    const k = primaryKeepalive(1n, 1n, false);
    k[17] = 2;
    assert.throws(() => parseReplicationMessage(k), ProtocolError);
  });

  it('an empty payload or unknown sub-type is a ProtocolError', () => {
    assert.throws(() => parseReplicationMessage(hex('')), ProtocolError);
    assert.throws(() => parseReplicationMessage(hex('72 00')), /unknown replication message 'r' \(0x72\)/);
  });
});

describe('encodeStandbyStatusUpdate', () => {
  it('encodes the whole CopyData frame (golden bytes)', () => {
    const out = encodeStandbyStatusUpdate({
      write: 0x16_b374_d848n,
      flush: 0x16_b374_d848n,
      apply: 0x16_b374_d800n,
      sendTime: 0x0002b5e3f2c6a000n,
      replyRequested: false,
    });
    assert.equal(
      toHex(out),
      '64 00000026 72 00000016b374d848 00000016b374d848 00000016b374d800 0002b5e3f2c6a000 00'.replace(
        / /g,
        '',
      ),
    );
  });

  it('round-trips through a parser of the documented layout', () => {
    const update = { write: 2n ** 64n - 1n, flush: 7n, apply: 0n, sendTime: -5n, replyRequested: true };
    const out = encodeStandbyStatusUpdate(update);
    const copy = parseBackendMessage(out[0]!, out.subarray(5));
    assert.ok(copy.type === 'CopyData');
    const d = Buffer.from(copy.data);
    assert.equal(d.byteLength, 34);
    assert.equal(String.fromCharCode(d[0]!), 'r');
    assert.deepEqual(
      {
        write: d.readBigUInt64BE(1),
        flush: d.readBigUInt64BE(9),
        apply: d.readBigUInt64BE(17),
        sendTime: d.readBigInt64BE(25),
        replyRequested: d[33] === 1,
      },
      update,
    );
  });

  it('refuses values outside the wire range', () => {
    const ok = { write: 0n, flush: 0n, apply: 0n, sendTime: 0n, replyRequested: false };
    assert.throws(() => encodeStandbyStatusUpdate({ ...ok, write: -1n }), ProtocolError);
    assert.throws(() => encodeStandbyStatusUpdate({ ...ok, flush: 2n ** 64n }), ProtocolError);
    assert.throws(() => encodeStandbyStatusUpdate({ ...ok, sendTime: 2n ** 63n }), ProtocolError);
  });
});

describe('PostgreSQL timestamps', () => {
  it('counts microseconds since 2000-01-01', () => {
    assert.equal(pgTimestampFromUnixMs(Date.UTC(2000, 0, 1)), 0n);
    assert.equal(pgTimestampFromUnixMs(Date.UTC(2000, 0, 1, 0, 0, 1)), 1_000_000n);
    assert.equal(pgTimestampFromUnixMs(Date.UTC(1999, 11, 31, 23, 59, 59)), -1_000_000n);
    assert.equal(pgTimestampFromUnixMs(Date.UTC(2000, 0, 1) + 0.5), 500n);
    assert.equal(unixMsFromPgTimestamp(0n), 946_684_800_000);
    assert.equal(unixMsFromPgTimestamp(1_500n), 946_684_800_001.5);
  });

  it('round-trips whole milliseconds', () => {
    for (const ms of [0, 946_684_800_000, 1_700_000_000_123, 4_102_444_800_000]) {
      assert.equal(unixMsFromPgTimestamp(pgTimestampFromUnixMs(ms)), ms);
    }
  });

  it('refuses a non-finite time', () => {
    assert.throws(() => pgTimestampFromUnixMs(Number.NaN), ProtocolError);
  });
});

describe('LSN', () => {
  it('parses and formats like PostgreSQL', () => {
    assert.equal(parseLsn('16/B374D848'), 0x16_b374_d848n);
    assert.equal(parseLsn('0/0'), 0n);
    assert.equal(parseLsn('ffffffff/ffffffff'), 2n ** 64n - 1n);
    assert.equal(formatLsn(0x16_b374_d848n), '16/B374D848');
    assert.equal(formatLsn(0x1_0000_000an), '1/A');
    assert.equal(formatLsn(0n), '0/0');
  });

  it('round-trips', () => {
    for (const text of ['0/0', '16/B374D848', 'FFFFFFFF/FFFFFFFF', '1/A']) {
      assert.equal(formatLsn(parseLsn(text)), text);
    }
  });

  it('refuses malformed text with a ProtocolError naming what was parsed', () => {
    for (const bad of [
      '',
      '16',
      '16/',
      '/1',
      '1/2/3',
      '123456789/0',
      '0/123456789',
      'G/0',
      ' 1/2',
      '1/2 ',
      '-1/2',
    ]) {
      assert.throws(
        () => parseLsn(bad, 'consistent_point'),
        (e: unknown) => e instanceof ProtocolError && /consistent_point/.test(e.message),
        bad,
      );
    }
    assert.throws(() => formatLsn(-1n), ProtocolError);
    assert.throws(() => formatLsn(2n ** 64n), ProtocolError);
  });
});

describe('XLogDataView', () => {
  it('reads XLogData in place (golden bytes): WAL end in halves, bigints on demand, data a view', () => {
    const bytes = hex('ff ff 77 0000001600000010 0000001680000020 8002b5e3f2c6a000 7b7d ee');
    const view = new XLogDataView();
    view.read(bytes, 2, bytes.byteLength - 1);
    assert.deepEqual([view.walEndHigh, view.walEndLow], [0x16, 0x8000_0020]);
    assert.equal(view.walStart, 0x16_0000_0010n);
    assert.equal(view.walEnd, 0x16_8000_0020n);
    assert.equal(view.sendTime, -0x7ffd_4a1c_0d39_6000n, 'sendTime is a signed Int64');
    assert.deepEqual([view.dataStart, view.dataEnd], [27, 29]);
    assert.equal(toHex(view.data), '7b7d');
    assert.equal(view.data.buffer, bytes.buffer);
  });

  it('refuses a message shorter than its 25-byte header, as parseReplicationMessage does', () => {
    const bytes = xlogData(1n, 2n, 3n, hex(''));
    assert.throws(
      () => new XLogDataView().read(bytes, 1, bytes.byteLength),
      (e: unknown) =>
        e instanceof ProtocolError && e.message === 'XLogData must be at least 25 bytes, got 24',
    );
  });

  it('property: reading in place equals parseReplicationMessage on random XLogData anywhere in a buffer', () => {
    const u64 = fc.bigInt({ min: 0n, max: 0xffff_ffff_ffff_ffffn });
    const i64 = fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n });
    fc.assert(
      fc.property(
        u64,
        u64,
        i64,
        fc.uint8Array({ maxLength: 40 }),
        fc.uint8Array({ maxLength: 8 }),
        fc.uint8Array({ maxLength: 8 }),
        (walStart, walEnd, sendTime, data, before, after) => {
          const message = xlogData(walStart, walEnd, sendTime, data);
          const bytes = Buffer.concat([before, message, after]);
          const parsed = parseReplicationMessage(message);
          assert.ok(parsed.type === 'XLogData');
          const view = new XLogDataView();
          view.read(bytes, before.byteLength, before.byteLength + message.byteLength);
          assert.deepEqual(
            [view.type, view.walStart, view.walEnd, view.sendTime, toHex(view.data)],
            [parsed.type, parsed.walStart, parsed.walEnd, parsed.sendTime, toHex(parsed.data)],
          );
          assert.equal(
            (BigInt(view.walEndHigh) << 32n) | BigInt(view.walEndLow),
            parsed.walEnd,
            'the halves compose to walEnd',
          );
        },
      ),
      { seed: 20261204, numRuns: Number(process.env.PGNUDGE_FUZZ_RUNS ?? 300) },
    );
  });
});

// contract R8's feedback rule, without a server: the confirmed position is the highest WAL end seen in
// XLogData or keepalives, a keepalive that asks is answered at once, and the update confirms it all.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { encodeStandbyStatusUpdate, parseReplicationMessage } from '../../../src/protocol/replication.js';
import { StandbyProgress } from '../../../src/protocol/standby-status.js';
import { primaryKeepalive } from '../../support/bytes.js';

const settings = { seed: 20250114, numRuns: Number(process.env.PGNUDGE_FUZZ_RUNS ?? 300) };
const MAX_LSN = 0xffff_ffff_ffff_ffffn;

describe('StandbyProgress', () => {
  test('a new session confirms 0/0', () => {
    const progress = new StandbyProgress();
    assert.equal(progress.confirmed, 0n);
    assert.deepEqual(progress.reply(true), { write: 0n, flush: 0n, apply: 0n, replyRequested: true });
  });

  test('a physical session confirms what it received as written only, never flushed or applied', () => {
    const progress = new StandbyProgress();
    progress.received(0x16_0000_0020n);
    // A flush position would make RawFeed a candidate synchronous standby (syncrep.c).
    assert.deepEqual(progress.replyWritten(true), {
      write: 0x16_0000_0020n,
      flush: 0n,
      apply: 0n,
      replyRequested: true,
    });
  });

  test('XLogData moves the position forward, never back', () => {
    const progress = new StandbyProgress();
    progress.received(0x16_0000_0020n);
    progress.received(0x16_0000_0010n);
    assert.equal(progress.confirmed, 0x16_0000_0020n);
  });

  test('a keepalive past the last XLogData confirms its WAL end: filtered-out writes never pin WAL', () => {
    const progress = new StandbyProgress();
    progress.received(0x100n);
    assert.equal(progress.keepalive({ walEnd: 0x5000n, replyRequested: false }), false);
    assert.equal(progress.confirmed, 0x5000n);
    assert.equal(progress.keepalive({ walEnd: 0x10n, replyRequested: false }), false);
    assert.equal(progress.confirmed, 0x5000n, 'an older keepalive does not move it back');
  });

  test('a keepalive that asks for a reply must be answered at once', () => {
    const progress = new StandbyProgress();
    const parsed = parseReplicationMessage(primaryKeepalive(0x2000n, 0n, true));
    assert.ok(parsed.type === 'PrimaryKeepalive');
    assert.equal(progress.keepalive(parsed), true);
    assert.deepEqual(progress.reply(false), {
      write: 0x2000n,
      flush: 0x2000n,
      apply: 0x2000n,
      replyRequested: false,
    });
  });

  test('the reply encodes as a StandbyStatusUpdate confirming the position three times', () => {
    const progress = new StandbyProgress();
    progress.received(0x16_b374_d848n);
    const frame = encodeStandbyStatusUpdate({ ...progress.reply(true), sendTime: 0n });
    // 'd', length, 'r', then write, flush, apply as big-endian u64, sendTime, and the reply flag.
    const lsn = '00000016b374d848';
    assert.equal(frame.toString('hex'), `640000002672${lsn}${lsn}${lsn}000000000000000001`);
  });

  test('property: the confirmed position is the highest WAL end of every message seen', () => {
    const message = fc.record({
      keepalive: fc.boolean(),
      walEnd: fc.bigInt({ min: 0n, max: MAX_LSN }),
      replyRequested: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(message, { maxLength: 50 }), (messages) => {
        const progress = new StandbyProgress();
        let highest = 0n;
        for (const m of messages) {
          if (m.keepalive) assert.equal(progress.keepalive(m), m.replyRequested);
          else progress.received(m.walEnd);
          if (m.walEnd > highest) highest = m.walEnd;
          assert.equal(progress.confirmed, highest);
        }
        const reply = progress.reply(false);
        assert.ok(reply.write === highest && reply.flush === highest && reply.apply === highest);
      }),
      settings,
    );
  });
});

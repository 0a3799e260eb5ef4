// How `pgnudge watch` prints items (contract §5): the exact --json line, and the readable line.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatHumanLine, formatJsonLine } from '../../../src/cli/format.js';
import { Batch, NudgeEvent, Resync, type ResyncReason } from '../../../src/feed/items.js';

const at = new Date('2024-05-02T10:20:30.456Z');

describe('formatJsonLine', () => {
  test('a Resync is exactly {"type":"resync","reason":...}', () => {
    assert.equal(formatJsonLine(new Resync('connected')), '{"type":"resync","reason":"connected"}');
    for (const reason of ['reconnected', 'overflow', 'failsafe', 'bridge'] as ResyncReason[]) {
      assert.equal(formatJsonLine(new Resync(reason)), `{"type":"resync","reason":"${reason}"}`);
    }
  });

  test('a Batch lists its events with an ISO-8601 UTC firstSeen', () => {
    const batch = new Batch([
      new NudgeEvent('public.orders', 50, at),
      new NudgeEvent('Odd Schema.Tab.le ✓ "q"', 1, new Date('2024-05-02T10:20:30.500Z')),
    ]);
    assert.equal(
      formatJsonLine(batch),
      '{"type":"batch","events":[' +
        '{"payload":"public.orders","count":50,"firstSeen":"2024-05-02T10:20:30.456Z"},' +
        '{"payload":"Odd Schema.Tab.le ✓ \\"q\\"","count":1,"firstSeen":"2024-05-02T10:20:30.500Z"}]}',
    );
  });

  test('a line never contains a newline, whatever the payload', () => {
    const line = formatJsonLine(new Batch([new NudgeEvent('s.a\nb\u2028c', 1, at)]));
    assert.ok(!line.includes('\n'));
    assert.equal(JSON.parse(line).events[0].payload, 's.a\nb\u2028c');
  });

  test('a line parses back to the same shape', () => {
    const parsed = JSON.parse(formatJsonLine(new Batch([new NudgeEvent('public.t', 3, at)])));
    assert.deepEqual(parsed, {
      type: 'batch',
      events: [{ payload: 'public.t', count: 3, firstSeen: '2024-05-02T10:20:30.456Z' }],
    });
  });
});

describe('formatHumanLine', () => {
  test('a Resync: time, kind, reason and what it means', () => {
    assert.equal(
      formatHumanLine(new Resync('connected'), at),
      '10:20:30.456 resync  connected (stream is live: reload everything)',
    );
    assert.match(
      formatHumanLine(new Resync('overflow'), at),
      /^10:20:30\.456 resync {2}overflow \(.*reload everything\)$/,
    );
  });

  test('every reason reads as a reload', () => {
    for (const reason of ['connected', 'reconnected', 'overflow', 'failsafe', 'bridge'] as ResyncReason[]) {
      assert.match(
        formatHumanLine(new Resync(reason), at),
        new RegExp(`resync {2}${reason} \\(.*reload everything\\)$`),
      );
    }
  });

  test('a Batch: each payload with its count, in order', () => {
    const batch = new Batch([
      new NudgeEvent('public.orders', 50, at),
      new NudgeEvent('public.stations', 1, at),
    ]);
    assert.equal(formatHumanLine(batch, at), '10:20:30.456 batch   public.orders ×50, public.stations ×1');
  });

  test('control characters in a name are escaped, so a name cannot forge a line or steer the terminal', () => {
    const batch = new Batch([
      new NudgeEvent('public.a\nb', 1, at),
      new NudgeEvent('public.\u001b[2Jx', 2, at),
      new NudgeEvent('public.\u2028\u007f\u009b', 3, at),
    ]);
    const line = formatHumanLine(batch, at);
    assert.equal(
      line,
      '10:20:30.456 batch   public.a\\u000ab ×1, public.\\u001b[2Jx ×2, public.\\u2028\\u007f\\u009b ×3',
    );
    assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/);
  });

  test('quotes, dots and non-ASCII print as they are', () => {
    const batch = new Batch([new NudgeEvent('Odd Schema.Tab.le ✓ "q"', 1, at)]);
    assert.equal(formatHumanLine(batch, at), '10:20:30.456 batch   Odd Schema.Tab.le ✓ "q" ×1');
  });

  test('the time is UTC', () => {
    assert.ok(
      formatHumanLine(new Resync('failsafe'), new Date('2024-01-01T23:59:59.001Z')).startsWith(
        '23:59:59.001 ',
      ),
    );
  });
});

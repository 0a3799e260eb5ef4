// How `pgnudge watch` prints items (contract §5): the exact --json line, and the readable line.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { displayName, formatHumanLine, formatJsonLine } from '../../../src/cli/format.js';
import { Batch, NudgeEvent, Resync, type ResyncReason } from '../../../src/feed/items.js';
import { printable } from '../../../src/logger.js';
import { assertProperty, fuzzParams } from '../../support/fuzz.js';
import { anyText } from '../../support/text.js';

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
        '{"payload":"public.orders","table":"public.orders","key":null,"count":50,"firstSeen":"2024-05-02T10:20:30.456Z"},' +
        '{"payload":"Odd Schema.Tab.le ✓ \\"q\\"","table":"Odd Schema.Tab.le ✓ \\"q\\"","key":null,"count":1,"firstSeen":"2024-05-02T10:20:30.500Z"}]}',
    );
  });

  test('a row event prints its table and key (contract R22)', () => {
    const batch = new Batch([new NudgeEvent('public.lines', 3, at, ['7', 'gift "wrap"'])]);
    assert.equal(
      formatJsonLine(batch),
      '{"type":"batch","events":[' +
        '{"payload":"public.lines:7,\\"gift \\"\\"wrap\\"\\"\\"","table":"public.lines","key":["7","gift \\"wrap\\""],"count":3,"firstSeen":"2024-05-02T10:20:30.456Z"}]}',
    );
  });

  test('a firstSeen at the edge of the Date range still prints', () => {
    const line = formatJsonLine(new Batch([new NudgeEvent('public.t', 1, new Date(8.64e15))]));
    assert.equal(JSON.parse(line).events[0].firstSeen, '+275760-09-13T00:00:00.000Z');
  });

  test('a line never contains a newline, whatever the payload', () => {
    const line = formatJsonLine(new Batch([new NudgeEvent('s.a\nb\u2028c', 1, at)]));
    assert.ok(!line.includes('\n'));
    assert.equal(JSON.parse(line).events[0].payload, 's.a\nb\u2028c');
  });

  test('characters a terminal acts on are backslash-u escapes that parse back to the same name', () => {
    const name = 'public.a\u007fb\u009b2J\u202ec\u2029d\u{e0041}';
    const line = formatJsonLine(new Batch([new NudgeEvent(name, 1, at)]));
    assert.doesNotMatch(line, /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u);
    assert.ok(line.includes('\\u007f') && line.includes('\\u009b') && line.includes('\\u202e'));
    assert.ok(line.includes('\\udb40\\udc41'), 'an astral character is escaped as its surrogate pair');
    assert.equal(JSON.parse(line).events[0].payload, name);
  });

  test('a line parses back to the same shape', () => {
    const parsed = JSON.parse(formatJsonLine(new Batch([new NudgeEvent('public.t', 3, at)])));
    assert.deepEqual(parsed, {
      type: 'batch',
      events: [
        {
          payload: 'public.t',
          table: 'public.t',
          key: null,
          count: 3,
          firstSeen: '2024-05-02T10:20:30.456Z',
        },
      ],
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

  test('a row event shows its payload: bare when plain, quoted when its key has spaces or quotes', () => {
    const batch = new Batch([
      new NudgeEvent('public.orders', 3, at, ['42']),
      new NudgeEvent('public.lines', 1, at, ['7', 'gift wrap']),
      new NudgeEvent('public.orders', 2, at),
    ]);
    assert.equal(
      formatHumanLine(batch, at),
      '10:20:30.456 batch   public.orders:42 ×3, "public.lines:7,\\"gift wrap\\"" ×1, public.orders ×2',
    );
  });

  test('control characters in a name are escaped, so a name cannot forge a line or steer the terminal', () => {
    const batch = new Batch([
      new NudgeEvent('public.a\nb', 1, at),
      new NudgeEvent('public.\u001b[2Jx', 2, at),
      new NudgeEvent('public.\u2028\u007f\u009b', 3, at),
      new NudgeEvent('public.abc\u202efed', 4, at),
    ]);
    const line = formatHumanLine(batch, at);
    assert.equal(
      line,
      '10:20:30.456 batch   "public.a\\nb" ×1, "public.\\u001b[2Jx" ×2, "public.\\u2028\\u007f\\u009b" ×3, "public.abc\\u202efed" ×4',
    );
    assert.doesNotMatch(line, /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u);
  });

  test('names with spaces, commas or quotes are quoted, so the list reads unambiguously (issue 21)', () => {
    const batch = new Batch([
      new NudgeEvent('Odd Schema.Tab.le ✓ "q"', 1, at),
      new NudgeEvent('public.a, public.b ×9', 2, at),
      new NudgeEvent('public.plain', 3, at),
    ]);
    assert.equal(
      formatHumanLine(batch, at),
      '10:20:30.456 batch   "Odd Schema.Tab.le ✓ \\"q\\"" ×1, "public.a, public.b ×9" ×2, public.plain ×3',
    );
  });

  test('dots and non-ASCII print as they are', () => {
    const batch = new Batch([new NudgeEvent('Схема.таблица_✓', 1, at), new NudgeEvent('s.t😀', 2, at)]);
    assert.equal(formatHumanLine(batch, at), '10:20:30.456 batch   Схема.таблица_✓ ×1, s.t😀 ×2');
  });

  test('the time is UTC', () => {
    assert.ok(
      formatHumanLine(new Resync('failsafe'), new Date('2024-01-01T23:59:59.001Z')).startsWith(
        '23:59:59.001 ',
      ),
    );
  });
});

describe('displayName', () => {
  test('bare when unambiguous, quoted otherwise', () => {
    const cases: [string, string][] = [
      ['public.orders', 'public.orders'],
      ['a b.c', '"a b.c"'],
      ['a,b.c', '"a,b.c"'],
      ['a\u00a0b.c', '"a\u00a0b.c"'],
      ['"q".t', '"\\"q\\".t"'],
      ['back\\slash.t', '"back\\\\slash.t"'],
      ['', '""'],
    ];
    for (const [name, shown] of cases) assert.equal(displayName(name), shown, JSON.stringify(name));
  });

  test('property: a quoted name unquotes to its printable() form, and no output holds a raw control', () => {
    assertProperty(
      fc.property(anyText(30), (name) => {
        const shown = displayName(name);
        assert.doesNotMatch(shown, /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u);
        if (shown === name) {
          assert.doesNotMatch(name, /[\s,"\\]/u);
          return;
        }
        assert.ok(shown.startsWith('"') && shown.endsWith('"'));
        assert.equal(shown.slice(1, -1).replaceAll('\\"', '"'), printable(name));
      }),
      fuzzParams(1000),
    );
  });
});

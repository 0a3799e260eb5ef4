// Colour for the human output (issue 21): a terminal gets it, a pipe never does, and NO_COLOR, FORCE_COLOR
// and TERM=dumb are respected; painted text is plain text with SGR sequences around it.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ANSI, colorEnabled, PLAIN, paletteFor } from '../../../src/cli/color.js';
import { formatDoctorHuman } from '../../../src/cli/doctor/format.js';
import { formatHumanLine } from '../../../src/cli/format.js';
import { Batch, NudgeEvent, Resync } from '../../../src/feed/items.js';

const NOW = new Date('2026-11-24T12:00:00.000Z');
const SGR = /\u001b\[[0-9;]*m/g;

describe('colorEnabled', () => {
  const cases: [string, boolean | undefined, Record<string, string>, boolean][] = [
    ['a terminal', true, {}, true],
    ['a pipe or a file', false, {}, false],
    ['no isTTY at all', undefined, {}, false],
    ['NO_COLOR on a terminal', true, { NO_COLOR: '1' }, false],
    ['an empty NO_COLOR is unset (no-color.org)', true, { NO_COLOR: '' }, true],
    ['TERM=dumb', true, { TERM: 'dumb' }, false],
    ['FORCE_COLOR in a pipe', false, { FORCE_COLOR: '1' }, true],
    ['FORCE_COLOR outranks NO_COLOR', false, { FORCE_COLOR: '3', NO_COLOR: '1' }, true],
    ['FORCE_COLOR=0 on a terminal', true, { FORCE_COLOR: '0' }, false],
    ['FORCE_COLOR=false on a terminal', true, { FORCE_COLOR: 'false' }, false],
  ];
  for (const [name, isTTY, env, expected] of cases) {
    test(`${name}: ${expected ? 'colour' : 'none'}`, () => {
      assert.equal(colorEnabled(isTTY, env), expected);
      assert.equal(paletteFor(isTTY, env), expected ? ANSI : PLAIN);
    });
  }
});

describe('painted output', () => {
  const batch = new Batch([new NudgeEvent('public.orders', 3, NOW), new NudgeEvent('Odd Schema.t', 1, NOW)]);

  test('the watch line is the plain line plus SGR sequences, and plain without colour', () => {
    for (const item of [new Resync('connected'), batch]) {
      const plain = formatHumanLine(item, NOW);
      assert.equal(formatHumanLine(item, NOW, PLAIN), plain);
      const painted = formatHumanLine(item, NOW, ANSI);
      assert.notEqual(painted, plain);
      assert.equal(painted.replace(SGR, ''), plain);
    }
    assert.equal(formatHumanLine(batch, NOW), '12:00:00.000 batch   public.orders ×3, "Odd Schema.t" ×1');
  });

  test("doctor's marks and verdict are coloured only with a palette", () => {
    const report = {
      ok: false,
      plugin: null,
      feed: null,
      rawFeed: false,
      platform: 'self-managed' as const,
      target: 'u@h:5432/d',
      checks: [
        { name: 'connection' as const, ok: true, detail: 'connected', fix: null },
        { name: 'wal_level' as const, ok: false, detail: 'wal_level = replica', fix: 'ALTER SYSTEM ...' },
      ],
    };
    const plain = formatDoctorHuman(report);
    assert.doesNotMatch(plain, SGR);
    const painted = formatDoctorHuman(report, ANSI);
    assert.match(painted, /\u001b\[32m✓\u001b\[39m connection/);
    assert.match(painted, /\u001b\[31m✗\u001b\[39m wal_level/);
    assert.equal(painted.replace(SGR, ''), plain);
  });
});

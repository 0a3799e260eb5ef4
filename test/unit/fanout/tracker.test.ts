// A listener's bridge tracking: reassembly, gaps, replacement, silence and hostile input all end in
// either the events or a Resync, never a crash or a silent loss.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BridgeTracker, type TrackerAction } from '../../../src/fanout/tracker.js';
import { WireEncoder, type WireEvent } from '../../../src/fanout/wire.js';

const tracker = () => new BridgeTracker({ silenceMs: 3000, maxEvents: 10_000, nowMs: 0 });
const kinds = (actions: TrackerAction[]) => actions.filter((a) => a.type !== 'log').map((a) => a.type);
const events = (actions: TrackerAction[]) =>
  actions.flatMap((a) => (a.type === 'events' ? [...a.events] : []));

const many: WireEvent[] = Array.from({ length: 600 }, (_, i) => [
  `public.${'long_table_name_'.repeat(3)}${i}_✓`,
  i + 1,
  1000 + i,
]);

describe('BridgeTracker', () => {
  test('reassembles a split batch into one events action, only after the last part', () => {
    const t = tracker();
    const wire = new WireEncoder('b1');
    t.receive(wire.heartbeat()[0] as string, 1);
    const parts = wire.batch(many);
    assert.ok(parts.length > 2);
    const actions = parts.map((part) => t.receive(part, 2));
    for (const early of actions.slice(0, -1)) assert.deepEqual(early, []);
    assert.deepEqual(kinds(actions.at(-1) ?? []), ['events']);
    assert.deepEqual(events(actions.at(-1) ?? []), many);
  });

  test('a missing, repeated or reordered part resyncs and drops the incomplete batch', () => {
    for (const mangle of [
      (p: string[]) => [p[0], p[2], p[3]],
      (p: string[]) => [p[0], p[1], p[1], p[2], p[3]],
      (p: string[]) => [p[1], p[0], p[2], p[3]],
      (p: string[]) => [p[0], p[1], p[3]],
    ]) {
      const t = tracker();
      const wire = new WireEncoder('b1');
      t.receive(wire.heartbeat()[0] as string, 1);
      const parts = wire.batch(many);
      assert.ok(parts.length >= 4, `${parts.length} parts`);
      const got = (mangle(parts) as string[]).flatMap((part) => t.receive(part, 2));
      // The rest of the batch, too: whatever follows a broken one must not complete it.
      for (const part of parts.slice(4)) got.push(...t.receive(part, 3));
      assert.ok(kinds(got).includes('resync'), 'expected a resync');
      assert.ok(events(got).length < many.length, 'an incomplete batch was delivered whole');
      assert.ok(got.some((a) => a.type === 'log' && a.level === 'warn'));
    }
  });

  test('a batch interrupted by another message resyncs', () => {
    const t = tracker();
    const wire = new WireEncoder('b1');
    const parts = wire.batch(many);
    t.receive(parts[0] as string, 1);
    const hb = new WireEncoder('b1');
    assert.deepEqual(kinds(t.receive(hb.heartbeat()[0] as string, 2)), ['resync']);
  });

  test('a gap in sequence numbers resyncs; the first message after reset is the baseline', () => {
    const t = tracker();
    const wire = new WireEncoder('b1');
    wire.heartbeat();
    wire.heartbeat();
    assert.deepEqual(t.receive(wire.heartbeat()[0] as string, 1), []);
    assert.deepEqual(t.receive(wire.heartbeat()[0] as string, 2), []);
    wire.heartbeat();
    assert.deepEqual(kinds(t.receive(wire.heartbeat()[0] as string, 3)), ['resync']);
  });

  test("the bridge's own resync is forwarded; a new bridge id resyncs", () => {
    const t = tracker();
    const first = new WireEncoder('b1');
    t.receive(first.heartbeat()[0] as string, 1);
    assert.deepEqual(kinds(t.receive(first.resync('reconnected')[0] as string, 2)), ['resync']);
    const second = new WireEncoder('b2');
    assert.deepEqual(kinds(t.receive(second.heartbeat()[0] as string, 3)), ['resync']);
    assert.equal(t.bridge, 'b2');
    assert.deepEqual(t.receive(second.heartbeat()[0] as string, 4), []);
  });

  test('silence warns once; the bridge heard again resyncs', () => {
    const t = tracker();
    const wire = new WireEncoder('b1');
    t.receive(wire.heartbeat()[0] as string, 1000);
    assert.deepEqual(t.checkSilence(3500), []);
    const warned = t.checkSilence(4001);
    assert.equal(warned.length, 1);
    assert.ok(warned[0]?.type === 'log' && warned[0].level === 'warn');
    assert.deepEqual(t.checkSilence(9000), [], 'warns once');
    assert.equal(t.silent, true);
    assert.deepEqual(kinds(t.receive(wire.heartbeat()[0] as string, 9001)), ['resync']);
    assert.equal(t.silent, false);
  });

  test('malformed, unknown-version and foreign payloads warn and resync, and do not count as the bridge', () => {
    const t = tracker();
    for (const junk of [
      '',
      'hello',
      '{"v":2,"b":"x","q":0,"k":"hb"}',
      '{"v":1,"b":"x","q":0,"k":"zz"}',
      '[]',
    ]) {
      const actions = t.receive(junk, 1);
      assert.deepEqual(kinds(actions), ['resync'], junk);
      assert.ok(actions.some((a) => a.type === 'log' && a.level === 'warn'));
    }
    assert.equal(t.bridge, null);
    assert.equal(t.checkSilence(3001).length, 1, 'junk does not keep the silence warning away');
  });

  test('a hostile endless split batch is bounded by maxEvents', () => {
    const t = new BridgeTracker({ silenceMs: 3000, maxEvents: 50, nowMs: 0 });
    const big = (part: number) =>
      JSON.stringify({
        v: 1,
        b: 'x',
        q: part,
        k: 'batch',
        p: part,
        n: 1000,
        e: Array(20).fill(['a.b', 1, 0]),
      });
    const all = [0, 1, 2, 3].flatMap((part) => t.receive(big(part), 1));
    assert.ok(kinds(all).includes('resync'));
  });

  test('reset forgets the bridge, so a reconnect does not resync twice', () => {
    const t = tracker();
    t.receive(new WireEncoder('b1').heartbeat()[0] as string, 1);
    t.reset(2);
    assert.equal(t.bridge, null);
    const wire = new WireEncoder('b2');
    wire.heartbeat();
    assert.deepEqual(t.receive(wire.heartbeat()[0] as string, 3), []);
  });
});

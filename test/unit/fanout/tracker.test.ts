// A listener's bridge tracking over wire format v2 (contract R29): what it believes, what it drops without
// effect (forged, replayed, replaced, stale, future), takeovers, gaps, split batches, silence, and the
// drop report's rate limit. Every case runs on the clock values it passes in.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ChannelKey } from '../../../src/fanout/auth.js';
import { BridgeTracker, DROP_REPORT_INTERVAL_MS, type TrackerAction } from '../../../src/fanout/tracker.js';
import { CLOCK_WINDOW_MS, WireEncoder, type WireEvent } from '../../../src/fanout/wire.js';

const key = ChannelKey.derive('a shared secret of 32 bytes, ok?', 'pgnudge');
const T = 1_700_000_000_000;
const A = 'aaaaaaaaaaaaaaaa';
const B = 'bbbbbbbbbbbbbbbb';
const C = 'cccccccccccccccc';

const tracker = (options: Partial<ConstructorParameters<typeof BridgeTracker>[0]> = {}) =>
  new BridgeTracker({ key, silenceMs: 3000, maxEvents: 10_000, nowMs: T, ...options });
const bridge = (id: string, withKey: ChannelKey | null = key, limit?: number) =>
  new WireEncoder({ bridgeId: id, key: withKey, ...(limit === undefined ? {} : { limit }) });
const one = (payloads: string[]) => {
  assert.equal(payloads.length, 1);
  return payloads[0] as string;
};
const kinds = (actions: TrackerAction[]) => actions.filter((a) => a.type !== 'log').map((a) => a.type);
const logs = (actions: TrackerAction[]) =>
  actions.flatMap((a) => (a.type === 'log' ? [`${a.level}: ${a.message}`] : []));
const events = (actions: TrackerAction[]) =>
  actions.flatMap((a) => (a.type === 'events' ? [...a.events] : []));
const ev = (table: string, k: string[] | null = null): WireEvent => ({
  table,
  key: k,
  count: 1,
  firstSeenMs: T,
});

/** A tracker that has believed bridge A's first heartbeat (so drops start being reported at once). */
function following(options: Partial<ConstructorParameters<typeof BridgeTracker>[0]> = {}): {
  t: BridgeTracker;
  a: WireEncoder;
} {
  const t = tracker(options);
  const a = bridge(A);
  assert.deepEqual(t.receive(one(a.heartbeat(T)), T), []);
  return { t, a };
}

describe('BridgeTracker: what it believes', () => {
  test('heartbeats pass silently, resyncs and batches become actions', () => {
    const { t, a } = following();
    assert.deepEqual(t.receive(one(a.resync('reconnected', T + 1)), T + 1), [{ type: 'resync' }]);
    assert.deepEqual(t.receive(one(a.batch([ev('public.orders', ['42'])], T + 2)), T + 2), [
      { type: 'events', events: [ev('public.orders', ['42'])] },
    ]);
    assert.equal(t.bridge, A);
  });

  test('a new bridge with a fresh timestamp is a takeover: Resync("bridge"), logged as info', () => {
    const { t, a } = following();
    t.receive(one(a.heartbeat(T + 100)), T + 100);
    const actions = t.receive(one(bridge(B).heartbeat(T + 200)), T + 200);
    assert.deepEqual(kinds(actions), ['resync']);
    assert.deepEqual(logs(actions), [`info: bridge ${A} was replaced by bridge ${B}`]);
    assert.equal(t.bridge, B);
  });

  test("a gap in the active bridge's sequence numbers resyncs (a real message went missing)", () => {
    const { t, a } = following();
    a.heartbeat(T);
    const actions = t.receive(one(a.heartbeat(T + 1)), T + 1);
    assert.deepEqual(kinds(actions), ['resync']);
    assert.match(logs(actions)[0] ?? '', /^warn: .*1 message\(s\) missing before message 2/);
  });

  test('insecure: unsigned messages are believed, signed ones too (their MAC cannot be checked)', () => {
    const t = tracker({ key: null });
    assert.deepEqual(t.receive(one(bridge(A, null).heartbeat(T)), T), []);
    const signed = bridge(A);
    signed.heartbeat(T);
    assert.deepEqual(t.receive(one(signed.batch([ev('s.t')], T)), T), [
      { type: 'events', events: [ev('s.t')] },
    ]);
  });
});

describe('BridgeTracker: insecure mode, the threat docs/fanout.md states', () => {
  test('a forged takeover silences the real bridge with no error; only the drop report counts its messages', () => {
    const t = tracker({ key: null });
    const real = bridge(A, null);
    t.receive(one(real.heartbeat(T)), T);
    const forger = bridge(C, null);
    const got: TrackerAction[] = [...t.receive(one(forger.heartbeat(T + 10)), T + 10)];
    for (let ms = 500; ms <= 10_000; ms += 500) {
      got.push(...t.receive(one(real.batch([ev('public.orders')], T + ms)), T + ms));
      got.push(...t.receive(one(forger.heartbeat(T + ms + 1)), T + ms + 1), ...t.tick(T + ms + 2));
    }
    assert.deepEqual(events(got), [], 'every real change missed');
    assert.ok(!logs(got).some((line) => line.startsWith('error:')), 'and no silence error');
    assert.equal(t.dropped.replaced, 20);
  });
});

describe('BridgeTracker: drops without effect', () => {
  /** Asserts that `payload` is dropped for `reason` and changes nothing: the next real message is plain. */
  function dropsWithoutEffect(payload: string, reason: string, at = T + 10): void {
    const { t, a } = following();
    const before = t.dropped;
    const actions = t.receive(payload, at);
    assert.deepEqual(kinds(actions), [], 'no Resync, no events');
    assert.equal(
      t.dropped[reason as keyof typeof before],
      1,
      `counted as ${reason}: ${JSON.stringify(t.dropped)}`,
    );
    assert.equal(t.bridge, A);
    assert.deepEqual(
      t.receive(one(a.heartbeat(T + 20)), T + 20),
      [],
      'the real stream continues as if nothing came',
    );
    assert.deepEqual(t.receive(one(a.batch([ev('s.real')], T + 21)), T + 21), [
      { type: 'events', events: [ev('s.real')] },
    ]);
  }

  test('a forged MAC', () => {
    const real = one(bridge(A).heartbeat(T));
    dropsWithoutEffect(`v2.${'A'.repeat(43)}${real.slice(46)}`, 'mac');
    const forged = bridge(C, ChannelKey.derive('an attacker guessed this secret', 'pgnudge'));
    dropsWithoutEffect(one(forged.resync('connected', T + 10)), 'mac');
  });

  test('a message signed for another channel', () => {
    const otherChannel = bridge(C, ChannelKey.derive('a shared secret of 32 bytes, ok?', 'other'));
    dropsWithoutEffect(one(otherChannel.batch([ev('public.fake')], T + 10)), 'mac');
  });

  test('an unsigned message to a listener with a secret', () => {
    dropsWithoutEffect(one(bridge(C, null).resync('connected', T + 10)), 'unsigned');
  });

  test('malformed payloads, including v1 messages and hostile text', () => {
    dropsWithoutEffect('{"v":1,"b":"x","q":0,"k":"resync","r":"connected"}', 'malformed');
    dropsWithoutEffect('\u001b[2J\n2024-01-01 ERROR fake', 'malformed');
  });

  test('a replayed message of the active bridge (a sequence number not above the last believed)', () => {
    const t = tracker();
    const a = bridge(A);
    const first = one(a.resync('connected', T));
    const second = one(a.batch([ev('s.t')], T + 1));
    t.receive(first, T);
    t.receive(second, T + 1);
    for (const replay of [first, second, second]) {
      assert.deepEqual(kinds(t.receive(replay, T + 2)), []);
    }
    assert.equal(t.dropped.replayed, 3);
    assert.deepEqual(t.receive(one(a.heartbeat(T + 3)), T + 3), []);
  });

  test('a replayed message of a bridge seen replaced, even one newer than the takeover', () => {
    const t = tracker();
    const a = bridge(A);
    const b = bridge(B);
    t.receive(one(a.heartbeat(T)), T);
    // A's clock runs ahead of B's: its recorded message is "newer" than B's first.
    const recordedA = one(a.heartbeat(T + 5000));
    t.receive(one(b.heartbeat(T + 100)), T + 100);
    assert.deepEqual(kinds(t.receive(recordedA, T + 200)), []);
    assert.equal(t.dropped.replaced, 1);
    assert.equal(t.bridge, B);
    assert.deepEqual(t.receive(one(b.heartbeat(T + 300)), T + 300), []);
  });

  test('a recording of a bridge never seen here, older than what the active bridge said', () => {
    const c = bridge(C);
    const recorded = one(c.resync('connected', T - 1000));
    const { t, a } = following();
    t.receive(one(a.heartbeat(T + 1)), T + 1);
    assert.deepEqual(kinds(t.receive(recorded, T + 2)), []);
    assert.equal(t.dropped.replayed, 1);
    assert.equal(t.bridge, A);
  });

  test('a timestamp more than the clock window behind (stale) or ahead (future)', () => {
    const c = bridge(C);
    dropsWithoutEffect(one(c.heartbeat(T + 10 - CLOCK_WINDOW_MS - 1)), 'stale');
    dropsWithoutEffect(one(bridge(C).heartbeat(T + 10 + CLOCK_WINDOW_MS + 1)), 'future');
    const edge = tracker();
    assert.deepEqual(
      edge.receive(one(bridge(A).heartbeat(T - CLOCK_WINDOW_MS)), T),
      [],
      'the window is inclusive',
    );
    assert.equal(edge.bridge, A);
  });

  test('a late message of the active bridge is dropped, and the gap it leaves resyncs', () => {
    const { t, a } = following();
    const late = one(a.batch([ev('s.t')], T + 1));
    assert.deepEqual(kinds(t.receive(late, T + 2 + CLOCK_WINDOW_MS)), []);
    assert.deepEqual(kinds(t.receive(one(a.heartbeat(T + 3 + CLOCK_WINDOW_MS)), T + 3 + CLOCK_WINDOW_MS)), [
      'resync',
    ]);
  });

  test('a 1e300 firstSeen is dropped without a throw, with or without a secret', () => {
    const body = `{"b":"${A}","q":1,"t":${T},"k":"batch","p":0,"n":1,"e":[["public.orders",null,1,1e300]]}`;
    for (const withKey of [key, null]) {
      const t = tracker({ key: withKey });
      t.receive(one(bridge(A, withKey).heartbeat(T)), T);
      const payload = `v2.${withKey === null ? '' : withKey.sign(body)}.${body}`;
      assert.deepEqual(kinds(t.receive(payload, T)), []);
      assert.equal(t.dropped.malformed, 1);
    }
  });

  test('the log never carries text from the wire', () => {
    const { t } = following();
    const hostile = [
      '\u001b]0;pwned\u0007',
      `v2..{"b":"\u001b[2J","q":0,"t":${T},"k":"hb"}`,
      `v2..{"b":"${B}","q":0,"t":${T},"k":"resync","r":"x\\n2024 ERROR fake"}`,
    ];
    const all = hostile.flatMap((payload) => t.receive(payload, T + 1));
    all.push(...t.tick(T + 1 + DROP_REPORT_INTERVAL_MS));
    for (const line of logs(all)) {
      assert.doesNotMatch(line, /[\u0000-\u001f\u007f-\u009f]|pwned|fake/);
    }
  });
});

describe('BridgeTracker: split batches', () => {
  const many = Array.from({ length: 400 }, (_, i) =>
    ev(`public.${'long_table_name_'.repeat(3)}${i}_✓`, [String(i)]),
  );

  test('tampered, replayed and forged parts injected between real parts are dropped; the batch arrives whole', () => {
    const { t, a } = following();
    const parts = a.batch(many, T + 1);
    assert.ok(parts.length >= 3, `${parts.length} parts`);
    const tampered = (part: string) => part.replace('"q":', '"q":1');
    const got: TrackerAction[] = [];
    got.push(...t.receive(parts[0] as string, T + 2));
    got.push(...t.receive(tampered(parts[1] as string), T + 2));
    got.push(...t.receive(parts[0] as string, T + 2));
    got.push(...t.receive(one(bridge(C, null).batch([ev('public.fake')], T + 2)), T + 2));
    for (const part of parts.slice(1)) got.push(...t.receive(part, T + 2));
    assert.deepEqual(kinds(got), ['events']);
    assert.deepEqual(events(got), many);
    assert.equal(t.dropped.mac + t.dropped.replayed + t.dropped.unsigned, 3);
    // A replay of the whole batch afterwards is dropped part by part.
    const replay = parts.flatMap((part) => t.receive(part, T + 3));
    assert.deepEqual(kinds(replay), []);
  });

  test('a split batch interrupted by another message of the bridge resyncs', () => {
    const { t, a } = following();
    const parts = a.batch(many, T + 1);
    t.receive(parts[0] as string, T + 1);
    // The bridge moved on: its next number is after the whole batch, so the tracker sees a gap too.
    const next = one(a.heartbeat(T + 2));
    assert.deepEqual(kinds(t.receive(next, T + 2)), ['resync']);
  });

  test('a split batch larger than maxEvents resyncs once and skips its remaining parts', () => {
    const t = tracker({ maxEvents: 50 });
    const a = bridge(A);
    t.receive(one(a.heartbeat(T)), T);
    const parts = a.batch(many, T + 1);
    const got = parts.flatMap((part) => t.receive(part, T + 1));
    assert.deepEqual(kinds(got), ['resync']);
    assert.match(logs(got)[0] ?? '', /more than maxPending \(50\)/);
    assert.deepEqual(t.receive(one(a.heartbeat(T + 2)), T + 2), [], 'the stream goes on from there');
  });
});

describe('BridgeTracker: silence', () => {
  test('no believed message for the timeout logs one error; forged heartbeats cannot hide it', () => {
    const { t } = following();
    const forger = bridge(A, ChannelKey.derive('not the secret but long enough', 'pgnudge'));
    forger.heartbeat(T);
    for (let ms = 500; ms <= 3000; ms += 500)
      assert.deepEqual(kinds(t.receive(one(forger.heartbeat(T + ms)), T + ms)), []);
    const error = [...t.receive(one(forger.heartbeat(T + 3001)), T + 3001), ...t.tick(T + 3500)];
    const errors = logs(error).filter((line) => line.startsWith('error:'));
    assert.equal(errors.length, 1, JSON.stringify(logs(error)));
    assert.match(
      errors[0] ?? '',
      /no authenticated message from bridge a{16} for 3001 ms \(6 message\(s\) were dropped/,
    );
    assert.equal(t.silent, true);
    assert.deepEqual(
      t.tick(T + 9000).filter((a) => a.type === 'log' && a.level === 'error'),
      [],
      'once',
    );
  });

  test('the bridge heard again after silence resyncs', () => {
    const { t, a } = following();
    t.tick(T + 3001);
    const actions = t.receive(one(a.heartbeat(T + 4000)), T + 4000);
    assert.deepEqual(kinds(actions), ['resync']);
    assert.match(logs(actions)[0] ?? '', /heard again/);
    assert.equal(t.silent, false);
  });

  test('silence lifts the replaced rule, so a listener is never stuck on a bridge that stopped', () => {
    const t = tracker();
    const a = bridge(A);
    const b = bridge(B);
    t.receive(one(a.heartbeat(T)), T);
    t.receive(one(b.heartbeat(T + 10)), T + 10);
    // A comes back (or a recording of A replaces B while B is silent): believed only after silence.
    assert.deepEqual(kinds(t.receive(one(a.heartbeat(T + 20)), T + 20)), []);
    assert.equal(t.dropped.replaced, 1);
    t.tick(T + 3100);
    assert.deepEqual(kinds(t.receive(one(a.heartbeat(T + 3200)), T + 3200)), ['resync']);
    assert.equal(t.bridge, A);
  });

  test('silence does not let a recording through: it must still be newer than all that was believed', () => {
    const t = tracker();
    const a = bridge(A);
    const b = bridge(B);
    t.receive(one(a.heartbeat(T)), T);
    const recordedA = one(a.heartbeat(T + 5));
    t.receive(one(b.heartbeat(T + 10)), T + 10);
    t.tick(T + 3100);
    assert.equal(t.silent, true);
    assert.deepEqual(kinds(t.receive(recordedA, T + 3200)), []);
    assert.equal(t.dropped.replayed, 1);
    assert.equal(t.silent, true, 'the error stands');
  });

  test('silence in insecure mode says "no message"', () => {
    const t = tracker({ key: null });
    assert.match(logs(t.tick(T + 3001))[0] ?? '', /^error: no message from any bridge for 3001 ms/);
  });
});

describe('BridgeTracker: drop report', () => {
  // A long heartbeat timeout keeps the silence error out of these minutes.
  const quietly = { silenceMs: 10 * DROP_REPORT_INTERVAL_MS };

  test('the first drop is reported at once; later ones at most once a minute, with counts by reason', () => {
    const { t } = following(quietly);
    const forged = `v2.${'A'.repeat(43)}.{}`;
    const first = t.receive(forged, T + 1);
    assert.deepEqual(logs(first), [
      'warn: dropped 1 message(s), without effect: 1 with a wrong MAC (forged, altered, or from a bridge with another secret). Drops are reported at most once a minute.',
    ]);
    const quiet: TrackerAction[] = [];
    for (let i = 0; i < 5; i++) quiet.push(...t.receive(forged, T + 2 + i));
    quiet.push(...t.receive(one(bridge(C, null).heartbeat(T + 10)), T + 10));
    quiet.push(...t.receive('junk', T + 11));
    quiet.push(...t.tick(T + DROP_REPORT_INTERVAL_MS));
    assert.deepEqual(logs(quiet), []);
    const report = logs(t.tick(T + 1 + DROP_REPORT_INTERVAL_MS));
    assert.deepEqual(report, [
      'warn: dropped 7 message(s) in the last 60 s, without effect: 5 with a wrong MAC (forged, altered, or from a bridge with another secret); 1 unsigned (from a bridge running with insecure: true?); 1 malformed (not pgnudge wire format version 2). Drops are reported at most once a minute.',
    ]);
    assert.deepEqual(logs(t.tick(T + 2 + 2 * DROP_REPORT_INTERVAL_MS)), [], 'nothing new, nothing said');
    assert.deepEqual(t.dropped, {
      mac: 6,
      unsigned: 1,
      malformed: 1,
      replayed: 0,
      replaced: 0,
      stale: 0,
      future: 0,
    });
  });

  test('a drop after a quiet minute is reported at once', () => {
    const { t } = following(quietly);
    t.receive('junk', T + 1);
    assert.equal(logs(t.receive('junk', T + 1 + DROP_REPORT_INTERVAL_MS)).length, 1);
  });
});

describe('BridgeTracker: reset', () => {
  test('a new LISTEN session takes the next message as a baseline, but still drops replays', () => {
    const { t, a } = following();
    const old = one(a.batch([ev('s.t')], T + 1));
    t.receive(old, T + 1);
    a.heartbeat(T + 2); // missed while reconnecting
    t.reset(T + 3);
    assert.deepEqual(kinds(t.receive(old, T + 3)), [], 'a replay across the reconnect');
    assert.equal(t.dropped.replayed, 1);
    assert.deepEqual(
      t.receive(one(a.heartbeat(T + 4)), T + 4),
      [],
      'no gap Resync: the reconnect Resync covers it',
    );
    t.reset(T + 5);
    assert.deepEqual(t.receive(one(bridge(B).heartbeat(T + 6)), T + 6), [], 'nor a takeover Resync');
    assert.equal(t.bridge, B);
  });

  test('a broker session keeps the sequence: a gap or a takeover across the reconnect resyncs', () => {
    const { t, a } = following();
    t.receive(one(a.heartbeat(T + 1)), T + 1);
    t.reset(T + 2, true);
    // Published after this consumer subscribed again, lost while the bridge's own link was down.
    a.batch([ev('s.t')], T + 3);
    assert.deepEqual(kinds(t.receive(one(a.heartbeat(T + 4)), T + 4)), ['resync'], 'the gap resyncs');
    t.reset(T + 5, true);
    assert.deepEqual(kinds(t.receive(one(a.heartbeat(T + 6)), T + 6)), [], 'no gap, no Resync');
    t.reset(T + 7, true);
    assert.deepEqual(kinds(t.receive(one(bridge(B).heartbeat(T + 8)), T + 8)), ['resync'], 'a takeover');
  });
});

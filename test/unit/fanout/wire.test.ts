// The fan-out wire format v2 (docs/fanout.md, contract R29): signed, numbered, timestamped payloads split
// under NOTIFY's limit, and the reader that checks the MAC before parsing and refuses all it should.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { ChannelKey } from '../../../src/fanout/auth.js';
import {
  CLOCK_WINDOW_MS,
  MAX_EVENT_AGE_MS,
  MAX_PAYLOAD_BYTES,
  newBridgeId,
  type OpenResult,
  openWireMessage,
  WireEncoder,
  type WireEvent,
  type WireMessage,
} from '../../../src/fanout/wire.js';
import { repoPath } from '../../support/cluster.js';

const SECRET = 'correct horse battery staple 42';
const key = ChannelKey.derive(SECRET, 'pgnudge');
const ID = '0123456789abcdef';
const T = 1_700_000_000_000;
const bytes = (text: string) => Buffer.byteLength(text, 'utf8');

function opened(payload: string, withKey: ChannelKey | null = key): WireMessage {
  const result = openWireMessage(payload, withKey);
  assert.ok(result.ok, `expected a valid message, got ${JSON.stringify(result)}: ${payload.slice(0, 120)}`);
  return result.message;
}

function refused(result: OpenResult): { reason: string; problem: string } {
  assert.equal(result.ok, false);
  return result as { ok: false; reason: string; problem: string };
}

/** An insecure payload with `body` as is: exercises the body rules without a MAC in the way. */
const raw = (body: unknown) => `v2..${typeof body === 'string' ? body : JSON.stringify(body)}`;

const event = (
  table: string,
  key: readonly string[] | null = null,
  count = 1,
  firstSeenMs = T,
): WireEvent => ({
  table,
  key,
  count,
  firstSeenMs,
});

describe('WireEncoder', () => {
  test('insecure: v2, an empty MAC field, and compact JSON with consecutive sequence numbers', () => {
    const wire = new WireEncoder({ bridgeId: ID, key: null });
    assert.deepEqual(wire.heartbeat(T), [`v2..{"b":"${ID}","q":0,"t":${T},"k":"hb"}`]);
    assert.deepEqual(wire.resync('connected', T + 1), [
      `v2..{"b":"${ID}","q":1,"t":${T + 1},"k":"resync","r":"connected"}`,
    ]);
    assert.deepEqual(wire.batch([event('public.orders', ['42'], 3, T - 10)], T + 2), [
      `v2..{"b":"${ID}","q":2,"t":${T + 2},"k":"batch","p":0,"n":1,"e":[["public.orders",["42"],3,${T - 10}]]}`,
    ]);
    assert.equal(wire.seq, 3);
  });

  test("docs/fanout.md's test vector verifies with the secret and channel it names", () => {
    const docs = readFileSync(repoPath('docs', 'fanout.md'), 'utf8');
    const vectors = docs.split('\n').filter((line) => line.startsWith('v2.') && !line.includes('<mac>'));
    assert.equal(vectors.length, 1);
    assert.match(docs, /signed with the secret `correct horse battery staple 42` on channel `pgnudge`/);
    assert.deepEqual(opened(vectors[0] as string), { bridge: ID, seq: 0, sentMs: T, kind: 'hb' });
  });

  test('signed: the MAC is HMAC-SHA-256 under the HKDF key of secret and channel (golden values)', () => {
    // Computed with an independent RFC 5869 implementation (Python's hmac module):
    // HKDF-SHA-256(ikm = secret, salt = "pgnudge fan-out", info = "wire v2 mac\0pgnudge"), then HMAC of the body.
    const wire = new WireEncoder({ bridgeId: ID, key });
    assert.deepEqual(wire.heartbeat(T), [
      `v2.yPO7psN_3KRthG53nWrrbb_JmIBwvEviL8yMft7_QHA.{"b":"${ID}","q":0,"t":${T},"k":"hb"}`,
    ]);
  });

  test('a batch of 300 long multi-byte names with keys splits under the limit and reassembles in order', () => {
    const events: WireEvent[] = [];
    for (let i = 0; i < 300; i++) {
      const name = `таблица_✓_𝔘_"q"\\_${String(i).padStart(3, '0')}_${'é'.repeat(20)}`;
      events.push(event(`Схема ✓.${name}`, [`ключ ${i}`, 'a,"b"\\c'], i + 1, T - i));
    }
    const payloads = new WireEncoder({ bridgeId: ID, key }).batch(events, T);
    assert.ok(payloads.length > 1, `expected a split, got ${payloads.length} part(s)`);
    const back: WireEvent[] = [];
    payloads.forEach((payload, index) => {
      assert.ok(bytes(payload) <= MAX_PAYLOAD_BYTES, `part ${index} is ${bytes(payload)} bytes`);
      const message = opened(payload);
      assert.ok(message.kind === 'batch');
      assert.equal(message.part, index);
      assert.equal(message.parts, payloads.length);
      assert.equal(message.seq, index);
      back.push(...message.events);
    });
    assert.deepEqual(back, events);
    for (const payload of payloads.slice(0, -1)) assert.ok(bytes(payload) > MAX_PAYLOAD_BYTES - 400);
  });

  test('the split holds at every limit, signed or not', () => {
    const events = Array.from({ length: 40 }, (_, i) => event(`s.t${'€'.repeat(i)}`, [String(i)]));
    for (const withKey of [key, null]) {
      for (const limit of [400, 433, 600, 1000, 7999]) {
        const payloads = new WireEncoder({ bridgeId: ID, key: withKey, limit }).batch(events, T);
        const back: WireEvent[] = [];
        for (const payload of payloads) {
          assert.ok(bytes(payload) <= limit, `${bytes(payload)} > ${limit}`);
          const message = opened(payload, withKey);
          if (message.kind === 'batch') back.push(...message.events);
        }
        assert.deepEqual(back, events, `limit ${limit}`);
      }
    }
  });

  test('a key that cannot fit a message goes as its table (coarser, never lost)', () => {
    const wire = new WireEncoder({ bridgeId: ID, key });
    const [payload, ...rest] = wire.batch(
      [event('public.docs', ['x'.repeat(9000)], 2), event('public.t', ['1'])],
      T,
    );
    assert.equal(rest.length, 0);
    const message = opened(payload as string);
    assert.ok(message.kind === 'batch');
    assert.deepEqual(message.events, [event('public.docs', null, 2), event('public.t', ['1'])]);
  });

  test('a key PostgreSQL could not hold goes as its table; a table the wire cannot carry resyncs', () => {
    const wire = new WireEncoder({ bridgeId: ID, key });
    const message = opened(
      wire.batch([event('public.t', ['a\0b']), event('public.u', ['\ud800'])], T)[0] as string,
    );
    assert.ok(message.kind === 'batch');
    assert.deepEqual(
      message.events.map((e) => e.key),
      [null, null],
    );
    for (const table of ['x'.repeat(128), 'nodot', 'a.\ud800', '']) {
      const [only] = new WireEncoder({ bridgeId: ID, key }).batch([event(table)], T);
      assert.deepEqual(opened(only as string), {
        bridge: ID,
        seq: 0,
        sentMs: T,
        kind: 'resync',
        reason: 'overflow',
      });
    }
  });

  test("a first change later than the message, missing, or older than the age bound is sent within the message's bounds", () => {
    const wire = new WireEncoder({ bridgeId: ID, key: null });
    const message = opened(
      wire.batch(
        [
          event('s.later', null, 1, T + 5000),
          event('s.nan', null, 1, Number.NaN),
          event('s.ancient', null, 1, 0),
          event('s.huge', null, 1, 1e300),
        ],
        T,
      )[0] as string,
      null,
    );
    assert.ok(message.kind === 'batch');
    assert.deepEqual(
      message.events.map((e) => e.firstSeenMs),
      [T, T, T - MAX_EVENT_AGE_MS, T],
    );
  });

  test('refuses a bad bridge id, reason or clock', () => {
    assert.throws(() => new WireEncoder({ bridgeId: 'ABCDEF0123456789', key: null }), RangeError);
    assert.throws(() => new WireEncoder({ bridgeId: '12345678', key: null }), RangeError);
    assert.throws(() => new WireEncoder({ bridgeId: ID, key: null }).resync('Bad Reason', T), RangeError);
    assert.throws(() => new WireEncoder({ bridgeId: ID, key: null }).heartbeat(Number.NaN), RangeError);
    assert.throws(() => new WireEncoder({ bridgeId: ID, key: null }).heartbeat(1e300), RangeError);
  });
});

describe('newBridgeId', () => {
  test('16 hex digits from 8 random bytes', () => {
    assert.equal(
      newBridgeId(() => Uint8Array.from([0, 1, 2, 3, 0xfc, 0xfd, 0xfe, 0xff])),
      '00010203fcfdfeff',
    );
    assert.match(newBridgeId(), /^[0-9a-f]{16}$/);
    assert.notEqual(newBridgeId(), newBridgeId());
    assert.throws(() => newBridgeId(() => new Uint8Array(4)), RangeError);
  });
});

describe('openWireMessage', () => {
  const signed = new WireEncoder({ bridgeId: ID, key }).heartbeat(T)[0] as string;

  test('a forged, altered or truncated MAC is refused as "mac"', () => {
    const mac = signed.slice(3, 46);
    const body = signed.slice(47);
    const flipped = `${mac[0] === 'A' ? 'B' : 'A'}${mac.slice(1)}`;
    for (const payload of [
      `v2.${flipped}.${body}`,
      `v2.${mac}.${body.replace('"q":0', '"q":1')}`,
      `v2.${'A'.repeat(43)}.${body}`,
      // The same last bits spelled differently: base64url's 43rd character carries 4 unused bits.
      `v2.${mac.slice(0, 42)}${String.fromCharCode(mac.charCodeAt(42) ^ 1)}.${body}`,
      // A character a lenient base64 decoder would skip, and one that is not ASCII.
      `v2.${mac.slice(0, 42)}!.${body}`,
      `v2.${mac.slice(0, 42)}é.${body}`,
    ]) {
      assert.equal(refused(openWireMessage(payload, key)).reason, 'mac', payload);
    }
  });

  test('a message signed for another channel, or with another secret, is refused as "mac"', () => {
    for (const other of [ChannelKey.derive(SECRET, 'pgnudge2'), ChannelKey.derive(`${SECRET}!`, 'pgnudge')]) {
      const payload = new WireEncoder({ bridgeId: ID, key: other }).heartbeat(T)[0] as string;
      assert.equal(refused(openWireMessage(payload, key)).reason, 'mac');
      assert.ok(openWireMessage(payload, other).ok);
    }
  });

  test('a listener with a secret refuses unsigned messages; one without accepts signed and unsigned', () => {
    const unsigned = new WireEncoder({ bridgeId: ID, key: null }).heartbeat(T)[0] as string;
    assert.equal(refused(openWireMessage(unsigned, key)).reason, 'unsigned');
    assert.equal(opened(unsigned, null).kind, 'hb');
    assert.equal(opened(signed, null).kind, 'hb');
  });

  test('the MAC is checked before any JSON is parsed', () => {
    const parse = JSON.parse;
    let calls = 0;
    JSON.parse = (...args: Parameters<typeof JSON.parse>) => {
      calls += 1;
      return parse(...args);
    };
    try {
      openWireMessage(`v2.${'A'.repeat(43)}.{"b":"${ID}","q":0,"t":${T},"k":"hb"}`, key);
      openWireMessage(`v2..{"b":"${ID}","q":0,"t":${T},"k":"hb"}`, key);
      assert.equal(calls, 0);
      openWireMessage(signed, key);
      assert.equal(calls, 1);
    } finally {
      JSON.parse = parse;
    }
  });

  test('framing: not v2, no MAC field, or longer than NOTIFY allows is "malformed"', () => {
    for (const payload of [
      '',
      'hello',
      `{"v":1,"b":"x","q":0,"k":"hb"}`,
      'v3..{}',
      'v2.',
      'v2.abc.{}',
      `v2.${'A'.repeat(44)}.{}`,
      `v2.${'A'.repeat(43)}`,
      `v2..${' '.repeat(MAX_PAYLOAD_BYTES)}`,
    ]) {
      assert.equal(refused(openWireMessage(payload, key)).reason, 'malformed', payload);
      assert.equal(refused(openWireMessage(payload, null)).reason, 'malformed', payload);
    }
  });

  test('bodies that break a rule are "malformed", with our own words for the problem', () => {
    const hb = { b: ID, q: 0, t: T, k: 'hb' };
    const batch = (e: unknown, extra: Record<string, unknown> = {}) => ({
      b: ID,
      q: 0,
      t: T,
      k: 'batch',
      p: 0,
      n: 1,
      e,
      ...extra,
    });
    const cases: [string, RegExp][] = [
      ['not json', /not JSON/],
      ['[1,2]', /not a JSON object/],
      ['null', /not a JSON object/],
      [JSON.stringify({ ...hb, b: ID.toUpperCase() }), /bridge id/],
      [JSON.stringify({ ...hb, b: '0123456789abcde' }), /bridge id/],
      [JSON.stringify({ ...hb, b: '\u001b[2J\nERROR forged' }), /bridge id/],
      [JSON.stringify({ ...hb, q: -1 }), /sequence/],
      [JSON.stringify({ ...hb, q: 1.5 }), /sequence/],
      [JSON.stringify({ ...hb, q: 2 ** 53 }), /sequence/],
      [JSON.stringify({ ...hb, t: -1 }), /timestamp/],
      [JSON.stringify({ ...hb, t: 1e300 }), /timestamp/],
      [JSON.stringify({ ...hb, t: '1' }), /timestamp/],
      [JSON.stringify({ ...hb, k: 'nope' }), /unknown kind/],
      [JSON.stringify({ ...hb, x: 1 }), /unexpected fields in hb/],
      [`{"b":"${ID}","q":0,"t":${T},"k":"hb","__proto__":{"x":1}}`, /unexpected fields in hb/],
      [JSON.stringify({ ...hb, k: 'resync' }), /reason/],
      [JSON.stringify({ ...hb, k: 'resync', r: 'Connected\n' }), /reason/],
      [JSON.stringify({ ...hb, k: 'resync', r: 'connected', x: 1 }), /unexpected fields in resync/],
      [JSON.stringify({ ...batch([]), p: 1 }), /part/],
      [JSON.stringify({ ...batch([]), p: 0, n: 65_536 }), /part/],
      [JSON.stringify({ ...hb, k: 'batch', p: 0, n: 1 }), /event list/],
      [JSON.stringify(batch(Array(600).fill(0))), /event list/],
      [JSON.stringify(batch([], { x: 1 })), /unexpected fields in batch/],
      [JSON.stringify(batch([['a.b', null, 1]])), /bad event/],
      [JSON.stringify(batch([['a.b', null, 0, T]])), /bad event/],
      [JSON.stringify(batch([['a.b', null, 1.5, T]])), /bad event/],
      [JSON.stringify(batch([['a.b', null, 1, 1e300]])), /bad event/],
      [JSON.stringify(batch([['a.b', null, 1, T + CLOCK_WINDOW_MS + 1]])), /bad event/],
      [JSON.stringify(batch([['a.b', null, 1, T - MAX_EVENT_AGE_MS - 1]])), /bad event/],
      [JSON.stringify(batch([['ab', null, 1, T]])), /bad event/],
      [JSON.stringify(batch([[`a.${'b'.repeat(126)}`, null, 1, T]])), /bad event/],
      [JSON.stringify(batch([['a.\ud800', null, 1, T]])), /bad event/],
      [JSON.stringify(batch([['a.b\u0000', null, 1, T]])), /bad event/],
      [JSON.stringify(batch([['a.b', [], 1, T]])), /bad event/],
      [JSON.stringify(batch([['a.b', [1], 1, T]])), /bad event/],
      [JSON.stringify(batch([['a.b', [null], 1, T]])), /bad event/],
      [JSON.stringify(batch([['a.b', ['x\u0000'], 1, T]])), /bad event/],
      [JSON.stringify(batch([['a.b', ['\udc00'], 1, T]])), /bad event/],
      [JSON.stringify(batch([['a.b', Array(33).fill('1'), 1, T]])), /bad event/],
      [JSON.stringify(batch([['a.b', '42', 1, T]])), /bad event/],
      [JSON.stringify(batch(['a.b'])), /bad event/],
      [`${'['.repeat(3000)}${']'.repeat(3000)}`, /not a JSON object/],
    ];
    for (const [body, problem] of cases) {
      const result = refused(openWireMessage(raw(body), null));
      assert.equal(result.reason, 'malformed', body.slice(0, 80));
      assert.match(result.problem, problem, body.slice(0, 80));
      assert.doesNotMatch(result.problem, /[\u0000-\u001f]|forged/, 'the problem never quotes the input');
    }
  });

  test('the 1e300 firstSeen that crashed `pgnudge listen --json` is refused; every accepted time is a valid Date', () => {
    const body = { b: ID, q: 0, t: T, k: 'batch', p: 0, n: 1, e: [['public.orders', null, 1, 1e300]] };
    assert.equal(refused(openWireMessage(raw(body), null)).reason, 'malformed');
    const ok = opened(raw({ ...body, e: [['public.orders', null, 1, T]] }), null);
    assert.ok(ok.kind === 'batch');
    assert.equal(new Date(ok.events[0]!.firstSeenMs).toISOString(), '2023-11-14T22:13:20.000Z');
  });

  test('names and keys are data: any text PostgreSQL can hold comes back exactly', () => {
    const odd = [
      event('Odd Schema.Tab.le ✓ "q"', [
        'a,b',
        '(x)',
        '"',
        '\\',
        ' ',
        '',
        'é😀',
        '\u001b[2J\nfake line',
        '\u202e',
      ]),
      event('s.\u2028t', ['NULL']),
    ];
    const message = opened(new WireEncoder({ bridgeId: ID, key }).batch(odd, T)[0] as string);
    assert.ok(message.kind === 'batch');
    assert.deepEqual(message.events, odd);
  });
});

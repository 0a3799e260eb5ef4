// Seeded properties of wire format v2 and the listener's tracker (contract R29): no change to a signed
// message is believed, nothing an attacker injects changes what a listener yields, the reader never
// throws and admits only printable-safe, Date-safe values, and names and keys survive the trip exactly.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ChannelKey } from '../../../src/fanout/auth.js';
import { BridgeTracker, type TrackerAction } from '../../../src/fanout/tracker.js';
import { MAX_PAYLOAD_BYTES, openWireMessage, WireEncoder, type WireEvent } from '../../../src/fanout/wire.js';
import { assertProperty, fuzzParams } from '../../support/fuzz.js';
import { anyText } from '../../support/text.js';

const key = ChannelKey.derive('the property tests share this secret', 'pgnudge');
const otherKey = ChannelKey.derive('the property tests share this secret', 'pgnudge-other');
const T = 1_700_000_000_000;
const A = '0123456789abcdef';

/** Text PostgreSQL can hold: no NUL, no lone surrogate. */
const pgText = (maxLength: number) => anyText(maxLength).map((text) => text.replace(/[\0\p{Cs}]/gu, '?'));

const table = fc
  .tuple(
    pgText(63).filter((s) => s.length > 0),
    pgText(63).filter((s) => s.length > 0),
  )
  .map(([schema, name]) => `${schema}.${name}`);

const wireEvent: fc.Arbitrary<WireEvent> = fc.record({
  table,
  key: fc.option(fc.array(pgText(20), { minLength: 1, maxLength: 8 }), { nil: null }),
  count: fc.integer({ min: 1, max: 1_000_000 }),
  firstSeenMs: fc.integer({ min: T - 60_000, max: T }),
});

/** One change to a payload: replace, insert, delete or swap characters. */
const mutation = fc.oneof(
  fc.record({
    kind: fc.constant('replace' as const),
    at: fc.nat(),
    text: anyText(1).filter((s) => s.length > 0),
  }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    text: anyText(4).filter((s) => s.length > 0),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 50 }) }),
  fc.record({ kind: fc.constant('swap' as const), at: fc.nat(), other: fc.nat() }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(payload: string, change: Mutation): string {
  const at = change.at % (payload.length + 1);
  switch (change.kind) {
    case 'replace':
      return payload.slice(0, at) + change.text + payload.slice(at + 1);
    case 'insert':
      return payload.slice(0, at) + change.text + payload.slice(at);
    case 'delete':
      return payload.slice(0, at) + payload.slice(at + change.length);
    case 'swap': {
      const chars = [...payload];
      const i = at % chars.length;
      const j = change.other % chars.length;
      [chars[i], chars[j]] = [chars[j] as string, chars[i] as string];
      return chars.join('');
    }
  }
}

/** A real bridge's next message. */
const realStep = fc.oneof(
  fc.constant({ kind: 'hb' as const }),
  fc
    .constantFrom('connected', 'reconnected', 'overflow')
    .map((reason) => ({ kind: 'resync' as const, reason })),
  fc.array(wireEvent, { maxLength: 120 }).map((events) => ({ kind: 'batch' as const, events })),
);

/** What an attacker with LOGIN can add: changed copies and replays of what it saw, and its own messages. */
const attack = fc.oneof(
  fc.record({ kind: fc.constant('mutate' as const), pick: fc.nat(), change: mutation }),
  fc.record({ kind: fc.constant('replay' as const), pick: fc.nat() }),
  fc.record({
    kind: fc.constant('forge' as const),
    signer: fc.constantFrom('other-channel', 'unsigned'),
    bridge: fc.constantFrom(A, 'fedcba9876543210'),
    events: fc.array(wireEvent, { maxLength: 3 }),
    skewMs: fc.integer({ min: -40_000, max: 40_000 }),
  }),
);

const plain = (actions: TrackerAction[]) => actions.filter((action) => action.type !== 'log');

describe('wire v2 properties', () => {
  test('no change to a signed message is believed', () => {
    assertProperty(
      fc.property(
        fc.array(wireEvent, { maxLength: 60 }),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        (events, changes) => {
          const wire = new WireEncoder({ bridgeId: A, key, limit: 2000 });
          const payloads = [...wire.heartbeat(T), ...wire.resync('connected', T), ...wire.batch(events, T)];
          for (const payload of payloads) {
            const changed = changes.reduce(mutate, payload);
            if (changed === payload) continue;
            const result = openWireMessage(changed, key);
            assert.equal(
              result.ok,
              false,
              `a changed payload was believed: ${JSON.stringify(changed).slice(0, 200)}`,
            );
          }
        },
      ),
      fuzzParams(1000),
    );
  });

  test('nothing an attacker injects changes what a listener yields (no Resync, no events, no state change)', () => {
    assertProperty(
      fc.property(
        fc.array(fc.tuple(realStep, fc.array(attack, { maxLength: 3 }), fc.integer({ min: 1, max: 80 })), {
          minLength: 1,
          maxLength: 25,
        }),
        (steps) => {
          const clean = new BridgeTracker({ key, silenceMs: 3000, maxEvents: 10_000, nowMs: T });
          const attacked = new BridgeTracker({ key, silenceMs: 3000, maxEvents: 10_000, nowMs: T });
          const wire = new WireEncoder({ bridgeId: A, key, limit: 1500 });
          const seen: string[] = [];
          let now = T;
          for (const [step, attacks, advance] of steps) {
            now += advance;
            const payloads =
              step.kind === 'hb'
                ? wire.heartbeat(now)
                : step.kind === 'resync'
                  ? wire.resync(step.reason, now)
                  : wire.batch(step.events, now);
            const expected: TrackerAction[] = [];
            const got: TrackerAction[] = [];
            for (const payload of payloads) {
              expected.push(...plain(clean.receive(payload, now)));
              got.push(...plain(attacked.receive(payload, now)));
              seen.push(payload);
              for (const move of attacks) {
                let injected: string;
                if (move.kind === 'mutate') {
                  const original = seen[move.pick % seen.length] as string;
                  injected = mutate(original, move.change);
                  if (injected === original) continue;
                } else if (move.kind === 'replay') {
                  injected = seen[move.pick % seen.length] as string;
                } else {
                  const forger = new WireEncoder({
                    bridgeId: move.bridge,
                    key: move.signer === 'unsigned' ? null : otherKey,
                  });
                  injected = forger.batch(move.events, Math.max(0, now + move.skewMs))[0] as string;
                }
                got.push(...plain(attacked.receive(injected, now)));
              }
            }
            assert.deepEqual(got, expected);
            assert.equal(attacked.bridge, clean.bridge);
          }
        },
      ),
      fuzzParams(300),
    );
  });

  test('the reader never throws, and admits only values safe to print and to turn into a Date', () => {
    const head = fc.record({
      b: fc.oneof(fc.constant(A), anyText(20)),
      q: fc.oneof(fc.nat(), fc.double(), fc.constant(2 ** 53)),
      t: fc.oneof(fc.constant(T), fc.double(), fc.integer()),
    });
    const eventish = fc.oneof(
      fc.tuple(
        fc.oneof(table, anyText(10)),
        fc.oneof(fc.constant(null), fc.array(anyText(5), { maxLength: 40 })),
        fc.oneof(fc.nat(), fc.double()),
        fc.oneof(fc.constant(T), fc.double(), fc.constant(1e300)),
      ),
      fc.jsonValue(),
    );
    const body = fc.oneof(
      fc
        .tuple(
          head,
          fc.constantFrom('hb', 'resync', 'batch', 'x'),
          fc.oneof(fc.constant('connected'), anyText(8)),
          fc.nat(3),
          fc.nat(3),
          fc.array(eventish, { maxLength: 6 }),
        )
        .map(([h, k, r, p, n, e]) =>
          JSON.stringify(k === 'hb' ? { ...h, k } : k === 'resync' ? { ...h, k, r } : { ...h, k, p, n, e }),
        ),
      fc.jsonValue().map((value) => JSON.stringify(value)),
      anyText(60),
    );
    const payload = fc.oneof(
      body.map((text) => `v2..${text}`),
      body.map((text) => `v2.${key.sign(text)}.${text}`),
      anyText(80),
    );
    assertProperty(
      fc.property(payload, (text) => {
        for (const withKey of [key, null]) {
          const result = openWireMessage(text, withKey);
          if (!result.ok) continue;
          const message = result.message;
          assert.match(message.bridge, /^[0-9a-f]{16}$/);
          assert.doesNotThrow(() => new Date(message.sentMs).toISOString());
          if (message.kind === 'resync') assert.match(message.reason, /^[a-z_]+$/);
          if (message.kind !== 'batch') continue;
          for (const event of message.events) {
            assert.doesNotThrow(() => new Date(event.firstSeenMs).toISOString());
            assert.ok(Math.abs(event.firstSeenMs - Date.now()) < 1e14);
            assert.doesNotMatch(event.table, /[\0\p{Cs}]/u);
            for (const column of event.key ?? []) assert.doesNotMatch(column, /[\0\p{Cs}]/u);
          }
        }
        // And the tracker on top of it never throws either.
        const tracker = new BridgeTracker({ key: null, silenceMs: 3000, maxEvents: 100, nowMs: T });
        tracker.receive(text, T);
        tracker.tick(T + 1);
      }),
      fuzzParams(3000),
    );
  });

  test('names and keys round-trip exactly through a split batch, signed or not', () => {
    assertProperty(
      fc.property(
        fc.array(wireEvent, { maxLength: 80 }),
        fc.boolean(),
        fc.integer({ min: 1200, max: MAX_PAYLOAD_BYTES }),
        (events, signed, limit) => {
          const withKey = signed ? key : null;
          const payloads = new WireEncoder({ bridgeId: A, key: withKey, limit }).batch(events, T);
          const back: WireEvent[] = [];
          payloads.forEach((payload, index) => {
            assert.ok(Buffer.byteLength(payload) <= limit);
            const result = openWireMessage(payload, withKey);
            assert.ok(result.ok && result.message.kind === 'batch' && result.message.part === index);
            back.push(...result.message.events);
          });
          assert.deepEqual(back, events);
        },
      ),
      fuzzParams(500),
    );
  });
});

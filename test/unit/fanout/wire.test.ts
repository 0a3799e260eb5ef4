// The fan-out wire format (docs/fanout.md): encoding, splitting under NOTIFY's limit, strict parsing.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  MAX_PAYLOAD_BYTES,
  parseWireMessage,
  WireEncoder,
  type WireEvent,
  type WireMessage,
} from '../../../src/fanout/wire.js';

const bytes = (text: string) => new TextEncoder().encode(text).length;

function parsed(text: string): WireMessage {
  const result = parseWireMessage(text);
  assert.ok(result.ok, `expected a valid message: ${text.slice(0, 100)}`);
  return result.message;
}

describe('WireEncoder', () => {
  test('heartbeat, resync and a small batch are compact v1 JSON with consecutive sequence numbers', () => {
    const wire = new WireEncoder('b1');
    assert.deepEqual(wire.heartbeat(), ['{"v":1,"b":"b1","q":0,"k":"hb"}']);
    assert.deepEqual(wire.resync('connected'), ['{"v":1,"b":"b1","q":1,"k":"resync","r":"connected"}']);
    assert.deepEqual(wire.batch([['public.orders', 50, 1700000000123]]), [
      '{"v":1,"b":"b1","q":2,"k":"batch","p":0,"n":1,"e":[["public.orders",50,1700000000123]]}',
    ]);
    assert.equal(wire.seq, 3);
  });

  test('a batch of 300 long multi-byte table names splits into parts under 8000 UTF-8 bytes and reassembles in order', () => {
    const events: WireEvent[] = [];
    for (let i = 0; i < 300; i++) {
      // 3- and 4-byte characters, a quote and a backslash that JSON escapes: bytes, not UTF-16 units, count.
      const name = `таблица_✓_𝔘_"q"\\_${String(i).padStart(3, '0')}_${'é'.repeat(20)}`;
      events.push([`Схема ✓.${name}`, i + 1, 1700000000000 + i]);
    }
    const wire = new WireEncoder('abcdef01');
    const payloads = wire.batch(events);
    assert.ok(payloads.length > 1, `expected a split, got ${payloads.length} part(s)`);
    const back: WireEvent[] = [];
    payloads.forEach((payload, index) => {
      assert.ok(bytes(payload) <= MAX_PAYLOAD_BYTES, `part ${index} is ${bytes(payload)} bytes`);
      const message = parsed(payload);
      assert.equal(message.kind, 'batch');
      if (message.kind !== 'batch') return;
      assert.equal(message.part, index);
      assert.equal(message.parts, payloads.length);
      assert.equal(message.seq, index);
      back.push(...message.events);
    });
    assert.deepEqual(back, events);
    // Parts are filled: all but the last are close to the limit.
    for (const payload of payloads.slice(0, -1)) assert.ok(bytes(payload) > MAX_PAYLOAD_BYTES - 400);
  });

  test('the split holds at every limit, down to parts of one or two events', () => {
    const events: WireEvent[] = Array.from({ length: 40 }, (_, i) => [`s.t${'€'.repeat(i)}`, 1, 0]);
    for (const limit of [300, 333, 500, 1000, 7999]) {
      const payloads = new WireEncoder('x', limit).batch(events);
      const back: WireEvent[] = [];
      for (const payload of payloads) {
        assert.ok(bytes(payload) <= limit, `${bytes(payload)} > ${limit}`);
        const message = parsed(payload);
        if (message.kind === 'batch') back.push(...message.events);
      }
      assert.deepEqual(back, events, `limit ${limit}`);
    }
  });

  test('an event that cannot fit in any message turns the batch into a resync, never an oversized payload', () => {
    const wire = new WireEncoder('x', 120);
    const payloads = wire.batch([
      ['s.short', 1, 0],
      [`s.${'x'.repeat(200)}`, 1, 0],
    ]);
    assert.equal(payloads.length, 1);
    assert.deepEqual(parsed(payloads[0] as string), {
      kind: 'resync',
      bridge: 'x',
      seq: 0,
      reason: 'overflow',
    });
  });

  test('an empty batch is one part with no events', () => {
    assert.deepEqual(parsed(new WireEncoder('x').batch([])[0] as string), {
      kind: 'batch',
      bridge: 'x',
      seq: 0,
      part: 0,
      parts: 1,
      events: [],
    });
  });
});

describe('parseWireMessage', () => {
  test('reports, never throws, on malformed or foreign input', () => {
    const cases: [string, RegExp][] = [
      ['', /not JSON/],
      ['hello', /not JSON/],
      ['{"v":1', /not JSON/],
      ['[1,2]', /not a JSON object/],
      ['null', /not a JSON object/],
      ['{"v":2,"b":"x","q":0,"k":"hb"}', /unsupported version 2/],
      ['{"b":"x","q":0,"k":"hb"}', /unsupported version none/],
      ['{"v":"1","b":"x","q":0,"k":"hb"}', /unsupported version "1"/],
      ['{"v":1,"q":0,"k":"hb"}', /bridge id/],
      ['{"v":1,"b":"","q":0,"k":"hb"}', /bridge id/],
      [`{"v":1,"b":"${'x'.repeat(65)}","q":0,"k":"hb"}`, /bridge id/],
      ['{"v":1,"b":"x","q":-1,"k":"hb"}', /sequence/],
      ['{"v":1,"b":"x","q":1.5,"k":"hb"}', /sequence/],
      ['{"v":1,"b":"x","q":0,"k":"nope"}', /unknown kind "nope"/],
      ['{"v":1,"b":"x","q":0,"k":"resync"}', /reason/],
      ['{"v":1,"b":"x","q":0,"k":"batch","p":1,"n":1,"e":[]}', /part/],
      ['{"v":1,"b":"x","q":0,"k":"batch","p":0,"n":1}', /event list/],
      ['{"v":1,"b":"x","q":0,"k":"batch","p":0,"n":1,"e":[["a.b",0,1]]}', /malformed event/],
      ['{"v":1,"b":"x","q":0,"k":"batch","p":0,"n":1,"e":[["a.b",1]]}', /malformed event/],
      ['{"v":1,"b":"x","q":0,"k":"batch","p":0,"n":1,"e":[[1,1,1]]}', /malformed event/],
      ['{"v":1,"b":"x","q":0,"k":"batch","p":0,"n":1,"e":["a.b"]}', /malformed event/],
    ];
    for (const [text, problem] of cases) {
      const result = parseWireMessage(text);
      assert.equal(result.ok, false, text);
      if (!result.ok) assert.match(result.problem, problem, text);
    }
  });

  test('random bytes never throw', () => {
    let seed = 12345;
    const next = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const valid = new WireEncoder('seed').batch([['a.b', 3, 1]])[0] as string;
    for (let i = 0; i < 2000; i++) {
      const chars = [...valid];
      for (let j = 0; j < 1 + (next() % 4); j++) {
        chars[next() % chars.length] = String.fromCharCode(next() % 128);
      }
      assert.doesNotThrow(() => parseWireMessage(chars.join('')), `seed 12345, case ${i}`);
    }
  });
});

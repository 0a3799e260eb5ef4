import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Coalescer } from '../../../src/feed/coalescer.js';

describe('Coalescer', () => {
  test('counts per payload, in order of first arrival, with the first arrival time', () => {
    const coalescer = new Coalescer();
    coalescer.add('public.b', 1, 1000);
    coalescer.add('public.a', 2, 2000);
    coalescer.add('public.b', 3, 3000);
    assert.equal(coalescer.size, 2);
    assert.equal(coalescer.changes, 6);
    assert.equal(coalescer.has('public.a'), true);
    const events = coalescer.drain();
    assert.deepEqual(
      events.map((e) => [e.payload, e.count, e.firstSeen.getTime()]),
      [
        ['public.b', 4, 1000],
        ['public.a', 2, 2000],
      ],
    );
    assert.equal(coalescer.size, 0);
    assert.equal(coalescer.changes, 0);
    assert.deepEqual(coalescer.drain(), []);
  });

  test('clear forgets everything', () => {
    const coalescer = new Coalescer();
    coalescer.add('public.a', 1, 0);
    coalescer.clear();
    assert.equal(coalescer.size, 0);
    assert.equal(coalescer.has('public.a'), false);
  });
});

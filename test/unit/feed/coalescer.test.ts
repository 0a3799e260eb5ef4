import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Coalescer } from '../../../src/feed/coalescer.js';

describe('Coalescer', () => {
  test('counts per payload, in order of first arrival, with the first arrival time', () => {
    const coalescer = new Coalescer(10);
    coalescer.add('public.b', null, 1, 1000);
    coalescer.add('public.a', null, 2, 2000);
    coalescer.add('public.b', null, 3, 3000);
    assert.equal(coalescer.size, 2);
    assert.equal(coalescer.changes, 6);
    assert.equal(coalescer.adds('public.a', null), false);
    assert.equal(coalescer.adds('public.c', null), true);
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

  test('a row is its own entry; `public.a:b` as a row and as a table are two', () => {
    const coalescer = new Coalescer(10);
    coalescer.add('public.a', ['b'], 1, 0);
    coalescer.add('public.a:b', null, 1, 0);
    coalescer.add('public.a', ['b'], 1, 0);
    assert.equal(coalescer.size, 2);
    assert.deepEqual(
      coalescer.drain().map((e) => [e.payload, e.table, e.key, e.count]),
      [
        ['public.a:b', 'public.a', ['b'], 2],
        ['public.a:b', 'public.a:b', null, 1],
      ],
    );
  });

  test('adds() says whether a change would make an entry: never for a row past maxKeys', () => {
    const coalescer = new Coalescer(2);
    assert.equal(coalescer.adds('public.t', ['1']), true);
    coalescer.add('public.t', ['1'], 1, 0);
    assert.equal(coalescer.adds('public.t', ['1']), false);
    assert.equal(coalescer.adds('public.t', ['2']), true);
    assert.equal(coalescer.adds('public.t', null), true);
    coalescer.add('public.t', ['2'], 1, 0);
    assert.equal(coalescer.adds('public.t', ['3']), false); // it would fold
    coalescer.add('public.t', ['3'], 1, 0);
    assert.equal(coalescer.size, 1);
    assert.equal(coalescer.adds('public.t', ['4']), false);
    assert.equal(coalescer.adds('public.t', null), false);
    assert.equal(coalescer.changes, 3);
  });

  test("folded() says whether a table's rows folded in this batch", () => {
    const coalescer = new Coalescer(1);
    assert.equal(coalescer.folded('public.a'), false);
    coalescer.add('public.a', ['1'], 1, 0);
    coalescer.add('public.a', null, 1, 0);
    assert.equal(coalescer.folded('public.a'), false, 'a table-level entry beside a row is no fold');
    coalescer.add('public.a', ['2'], 1, 0);
    assert.equal(coalescer.folded('public.a'), true);
    assert.equal(coalescer.folded('public.b'), false);
    coalescer.drain();
    assert.equal(coalescer.folded('public.a'), false, 'the next batch holds rows again');
  });

  test('clear forgets everything, folds included', () => {
    const coalescer = new Coalescer(1);
    coalescer.add('public.a', ['1'], 1, 0);
    coalescer.add('public.a', ['2'], 1, 0);
    coalescer.clear();
    assert.equal(coalescer.size, 0);
    assert.equal(coalescer.adds('public.a', null), true);
    coalescer.add('public.a', ['3'], 1, 0);
    assert.deepEqual(
      coalescer.drain().map((e) => e.payload),
      ['public.a:3'],
    );
  });
});

// Replays the regression-fixture corpus (test/fixtures/fuzz/<target>/<name>.json): every input that
// once broke a target, or pins an edge, must give its recorded outcome, only typed errors, the same
// outcome on a warm decoder cache, and only typed errors on every truncation. New fixtures come from
// `node scripts/fuzz-fixture.mjs` (a failing property prints the exact command).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import {
  type Fixture,
  inputBytes,
  type Outcome,
  runTarget,
  TARGETS,
  type Target,
} from '../support/fuzz-targets.js';
import { repoPath } from '../support/repo.js';

const ROOT = repoPath('test', 'fixtures', 'fuzz');
const DECODERS: readonly Target[] = ['wal2json', 'test_decoding'];

/** A record each decoder must still decode after any fixture: its caches were not poisoned. */
const HEALTHY: Partial<Record<Target, Uint8Array>> = {
  wal2json: Buffer.from('{"action":"I","schema":"public","table":"healthy","columns":[]}'),
  test_decoding: Buffer.from('table public.healthy: INSERT: id[integer]:1'),
};

function load(target: Target): [string, Fixture][] {
  const dir = join(ROOT, target);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => [file.slice(0, -5), JSON.parse(readFileSync(join(dir, file), 'utf8')) as Fixture]);
}

function assertNoLeak(outcomes: Outcome[], what: string): void {
  for (const outcome of outcomes) {
    assert.ok(!('leak' in outcome), `${what}: a non-PgnudgeError escaped: ${JSON.stringify(outcome)}`);
  }
}

/** The frames and error of a frame-decoder outcome, without `buffered` (which depends on chunking). */
function framesOnly(outcome: Outcome | undefined): unknown {
  if (outcome === undefined || !('frames' in outcome)) return outcome;
  return { frames: outcome.frames, error: outcome.error?.error };
}

test('the corpus has fixtures for every target, each with a one-line description', () => {
  for (const target of TARGETS) {
    const fixtures = load(target);
    assert.ok(fixtures.length > 0, `no fixtures for ${target}`);
    for (const [name, fixture] of fixtures) {
      assert.ok(/^[a-z0-9][a-z0-9-]*$/.test(name), `${target}/${name}: file names are kebab-case`);
      assert.equal(typeof fixture.description, 'string', `${target}/${name}: description`);
      assert.ok(fixture.description.length > 10 && !fixture.description.includes('\n'), `${target}/${name}`);
      assert.ok(Array.isArray(fixture.inputs) && fixture.inputs.length > 0, `${target}/${name}: inputs`);
    }
  }
});

for (const target of TARGETS) {
  describe(`fuzz corpus: ${target}`, () => {
    for (const [name, fixture] of load(target)) {
      test(`${name}: ${fixture.description}`, () => {
        const inputs = fixture.inputs.map(inputBytes);
        const options =
          fixture.maxFrameLength === undefined ? {} : { maxFrameLength: fixture.maxFrameLength };
        const outcomes = runTarget(target, inputs, options);
        assertNoLeak(outcomes, name);
        if (fixture.expect !== undefined) assert.deepEqual(outcomes, fixture.expect);

        if (target === 'frame-decoder') {
          // Chunking never changes the frames or the error: one chunk, and one byte at a time.
          const stream = Buffer.concat(inputs);
          const byteByByte = [...stream].map((byte) => Buffer.of(byte));
          for (const chunks of [[stream], byteByByte]) {
            const [again] = runTarget(target, chunks, options);
            assert.deepEqual(framesOnly(again), framesOnly(outcomes[0]));
          }
          return;
        }
        if (DECODERS.includes(target)) {
          // The same messages again through the same decoder: its caches must not change a result,
          // and a healthy record still decodes afterwards.
          const twice = runTarget(target, [...inputs, ...inputs, HEALTHY[target]!]);
          assert.deepEqual(twice.slice(inputs.length, 2 * inputs.length), outcomes);
          assert.ok('changes' in twice.at(-1)!, `${target} still decodes after ${name}`);
        }
        // Every truncation of every input raises only typed errors.
        // (A backend-message input keeps at least its code byte.)
        const shortest = target === 'backend-message' ? 1 : 0;
        for (const input of inputs) {
          const prefixes = Array.from({ length: input.byteLength - shortest }, (_, n) =>
            input.subarray(0, n + shortest),
          );
          assertNoLeak(runTarget(target, prefixes), `${name} truncated`);
        }
      });
    }
  });
}

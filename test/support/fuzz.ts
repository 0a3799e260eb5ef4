// Seeded property runs for the fuzz targets: one seed and run count for every file, a long mode by
// variable, and a failure message that says how to keep the counterexample as a regression fixture.
//   PGNUDGE_FUZZ_RUNS=100000  more cases per property (the CI default is per file, see fuzzParams)
//   PGNUDGE_FUZZ_SEED=123     replay another seed (the failure message prints the one that failed)
import fc from 'fast-check';
import type { Target } from './fuzz-targets.js';

/** The seed every fuzz file uses unless PGNUDGE_FUZZ_SEED replays another. */
export const FUZZ_SEED = Number(process.env.PGNUDGE_FUZZ_SEED ?? 5_432_018);

/** fast-check parameters: `ciRuns` unless PGNUDGE_FUZZ_RUNS asks for more (or fewer). */
export function fuzzParams(ciRuns: number): { seed: number; numRuns: number } {
  const numRuns = Number(process.env.PGNUDGE_FUZZ_RUNS ?? ciRuns);
  if (!Number.isSafeInteger(numRuns) || numRuns < 1) {
    throw new Error(`PGNUDGE_FUZZ_RUNS must be a positive integer, got ${process.env.PGNUDGE_FUZZ_RUNS}`);
  }
  return { seed: FUZZ_SEED, numRuns };
}

/** Maps a counterexample to the target(s) and input bytes that reproduce it, for the fixture hint. */
export type ToFixture<T> = (
  counterexample: T,
) => { target: Target; inputs: Uint8Array[] } | { target: Target; inputs: Uint8Array[] }[];

/**
 * `fc.assert` with a failure message that ends in the command turning the counterexample into a
 * regression fixture (test/fixtures/fuzz/<target>/<name>.json, replayed on every run).
 */
export function assertProperty<T extends [unknown, ...unknown[]]>(
  property: fc.IProperty<T>,
  params: { seed: number; numRuns: number },
  toFixture?: ToFixture<T>,
): void {
  const details = fc.check(property, params);
  if (!details.failed) return;
  let hint = '';
  if (toFixture !== undefined && details.counterexample !== null) {
    try {
      const found = toFixture(details.counterexample);
      const commands = (Array.isArray(found) ? found : [found]).map(({ target, inputs }) => {
        const hexes = inputs.map((bytes) => Buffer.from(bytes).toString('hex')).join(' ');
        return `  node scripts/fuzz-fixture.mjs ${target} <short-name> "<what it broke>" ${hexes}`;
      });
      hint =
        '\n\nKeep it as a regression fixture: fix the bug, then record the input that broke it\n' +
        `(for the target that failed) and commit test/fixtures/fuzz/<target>/<short-name>.json with the fix:\n${commands.join('\n')}`;
    } catch (error) {
      hint = `\n\n(no fixture hint: ${(error as Error).message})`;
    }
  }
  throw new Error(`${fc.defaultReportMessage(details)}${hint}`);
}

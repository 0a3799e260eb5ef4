// The runner's guard (scripts/test-guard.mjs, judged by scripts/test-suite.mjs): a child `node --test`
// over deliberately misbehaving fixtures, through the runner's own code path, must report every
// unhandled rejection, uncaught exception and held event loop as a problem (a failed run), and the
// well-behaved fixture as none.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { repoPath } from '../../support/repo.js';

interface SuiteResult {
  pass: number;
  fail: number;
  problems: string[];
  exits: { file: string; afterTestsMs: number | null }[];
}

const fixture = (name: string) => join('test', 'fixtures', 'guard', `${name}.mjs`);

test('the guard turns leaks and stray errors into problems, and leaves a clean file alone', {
  timeout: 60_000,
}, async () => {
  const { runSuite } = (await import(pathToFileURL(repoPath('scripts', 'test-suite.mjs')).href)) as {
    runSuite(options: Record<string, unknown>): Promise<SuiteResult>;
  };
  const scratch = mkdtempSync(join(tmpdir(), 'pgnudge-guard-'));
  let output = '';
  const sink = { write: (text: string) => (output += text) };
  try {
    const names = [
      'clean',
      'rejection-after-test',
      'throw-after-test',
      'swallowed-rejection',
      'held-loop',
      'leaked-interval',
    ];
    const result = await runSuite({
      label: 'guarded',
      files: names.map(fixture),
      // Short limits keep this test quick: held-loop holds 1.8 s, leaked-interval forever.
      env: { PGNUDGE_TEST_EXIT_GRACE_MS: '600', PGNUDGE_TEST_EXIT_LIMIT_MS: '3000' },
      concurrency: names.length,
      scratch,
      cwd: repoPath(),
      out: sink,
      err: sink,
      timeoutMs: 30_000,
    });
    const about = (name: string) => result.problems.filter((p) => p.includes(fixture(name)));
    const context = `problems:\n${result.problems.join('\n')}\noutput:\n${output}`;

    assert.deepEqual(about('clean'), [], context);
    assert.match(
      about('rejection-after-test').join('\n'),
      /unhandledRejection: Error: late rejection/,
      context,
    );
    assert.match(about('throw-after-test').join('\n'), /uncaughtException: Error: late throw/, context);
    assert.match(about('swallowed-rejection').join('\n'), /unhandledRejection: Error: swallowed/, context);
    assert.match(
      about('held-loop').join('\n'),
      /kept the event loop alive more than 600 ms after its tests ended \(held by .*Timeout/,
      context,
    );
    assert.doesNotMatch(about('held-loop').join('\n'), /was ended/, context);
    const leaked = about('leaked-interval').join('\n');
    assert.match(leaked, /kept the event loop alive more than 600 ms/, context);
    assert.match(leaked, /still alive 3000 ms after its tests ended and was ended/, context);
    assert.equal(result.problems.length, 6, context);

    // The well-behaved file's exit delay is measured and short; the held one's is about its timer's.
    const exitOf = (name: string) => result.exits.find((e) => e.file === fixture(name))?.afterTestsMs;
    const clean = exitOf('clean');
    assert.ok(clean !== undefined && clean !== null && clean < 600, `clean exit delay ${clean}`);
    const held = exitOf('held-loop');
    assert.ok(
      held !== undefined && held !== null && held >= 1500 && held < 3000,
      `held-loop exit delay ${held}`,
    );
    // node:test itself passes held-loop: only the guard notices it.
    assert.ok(result.pass >= 2, context);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
});

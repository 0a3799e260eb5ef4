// Preloaded (--import) into every test process that scripts/test-suite.mjs starts, for two things
// node:test does not promise on every Node line:
// 1. Any unhandled rejection or uncaught exception (in a test, after it ended, or outside any test) is
//    recorded and makes the process exit non-zero, even when test code installed a handler that
//    swallows it. Node 20's runner already fails such a file; this keeps that true wherever it might not.
// 2. How long a test file keeps the event loop alive after its tests ended: measured from the moment
//    the root `after` hooks start (all tests done) to process exit, with what held the loop sampled at
//    the grace limit; a file still held at the hard limit is ended, so a leak fails instead of hanging.
// Records go, one JSON object a line, to PGNUDGE_TEST_GUARD_LOG (read by the runner), failures also
// to stderr. Limits: PGNUDGE_TEST_EXIT_GRACE_MS (default 5000), PGNUDGE_TEST_EXIT_LIMIT_MS (60000).
import { appendFileSync, writeSync } from 'node:fs';
import { relative } from 'node:path';

const log = process.env.PGNUDGE_TEST_GUARD_LOG;
const graceMs = Number(process.env.PGNUDGE_TEST_EXIT_GRACE_MS ?? 5000);
const limitMs = Number(process.env.PGNUDGE_TEST_EXIT_LIMIT_MS ?? 60_000);
// node:test runs each file in a child process marked by this variable; the runner's own process is not one.
const isTestFile = process.env.NODE_TEST_CONTEXT === 'child-v8';
const file = process.argv[1] ? relative(process.cwd(), process.argv[1]) : '(no file)';
let errors = 0;

function record(entry) {
  if (log === undefined) return;
  try {
    appendFileSync(log, `${JSON.stringify({ file, ...entry })}\n`);
  } catch {}
}

function say(text) {
  try {
    writeSync(2, `[test-guard] ${file}: ${text}\n`);
  } catch {}
}

function describe(error) {
  const text = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : String(error);
  return text.split('\n').slice(0, 4).join('\n');
}

function failed(kind, error) {
  errors++;
  const message = describe(error);
  record({ kind, message });
  say(`${kind}: ${message}`);
}

// A listener for unhandledRejection sees every one, whatever other listeners do with it; the monitor
// sees every uncaught exception before Node or node:test acts on it.
process.on('unhandledRejection', (reason) => failed('unhandledRejection', reason));
process.on('uncaughtExceptionMonitor', (error, origin) => failed(origin, error));

let testsEndedAt;
process.on('exit', (code) => {
  if (errors > 0 && !code) process.exitCode = 1;
  if (isTestFile) {
    record({
      kind: 'exit',
      afterTestsMs: testsEndedAt === undefined ? null : Math.round(performance.now() - testsEndedAt),
      code: process.exitCode ?? code,
    });
  }
});

if (isTestFile) {
  const { after } = await import('node:test');
  // Registered before the file's own hooks, so it runs first: the moment every test has ended.
  after(() => {
    testsEndedAt = performance.now();
    setTimeout(() => {
      const heldBy = process.getActiveResourcesInfo();
      record({ kind: 'held', afterTestsMs: graceMs, heldBy });
      say(`the event loop is still alive ${graceMs} ms after the tests ended, held by ${heldBy.join(', ')}`);
    }, graceMs).unref();
    setTimeout(() => {
      const heldBy = process.getActiveResourcesInfo();
      record({ kind: 'killed', afterTestsMs: limitMs, heldBy });
      say(`still alive ${limitMs} ms after the tests ended (held by ${heldBy.join(', ')}); ending it`);
      process.exit(1);
    }, limitMs).unref();
  });
}

// Runs one `node --test` process over a list of files and judges it: test counts from a TAP copy of the
// report, plus what scripts/test-guard.mjs recorded in each test file's process (unhandled rejections,
// uncaught exceptions, files that kept the event loop alive after their tests). Used by scripts/test.mjs,
// and by the test that proves the guard (test/unit/runner/guard.test.ts) on deliberately leaking fixtures.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const guard = join(dirname(fileURLToPath(import.meta.url)), 'test-guard.mjs');

/** Exit-delay above which a file is reported (ms); the guard samples what held the loop at this point. */
export function exitGraceMs(env = process.env) {
  return Number(env.PGNUDGE_TEST_EXIT_GRACE_MS ?? 5000);
}

/**
 * Runs `files` in one `node --test` child with `env` added to this process's environment. Output lines
 * go to `out`/`err` prefixed by `[label]`. Resolves with counts, `problems` (each a line that fails the
 * run) and `exits` (per file: ms from the end of its tests to process exit, null when unknown).
 */
export function runSuite({
  label,
  files,
  env = {},
  concurrency,
  scratch,
  cwd,
  out,
  err,
  timeoutMs = 180_000,
}) {
  return new Promise((resolve) => {
    const empty = { label, pass: 0, fail: 0, skipped: 0, crashed: false, problems: [], exits: [] };
    if (files.length === 0) return resolve(empty);
    const tap = join(scratch, `${label}.tap`);
    const guardLog = join(scratch, `${label}.guard.jsonl`);
    const childEnv = { ...process.env, ...env, PGNUDGE_TEST_GUARD_LOG: guardLog };
    // Set when this runs inside a test file: a nested `node --test` would then act as a child and
    // speak its binary protocol on stdout.
    delete childEnv.NODE_TEST_CONTEXT;
    const child = spawn(
      process.execPath,
      [
        `--import=${guard}`,
        '--test',
        `--test-concurrency=${concurrency}`,
        `--test-timeout=${timeoutMs}`,
        '--test-reporter=spec',
        '--test-reporter-destination=stdout',
        '--test-reporter=tap',
        `--test-reporter-destination=${tap}`,
        ...files,
      ],
      { cwd, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const prefix = (stream, target) => {
      let rest = '';
      stream.on('data', (chunk) => {
        const lines = (rest + chunk).split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) target.write(`[${label}] ${line}\n`);
      });
      stream.on('end', () => rest && target.write(`[${label}] ${rest}\n`));
    };
    prefix(child.stdout, out);
    prefix(child.stderr, err);
    child.on('close', (code) => {
      const text = existsSync(tap) ? readFileSync(tap, 'utf8') : '';
      const count = (name) => Number(text.match(new RegExp(`^# ${name} (\\d+)$`, 'm'))?.[1] ?? 0);
      const { problems, exits } = judgeGuardLog(label, guardLog);
      resolve({
        label,
        pass: count('pass'),
        fail: count('fail') + count('cancelled'),
        skipped: count('skipped') + count('todo'),
        crashed: code !== 0 && count('fail') + count('cancelled') === 0,
        problems,
        exits,
      });
    });
  });
}

function judgeGuardLog(label, path) {
  const problems = [];
  const exits = [];
  const entries = existsSync(path)
    ? readFileSync(path, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line))
    : [];
  for (const entry of entries) {
    const where = `${label} ${entry.file}`;
    if (entry.kind === 'exit') exits.push({ file: entry.file, afterTestsMs: entry.afterTestsMs });
    else if (entry.kind === 'held') {
      problems.push(
        `${where} kept the event loop alive more than ${entry.afterTestsMs} ms after its tests ended (held by ${entry.heldBy.join(', ')})`,
      );
    } else if (entry.kind === 'killed') {
      problems.push(`${where} was still alive ${entry.afterTestsMs} ms after its tests ended and was ended`);
    } else {
      problems.push(`${where}: ${entry.kind}: ${entry.message.split('\n')[0]}`);
    }
  }
  return { problems, exits };
}

/** One line about a suite's exit delays: the slowest file and how many files were measured. */
export function describeExits(exits) {
  const measured = exits.filter((e) => e.afterTestsMs !== null);
  if (measured.length === 0) return 'no exit delays measured';
  const slowest = measured.reduce((a, b) => (b.afterTestsMs > a.afterTestsMs ? b : a));
  const sorted = measured.map((e) => e.afterTestsMs).sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  return `exit after tests: median ${median} ms, slowest ${slowest.afterTestsMs} ms (${slowest.file}), ${measured.length} files`;
}

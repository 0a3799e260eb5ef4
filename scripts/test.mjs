#!/usr/bin/env node
// The test runner behind `npm test`: compiles, boots one PostgreSQL cluster per selected major, runs the
// unit, fuzz and packaging suites and one live suite per major concurrently, and closes with one
// "N passed, N failed" line.
//   node scripts/test.mjs [all|unit|fuzz|package|live|MODE,MODE...] [file filter substring, or several joined by |]
// Suites: unit (test/unit), fuzz (test/fuzz: seeded properties and the fixture replay), package
// (test/package: `npm pack` installed into a scratch project), live (test/live, once per major).
// Variables: PGNUDGE_TEST_PG=15,17 (majors), PGNUDGE_TEST_DSN (external server), CI=true (missing = failure),
// PGNUDGE_TEST_EXIT_GRACE_MS / PGNUDGE_TEST_EXIT_LIMIT_MS (scripts/test-guard.mjs). Every test process runs
// under scripts/test-guard.mjs: an unhandled rejection, an uncaught exception, or a file that keeps the
// event loop alive past the grace limit after its tests ended is a "problem" line and fails the run.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeExits, runSuite } from './test-suite.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SUITES = ['unit', 'fuzz', 'package', 'live'];
const mode = process.argv[2] ?? 'all';
const filter = process.argv[3];
/** A file runs when its path holds any of the filter's |-separated substrings. */
const filters = filter ? filter.split('|').filter(Boolean) : [];
const selected = mode === 'all' ? SUITES : mode.split(',');
if (selected.length === 0 || !selected.every((name) => SUITES.includes(name))) {
  console.error(
    `usage: node scripts/test.mjs [all|${SUITES.join('|')}|MODE,MODE...] [filter]; got "${mode}"`,
  );
  process.exit(2);
}
const strict = process.env.CI === 'true';

const build = join(root, 'build');
rmSync(build, { recursive: true, force: true });
const tsc = spawnSync(
  process.execPath,
  [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')],
  {
    stdio: 'inherit',
  },
);
if (tsc.status !== 0) {
  console.error('type check failed: fix the errors above');
  process.exit(1);
}

function testFiles(dir) {
  const full = join(build, 'test', dir);
  if (!existsSync(full)) return [];
  const found = [];
  const walk = (d) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (
        entry.name.endsWith('.test.js') &&
        (filters.length === 0 || filters.some((part) => path.includes(part)))
      )
        found.push(path);
    }
  };
  walk(full);
  return found.sort();
}

const scratch = mkdtempSync(join(tmpdir(), 'pgnudge-test-'));
// Also on Ctrl-C: the cluster module turns signals into process.exit, which runs this.
process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));

function suite(label, files, env, concurrency, timeoutMs) {
  return runSuite({
    label,
    files,
    env,
    concurrency,
    timeoutMs,
    scratch,
    cwd: root,
    out: process.stdout,
    err: process.stderr,
  });
}

const runs = [];
const problems = [];
const clusters = [];
let stopClusters = () => {};

// The offline suites run side by side with the live ones. Fuzzing is CPU-bound and the packaging test
// spends its time in npm and tsc children, so one file at a time each leaves the cores to the others.
if (selected.includes('unit')) runs.push(suite('unit', testFiles('unit'), {}, 2));
if (selected.includes('fuzz')) runs.push(suite('fuzz', testFiles('fuzz'), {}, 1));
// The packaging file is a chain of npm and tsc children (each with its own deadline): on a loaded machine
// it outlasts the 180 s every other file gets.
if (selected.includes('package')) runs.push(suite('package', testFiles('package'), {}, 1, 480_000));

if (selected.includes('live')) {
  const liveFiles = testFiles('live');
  const { Cluster, selectedMajors, serverInstall } = await import(join(build, 'test/support/cluster.js'));
  stopClusters = () => {
    for (const cluster of clusters) cluster.stop();
  };
  if (process.env.PGNUDGE_TEST_DSN) {
    runs.push(suite('external', liveFiles, {}, 2));
  } else {
    const majors = selectedMajors();
    const booting = majors.map(async (major) => {
      if (serverInstall(major) === null) {
        const why = `PostgreSQL ${major} is not installed (README: Testing says how to get it)`;
        if (strict) problems.push(why);
        else console.log(`skipping live suite: ${why}`);
        return;
      }
      try {
        const cluster = await Cluster.start({ major, announce: true });
        clusters.push(cluster);
        return suite(`pg${major}`, liveFiles, { PGNUDGE_TEST_CLUSTER: JSON.stringify(cluster.info) }, 2);
      } catch (error) {
        problems.push(`PostgreSQL ${major} did not start: ${error.message}`);
      }
    });
    runs.push(...booting);
  }
}

const results = (await Promise.all(runs)).filter(Boolean);
stopClusters();
rmSync(scratch, { recursive: true, force: true });

let pass = 0;
let fail = 0;
let skipped = 0;
console.log('\nsuite results:');
for (const r of results) {
  pass += r.pass;
  fail += r.fail;
  skipped += r.skipped;
  console.log(
    `  ${r.label.padEnd(9)} ${r.pass} passed, ${r.fail} failed, ${r.skipped} skipped${r.crashed ? ' (runner crashed)' : ''}`,
  );
  console.log(`  ${''.padEnd(9)} ${describeExits(r.exits)}`);
  if (r.crashed) problems.push(`suite ${r.label} exited abnormally`);
  problems.push(...r.problems);
}
for (const problem of problems) console.log(`  problem: ${problem}`);
console.log(`${pass} passed, ${fail + problems.length} failed, ${skipped} skipped`);
process.exit(fail + problems.length > 0 ? 1 : 0);

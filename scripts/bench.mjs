#!/usr/bin/env node
// The runner behind `npm run bench`: compiles with tsc (tsconfig.json → build/), then runs every
// build/bench/*.bench.js in turn, each in its own node process so one bench's heap never skews the next,
// the comparison (bench/compare.bench.ts → bench/results/latest.json) last.
//   node scripts/bench.mjs [name filter substring]
// Benches print their figures and assert nothing; a bench that crashes makes the exit status 1.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const filter = process.argv[2];
// The comparison with the other tools runs last, so its table is what a run ends with.
const LAST = 'compare.bench.js';

const tsc = spawnSync(
  process.execPath,
  [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')],
  { stdio: 'inherit' },
);
if (tsc.status !== 0) {
  console.error('type check failed: fix the errors above');
  process.exit(1);
}

const dir = join(root, 'build', 'bench');
const benches = existsSync(dir)
  ? readdirSync(dir)
      .filter((name) => name.endsWith('.bench.js') && (!filter || name.includes(filter)))
      .sort((a, b) => Number(a === LAST) - Number(b === LAST) || a.localeCompare(b))
  : [];
if (benches.length === 0) {
  console.error(`no bench matches ${filter ? `"${filter}"` : 'build/bench/*.bench.js'}`);
  process.exit(2);
}

const failed = [];
for (const name of benches) {
  console.log(`\n=== ${name.replace(/\.js$/, '')} ===`);
  const run = spawnSync(process.execPath, [join(dir, name)], { cwd: root, stdio: 'inherit' });
  if (run.status !== 0) failed.push(`${name} (exit ${run.status ?? run.signal})`);
}
if (failed.length > 0) {
  console.error(`\nbench failures: ${failed.join(', ')}`);
  process.exit(1);
}

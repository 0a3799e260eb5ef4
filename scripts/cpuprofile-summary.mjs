#!/usr/bin/env node
// Self time by function in a V8 .cpuprofile (as written by node --cpu-prof), top first — to say where
// a bench child spends its CPU (docs/benchmarks.md). Idle time is left out of the percentages.
//   node scripts/cpuprofile-summary.mjs <file.cpuprofile> [top=25]
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: node scripts/cpuprofile-summary.mjs <file.cpuprofile> [top]');
  process.exit(2);
}
const profile = JSON.parse(readFileSync(file, 'utf8'));
const byId = new Map(profile.nodes.map((node) => [node.id, node]));
const selfUs = new Map();
for (let i = 0; i < profile.samples.length; i++) {
  const node = byId.get(profile.samples[i]);
  const frame = node.callFrame;
  const where = frame.url ? ` ${basename(frame.url)}:${frame.lineNumber + 1}` : '';
  const key = `${frame.functionName || '(anonymous)'}${where}`;
  selfUs.set(key, (selfUs.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
}
const idle = selfUs.get('(idle)') ?? 0;
const busy = [...selfUs.values()].reduce((a, b) => a + b, 0) - idle;
console.log(`${basename(file)}: ${(busy / 1e3).toFixed(0)} ms busy, ${(idle / 1e3).toFixed(0)} ms idle`);
const rows = [...selfUs.entries()].filter(([key]) => key !== '(idle)').sort((a, b) => b[1] - a[1]);
for (const [key, us] of rows.slice(0, Number(topArg ?? 25))) {
  console.log(
    `${((us / busy) * 100).toFixed(1).padStart(5)}%  ${(us / 1e3).toFixed(0).padStart(6)} ms  ${key}`,
  );
}

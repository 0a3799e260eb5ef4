#!/usr/bin/env node
// Turns an input (a fuzz counterexample, or an edge worth pinning) into a regression fixture:
// runs it through the target, records the outcome, and writes test/fixtures/fuzz/<target>/<name>.json,
// which test/fuzz/fixtures.test.ts replays on every run.
//   node scripts/fuzz-fixture.mjs <target> <name> "<what it broke / pins>" <hex>... [--text] [--force]
//     [--max-frame-length=N]
// Targets: frame-decoder (inputs are the chunks of one stream), backend-message (code byte + body),
// replication-message, wal2json, test_decoding, pgoutput (inputs go through one decoder, in order).
// --text takes the inputs as UTF-8 text instead of hex. Fix the bug first: an input that still leaks
// a non-PgnudgeError is written without "expect", so the replay fails until the target is fixed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const flags = new Set(process.argv.slice(2).filter((a) => a.startsWith('--')));
const [target, name, description, ...rawInputs] = process.argv.slice(2).filter((a) => !a.startsWith('--'));

function usage(message) {
  console.error(
    `${message}\nusage: node scripts/fuzz-fixture.mjs <target> <name> "<description>" <hex>... [--text] [--force]`,
  );
  process.exit(2);
}

if (!target || !name || !description || rawInputs.length === 0) usage('missing arguments');
if (!/^[a-z0-9][a-z0-9-]*$/.test(name)) usage(`name must be kebab-case ([a-z0-9-]), got "${name}"`);
if (description.includes('\n')) usage('the description is one line');

const tsc = spawnSync(
  process.execPath,
  [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')],
  {
    stdio: 'inherit',
  },
);
if (tsc.status !== 0) process.exit(1);
const targets = await import(pathToFileURL(join(root, 'build/test/support/fuzz-targets.js')).href);
if (!targets.TARGETS.includes(target))
  usage(`unknown target "${target}"; use one of ${targets.TARGETS.join(', ')}`);

const inputs = rawInputs.map((raw) => {
  if (flags.has('--text')) return Buffer.from(raw, 'utf8');
  const clean = raw.replace(/\s/g, '');
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) usage(`not hex: ${raw} (use --text for text)`);
  return Buffer.from(clean, 'hex');
});

const maxFlag = [...flags].find((flag) => flag.startsWith('--max-frame-length='));
const maxFrameLength = maxFlag === undefined ? undefined : Number(maxFlag.split('=')[1]);
const outcomes = targets.runTarget(target, inputs, maxFrameLength === undefined ? {} : { maxFrameLength });
const leaks = outcomes.filter((outcome) => 'leak' in outcome);
const fixture = { description, inputs: inputs.map((bytes) => targets.fixtureInput(bytes)) };
if (maxFrameLength !== undefined) fixture.maxFrameLength = maxFrameLength;
if (leaks.length === 0) fixture.expect = outcomes;

const path = join(root, 'test/fixtures/fuzz', target, `${name}.json`);
if (existsSync(path) && !flags.has('--force')) usage(`${path} exists; pass --force to overwrite`);
mkdirSync(dirname(path), { recursive: true });
writeFileSync(path, `${JSON.stringify(fixture, null, 2)}\n`);
// The repository's JSON style, so the new file passes `biome check` as written.
spawnSync(
  process.execPath,
  [join(root, 'node_modules/@biomejs/biome/bin/biome'), 'format', '--write', path],
  {
    stdio: 'ignore',
  },
);
console.log(`wrote ${path.slice(root.length + 1)}`);
console.log(JSON.stringify(outcomes));
if (leaks.length > 0) {
  console.log(
    `the input still leaks (${leaks.map((l) => l.leak).join('; ')}): fix the target, then rerun with --force`,
  );
}

#!/usr/bin/env node
// Records the pgoutput golden bytes: for each major, boots a cluster, runs the scripted workload
// (test/support/pgoutput-workload.ts) and writes test/fixtures/pgoutput/<major>/ (see its README).
//   node scripts/capture-pgoutput.mjs [major...]     default: every installed major (15-18)
// Majors run one after another, so only one cluster is up at a time.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsc = spawnSync(
  process.execPath,
  [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')],
  { stdio: 'inherit' },
);
if (tsc.status !== 0) process.exit(1);

const load = (path) => import(pathToFileURL(join(root, 'build', path)).href);
const { SUPPORTED_MAJORS, serverInstall } = await load('test/support/cluster.js');
const { captureMajor } = await load('test/support/pgoutput-capture.js');

const asked = process.argv.slice(2).map(Number);
for (const major of asked) {
  if (!SUPPORTED_MAJORS.includes(major)) {
    console.error(`unknown major ${major}; use ${SUPPORTED_MAJORS.join(', ')}`);
    process.exit(2);
  }
}
const majors = asked.length > 0 ? asked : SUPPORTED_MAJORS.filter((major) => serverInstall(major) !== null);
for (const major of majors) {
  const manifest = await captureMajor(major);
  const summary = Object.entries(manifest.captures)
    .map(([name, c]) => `${name} ${c.messages} messages/${c.bytes} B`)
    .join(', ');
  console.log(`PostgreSQL ${manifest.server_version}: ${summary}`);
}

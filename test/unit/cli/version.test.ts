// `pgnudge --version` reads the package's own package.json. Without one the installation is broken, which
// no option can fix: an error that says so, not a configuration error (exit 2) the user would hunt for.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { repoPath } from '../../support/cluster.js';

const builtSrc = fileURLToPath(new URL('../../../src', import.meta.url));

function run(main: string) {
  return spawnSync(process.execPath, [main, '--version'], {
    encoding: 'utf8',
    timeout: 20_000,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
  });
}

test('--version prints the version of package.json', () => {
  const { version } = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')) as { version: string };
  const result = run(join(builtSrc, 'cli', 'main.js'));
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stdout, `${version}\n`);
});

test('without its package.json the CLI says the installation is incomplete, not that a setting is wrong', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgnudge-no-manifest-'));
  try {
    // Two levels below the temporary directory: neither place main.js looks holds a package.json.
    cpSync(builtSrc, join(dir, 'a', 'b', 'src'), { recursive: true });
    const result = run(join(dir, 'a', 'b', 'src', 'cli', 'main.js'));
    assert.equal(result.status, 1, result.stderr);
    assert.match(
      result.stderr,
      /the pgnudge installation is incomplete: its package\.json is not at .*; reinstall pgnudge/,
    );
    assert.doesNotMatch(result.stderr, /PGNUDGE_ERR_CONFIG/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

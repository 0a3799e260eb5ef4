// Where the repository is, for tests that read its files or run its scripts. Kept apart from the cluster
// harness so that unit tests which only need a path do not load a PostgreSQL driver and exit hooks.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepoRoot(): string {
  // Compiled tests run from build/test/support, sources from test/support: walk up to package.json.
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the repository root from test/support/repo');
    dir = parent;
  }
  return dir;
}

const repoRoot = findRepoRoot();

/** Absolute path of a repository file (fixtures, the CLI). */
export function repoPath(...parts: string[]): string {
  return resolve(repoRoot, ...parts);
}

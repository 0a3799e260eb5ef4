// docs/errors.md is the list of error codes users branch on: every code the library, the CLI or doctor
// can show is on it, and it lists no code that does not exist. The codes are found as text in src/, not
// by a list kept here, so a code added anywhere (a thrown error, a doctor check, a log line) is caught.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import * as api from '../../../src/index.js';
import { repoPath } from '../../support/repo.js';

const CODE = /PGNUDGE_ERR_[A-Z0-9_]+/g;

/** Relative path → text for every file below `dir` whose name ends with `ending`. */
function filesIn(dir: string, ending: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const entry of readdirSync(repoPath(dir), { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith(ending)) continue;
    const path = join(entry.parentPath, entry.name).slice(repoPath().length + 1);
    found.set(path, readFileSync(repoPath(path), 'utf8'));
  }
  return found;
}

/** The members of the `PgnudgeErrorCode` union in src/errors.ts. */
function declaredCodes(): Set<string> {
  const errors = readFileSync(repoPath('src', 'errors.ts'), 'utf8');
  const union = /export type PgnudgeErrorCode =([^;]*);/.exec(errors)?.[1];
  assert.ok(union, 'src/errors.ts declares the PgnudgeErrorCode union');
  return new Set(union.match(CODE));
}

/** The rows of docs/errors.md's table: code → the class column. */
function documentedCodes(): Map<string, string> {
  const page = readFileSync(repoPath('docs', 'errors.md'), 'utf8');
  const rows = new Map<string, string>();
  for (const match of page.matchAll(/^\| `(PGNUDGE_ERR_[A-Z0-9_]+)` \| ([^|]+) \|/gm)) {
    assert.ok(!rows.has(match[1] as string), `${match[1]} has one row`);
    rows.set(match[1] as string, match[2] as string);
  }
  return rows;
}

describe('docs/errors.md', () => {
  const declared = declaredCodes();
  const documented = documentedCodes();

  test('documents every code of the PgnudgeErrorCode union, and no other', () => {
    assert.ok(declared.size >= 18, `found ${declared.size} declared codes`);
    assert.deepEqual([...documented.keys()].sort(), [...declared].sort());
  });

  test('every code written anywhere in src/ (doctor included) is declared, so documented', () => {
    const sources = filesIn('src', '.ts');
    assert.ok(
      [...sources.keys()].some((path) => path.startsWith('src/cli/doctor')),
      'doctor is among the scanned sources',
    );
    for (const [path, text] of sources) {
      for (const code of text.match(CODE) ?? []) {
        assert.ok(declared.has(code), `${path} uses ${code}, which src/errors.ts does not declare`);
        assert.ok(documented.has(code), `${path} uses ${code}, which docs/errors.md does not document`);
      }
    }
  });

  test('codes named in the README and the other docs exist', () => {
    const pages = filesIn('docs', '.md');
    pages.set('README.md', readFileSync(repoPath('README.md'), 'utf8'));
    for (const [path, text] of pages) {
      for (const code of text.match(CODE) ?? []) assert.ok(declared.has(code), `${path} names ${code}`);
    }
  });

  test('the class column names exported error classes', () => {
    const exported = api as unknown as Record<string, unknown>;
    for (const [code, column] of documented) {
      const classes = [...column.matchAll(/`(\w+)`/g)].map((match) => match[1] as string);
      assert.ok(classes.length > 0, `${code} names its class`);
      for (const name of classes) {
        const value = exported[name];
        assert.ok(
          typeof value === 'function' && value.prototype instanceof api.PgnudgeError,
          `${code}: ${name} is an exported PgnudgeError subclass`,
        );
      }
    }
  });
});

// Every TypeScript sample in README.md and docs/*.md is type-checked against the real sources, so
// none rots. Samples import from 'pgnudge', which maps to src/index.ts here.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { repoPath } from '../../support/repo.js';

function samples(): { file: string; index: number; code: string }[] {
  const docs = existsSync(repoPath('docs'))
    ? readdirSync(repoPath('docs'))
        .filter((name) => name.endsWith('.md') && name !== 'api.md') // api.md holds signatures, not programs
        .map((name) => join('docs', name))
    : [];
  const found: { file: string; index: number; code: string }[] = [];
  for (const file of ['README.md', ...docs]) {
    const text = readFileSync(repoPath(file), 'utf8');
    let index = 0;
    for (const match of text.matchAll(/^```(?:ts|typescript)\n([\s\S]*?)^```/gm)) {
      found.push({ file, index: index++, code: match[1] ?? '' });
    }
  }
  return found;
}

test('every TypeScript sample in the README and docs type-checks', { timeout: 60_000 }, () => {
  const found = samples();
  assert.ok(found.length > 0, 'the README has at least one TypeScript sample');
  const dir = mkdtempSync(join(tmpdir(), 'pgnudge-samples-'));
  try {
    const names = found.map((sample) => {
      const name = `${sample.file.replace(/[^a-z0-9]+/gi, '_')}_${sample.index}.ts`;
      // Each sample is its own module, so top-level await and repeated names are fine.
      writeFileSync(join(dir, name), `${sample.code}\nexport {};\n`);
      return name;
    });
    writeFileSync(join(dir, 'package.json'), '{"type":"module"}\n');
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          lib: ['ES2023', 'ESNext.Disposable'],
          module: 'Node16',
          moduleResolution: 'Node16',
          strict: true,
          noEmit: true,
          skipLibCheck: true,
          types: ['node'],
          typeRoots: [repoPath('node_modules/@types')],
          paths: { pgnudge: [repoPath('src/index.ts')] },
        },
        files: names,
      }),
    );
    const tsc = spawnSync(process.execPath, [repoPath('node_modules/typescript/bin/tsc'), '-p', dir], {
      encoding: 'utf8',
    });
    const where = found
      .map((sample, i) => `${names[i]} = ${sample.file} sample #${sample.index + 1}`)
      .join('\n');
    assert.equal(tsc.status, 0, `samples do not type-check:\n${tsc.stdout}${tsc.stderr}\n${where}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The package as users install it: `npm pack`, then a scratch project installs the tarball and uses it
// the ways users do (ESM import, require() of ESM, TypeScript under node16 and bundler, the bin).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { repoPath } from '../support/repo.js';

const npm = 'npm';
let scratch: string;
let tarball: string;
let consumer: string;
let packed: { size: number; unpackedSize: number; files: { path: string }[]; filename: string };

/** Longest one npm, tsc or node child may take: a hung one fails its test, named, instead of the whole file. */
const CHILD_DEADLINE_MS = 150_000;

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) {
  const result = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: CHILD_DEADLINE_MS,
    killSignal: 'SIGKILL',
  });
  const timedOut = (result.error as NodeJS.ErrnoException | undefined)?.code === 'ETIMEDOUT';
  const stderr = `${result.stderr ?? ''}${timedOut ? `\n${command} ${args.join(' ')} took longer than ${CHILD_DEADLINE_MS} ms` : ''}`;
  return { status: result.status, stdout: result.stdout ?? '', stderr };
}

before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'pgnudge-pack-'));
  const pack = run(npm, ['pack', '--json', '--pack-destination', scratch], repoPath());
  assert.equal(pack.status, 0, `${pack.stdout}${pack.stderr}`);
  const [info] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as (typeof packed)[];
  assert.ok(info);
  packed = info;
  tarball = join(scratch, packed.filename);
  console.log(
    `tarball ${packed.filename}: ${packed.size} bytes packed, ${packed.unpackedSize} unpacked, ${packed.files.length} files`,
  );
  consumer = join(scratch, 'consumer');
  mkdirSync(consumer);
  writeFileSync(join(consumer, 'package.json'), '{"name":"consumer","private":true,"type":"module"}\n');
  const install = run(npm, ['install', '--no-audit', '--no-fund', '--offline', tarball], consumer);
  assert.equal(install.status, 0, install.stderr);
});
after(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('the published package', { timeout: 120_000 }, () => {
  test('holds what a user needs and nothing else', () => {
    const paths = packed.files.map((file) => file.path).sort();
    for (const required of [
      'package.json',
      'README.md',
      'LICENSE',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cli/main.js',
    ]) {
      assert.ok(paths.includes(required), `${required} is missing from the tarball`);
    }
    const stray = paths.filter(
      (path) =>
        !/^(package\.json|README\.md|LICENSE|CHANGELOG\.md|SECURITY\.md)$/.test(path) &&
        !/^dist\/.+\.(js|d\.ts)$/.test(path) &&
        !/^docs\/[^/]+\.(md|png)$/.test(path),
    );
    assert.deepEqual(stray, [], 'tests, fixtures, source maps or local configs leaked into the tarball');
  });

  test('ships every file the README links to, so its links work in the installed package', () => {
    const paths = new Set(packed.files.map((file) => file.path));
    const readme = readFileSync(repoPath('README.md'), 'utf8');
    const linked = [...readme.matchAll(/\]\(((?!https?:|#)[^)#\s]+)/g)].map((match) => match[1] as string);
    assert.ok(
      linked.some((path) => path.startsWith('docs/')),
      'the README links to docs/',
    );
    // Links into the repository's tests are for contributors reading the clone.
    const missing = linked.filter((path) => !path.startsWith('test/') && !paths.has(path));
    assert.deepEqual(missing, [], 'README links that the tarball does not hold');
  });

  test('has zero runtime dependencies', async () => {
    const { readFileSync } = await import('node:fs');
    const manifest = JSON.parse(readFileSync(join(consumer, 'node_modules/pgnudge/package.json'), 'utf8'));
    assert.equal(manifest.dependencies, undefined);
    assert.equal(manifest.sideEffects, false);
    assert.equal(manifest.license, 'MIT');
  });

  test('installs no broker client: redis and @nats-io/transport-node are optional peers, named when missing', async () => {
    const { existsSync, readFileSync } = await import('node:fs');
    const manifest = JSON.parse(readFileSync(join(consumer, 'node_modules/pgnudge/package.json'), 'utf8'));
    for (const name of ['redis', '@nats-io/transport-node']) {
      assert.ok(manifest.peerDependencies?.[name], `${name} is a peer dependency`);
      assert.equal(manifest.peerDependenciesMeta?.[name]?.optional, true, `${name} is optional`);
    }
    for (const name of ['redis', '@redis/client', '@nats-io/transport-node', '@nats-io/nats-core']) {
      assert.equal(existsSync(join(consumer, 'node_modules', name)), false, `${name} was installed`);
    }
    // The whole install is pgnudge alone.
    const installed = readFileSync(join(consumer, 'package-lock.json'), 'utf8');
    assert.deepEqual(Object.keys(JSON.parse(installed).packages).sort(), ['', 'node_modules/pgnudge']);
    const missing = run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { BrokerFeed, NotifyBridge } = await import('pgnudge');
for (const from of ['redis://127.0.0.1:1/orders', 'nats://127.0.0.1:1/orders']) {
  try {
    for await (const item of new BrokerFeed({ from, insecure: true })) console.log('item', item.type);
  } catch (error) {
    console.log(error.code, error.packageName);
  }
}`,
      ],
      consumer,
    );
    assert.equal(
      missing.stdout.trim(),
      'PGNUDGE_ERR_PACKAGE_MISSING redis\nPGNUDGE_ERR_PACKAGE_MISSING @nats-io/transport-node',
      missing.stderr,
    );
  });

  test('imports as ESM and, on Node >= 20.19, through require()', () => {
    const esm = run(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const m = await import('pgnudge'); console.log(typeof m.WalFeed, typeof m.PgnudgeError, typeof m.Resync)",
      ],
      consumer,
    );
    assert.equal(esm.stdout.trim(), 'function function function', esm.stderr);
    const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
    if (major > 20 || (major === 20 && minor >= 19)) {
      const cjs = run(
        process.execPath,
        ['--input-type=commonjs', '-e', "console.log(typeof require('pgnudge').WalFeed)"],
        consumer,
      );
      assert.equal(cjs.stdout.trim(), 'function', cjs.stderr);
    }
  });

  for (const resolution of [
    { module: 'Node16', moduleResolution: 'Node16' },
    { module: 'ESNext', moduleResolution: 'Bundler' },
  ]) {
    test(`type-checks a strict TypeScript consumer under moduleResolution ${resolution.moduleResolution}`, () => {
      const dir = join(consumer, `ts-${resolution.moduleResolution.toLowerCase()}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(
        join(dir, 'index.ts'),
        `import { type FeedItem, PgnudgeError, WalFeed, type WalFeedOptions } from 'pgnudge';
const options: WalFeedOptions = { tables: ['public.orders'], debounce: 10, livenessTimeout: null };
export async function consume(signal: AbortSignal): Promise<number> {
  let seen = 0;
  try {
    for await (const item of new WalFeed({ ...options, signal })) {
      const typed: FeedItem = item;
      if (typed.type === 'batch') seen += typed.events.reduce((sum, event) => sum + event.count, 0);
      else if (typed.reason === 'overflow') seen = -1;
    }
  } catch (error) {
    if (error instanceof PgnudgeError) return error.code.length;
    throw error;
  }
  return seen;
}
`,
      );
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            ...resolution,
            target: 'ES2022',
            lib: ['ES2023', 'DOM'],
            strict: true,
            noEmit: true,
            exactOptionalPropertyTypes: true,
            noUncheckedIndexedAccess: true,
            // A Node library's users have @types/node; nothing else may be needed.
            types: ['node'],
            typeRoots: [repoPath('node_modules/@types')],
            skipLibCheck: false,
          },
          files: ['index.ts'],
        }),
      );
      const tsc = run(process.execPath, [repoPath('node_modules/typescript/bin/tsc'), '-p', dir], consumer, {
        NODE_PATH: '',
      });
      assert.equal(tsc.status, 0, `${tsc.stdout}${tsc.stderr}`);
    });
  }

  test('types resolve for every entry point (arethetypeswrong)', () => {
    const attw = run(
      process.execPath,
      [
        repoPath('node_modules/@arethetypeswrong/cli/dist/index.js'),
        tarball,
        '--profile',
        'esm-only',
        '--format',
        'table-flipped',
      ],
      consumer,
    );
    assert.equal(attw.status, 0, `${attw.stdout}${attw.stderr}`);
  });

  test('the installed pgnudge --help runs', () => {
    const help = run(join(consumer, 'node_modules/.bin/pgnudge'), ['--help'], consumer);
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /Usage: pgnudge <command>/);
    const version = run(join(consumer, 'node_modules/.bin/pgnudge'), ['--version'], consumer);
    assert.equal(version.stdout.trim(), '0.1.0');
  });
});

// The password file on a real file system (issue 14): libpq's order, the type and permissions before any
// read, and a size cap. Each case resolves settings in a child process with a deadline, because reading a
// FIFO blocks the whole process and reading /dev/zero never ends: a hang must fail the case, not the run.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { MAX_PASSWORD_FILE_BYTES } from '../../../src/transport/settings-io.js';

const SECRET = 'pgpass-S3CRET';
const LINE = `*:*:*:*:${SECRET}\n`;
let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'pgnudge-pgpass-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Resolves settings with PGPASSFILE=`path` in a child process; what it found and warned, or a hang. */
function resolveWith(path: string): { password?: string; warnings: string[] } {
  const settings = new URL('../../../src/transport/settings.js', import.meta.url).href;
  const io = new URL('../../../src/transport/settings-io.js', import.meta.url).href;
  const script = `
    const { resolveConnectionSettings } = await import(${JSON.stringify(settings)});
    const { nodeSettingsIo } = await import(${JSON.stringify(io)});
    const warnings = [];
    const log = { warn: (m) => warnings.push(m), enabled: () => false };
    const env = { PGPASSFILE: process.env.PGPASSFILE, HOME: '/nonexistent' };
    const resolved = resolveConnectionSettings({ host: '127.0.0.1', user: 'u', database: 'd' }, env, nodeSettingsIo(env, log));
    process.stdout.write(JSON.stringify({ password: resolved.password, warnings }));
  `;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PGPASSFILE: path },
    encoding: 'utf8',
    timeout: 10_000,
  });
  assert.equal(child.error, undefined, `resolving hung or failed to run (${String(child.error)})`);
  assert.equal(child.status, 0, child.stderr);
  return JSON.parse(child.stdout) as { password?: string; warnings: string[] };
}

function file(name: string, text: string, mode: number): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

function ignored(path: string, why: RegExp): void {
  const outcome = resolveWith(path);
  assert.equal(outcome.password, undefined);
  assert.equal(outcome.warnings.length, 1, JSON.stringify(outcome.warnings));
  assert.match(outcome.warnings[0]!, why);
  assert.ok(!outcome.warnings[0]!.includes(SECRET), 'the warning never shows the contents');
}

describe('nodeSettingsIo: the password file', { timeout: 60_000 }, () => {
  test('a private regular file is read', () => {
    assert.deepEqual(resolveWith(file('private', LINE, 0o600)), { password: SECRET, warnings: [] });
  });

  test('a missing file is skipped without a word', () => {
    assert.deepEqual(resolveWith(join(dir, 'missing')), { warnings: [] });
  });

  test('a FIFO is refused before it is opened: no hang', () => {
    const fifo = join(dir, 'fifo');
    const made = spawnSync('mkfifo', ['-m', '600', fifo]);
    assert.equal(made.status, 0, `mkfifo: ${made.stderr}`);
    ignored(fifo, /is ignored: it is not a regular file/);
  });

  test('/dev/zero, directly or through a symlink, is refused: no endless read', () => {
    ignored('/dev/zero', /is not a regular file/);
    const link = join(dir, 'zero-link');
    symlinkSync('/dev/zero', link);
    ignored(link, /is not a regular file/);
  });

  test('a directory is refused', () => {
    ignored(dir, /is not a regular file/);
  });

  test('group or world access is refused, as libpq does', () => {
    ignored(file('open', LINE, 0o644), /has group or world access; permissions should be u=rw \(0600\)/);
    ignored(file('group', LINE, 0o640), /has group or world access/);
  });

  test('a file over the size cap is refused even when its first line matches', () => {
    const big = LINE + '#'.repeat(MAX_PASSWORD_FILE_BYTES);
    ignored(file('big', big, 0o600), new RegExp(`is larger than ${MAX_PASSWORD_FILE_BYTES} bytes`));
    const atCap = LINE + '#'.repeat(MAX_PASSWORD_FILE_BYTES - LINE.length);
    assert.equal(resolveWith(file('at-cap', atCap, 0o600)).password, SECRET);
  });
});

// `pgnudge demo` end to end (contract §5): it boots its own embedded PostgreSQL, so it runs once per test
// run (on the newest selected major's suite), not once per major. Ctrl-C (or SIGTERM) must end with
// exit 0, no temp dir and no postgres process of it left; run as root, it creates no account (the
// server runs as nobody) and leaves the account files as they were (issue 14).
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { CliProcess } from '../support/cli-process.js';
import { liveCluster, selectedMajors, serverInstall } from '../support/cluster.js';
import { SseClient } from '../support/sse-client.js';
import { waitFor, withDeadline } from '../support/wait.js';

/** The suite this file runs in: the newest selected major that is installed. */
async function skipReason(): Promise<string | undefined> {
  const info = await liveCluster();
  const newest = Math.max(...selectedMajors().filter((major) => serverInstall(major) !== null));
  if (info.major !== newest) return `runs once, on the PostgreSQL ${newest} suite`;
  return undefined;
}

/** Processes whose parent is `pid` (the postmaster's backends and auxiliary processes). */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) found.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

/** The real user id of `pid`. */
function uidOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^Uid:\s+(\d+)/m);
  return Number(line?.[1]);
}

/** The account databases a demo run as root must leave as they were. */
const ACCOUNT_FILES = ['/etc/passwd', '/etc/group', '/etc/shadow', '/etc/gshadow'].filter((file) =>
  existsSync(file),
);
const accountFiles = () => ACCOUNT_FILES.map((file) => readFileSync(file, 'utf8'));

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function runUntil(signal: 'SIGINT' | 'SIGTERM', waitForBatch: boolean): Promise<void> {
  const accountsBefore = accountFiles();
  const demo = new CliProcess(['demo'], { home: process.env.HOME ?? '/tmp' });
  try {
    const server = await demo.match(/ in (\/\S+)\n/, 'the server line', 60_000);
    const dir = server[1] as string;
    const pid = Number((await demo.match(/pid (\d+)/, 'the postmaster pid', 60_000))[1]);
    assert.ok(existsSync(dir), 'the temp dir exists while the demo runs');
    if (process.geteuid?.() === 0) {
      const nobody = Number(readFileSync('/etc/passwd', 'utf8').match(/^nobody:[^:]*:(\d+):/m)?.[1]);
      assert.equal(uidOf(pid), nobody, 'as root, the server runs as the existing account nobody');
    }
    await demo.match(/^\S+ resync +connected\b/m, 'a Resync line', 60_000);
    if (waitForBatch) {
      await demo.match(/^\S+ batch +public\.(orders|stations) ×\d+/m, 'a Batch line', 60_000);
      await demo.match(/↳ /, 'an explanation', 60_000);
      // The live page: on loopback, with the run's token; its stream carries the demo's items.
      const found = await demo.match(
        /^ {2}page {5}(http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+)$/m,
        'the page line',
      );
      const url = new URL(found[1] as string);
      const page = await fetch(url);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<title>pgnudge live<\/title>/);
      const refused = await fetch(new URL('/', url));
      assert.equal(refused.status, 401, 'not without the token');
      await refused.text();
      const events = new SseClient(new URL(`/events${url.search}`, url).toString());
      try {
        await events.next((item) => item.type === 'resync', 'the page stream’s Resync', 0, 30_000);
        await events.next((item) => item.type === 'batch', 'a batch on the page stream', 0, 30_000);
      } finally {
        events.close();
      }
    }
    const processes = [pid, ...childrenOf(pid)];
    assert.ok(processes.length > 1, 'the postmaster has children (backends, walsender)');
    demo.child.kill(signal);
    const { code } = await withDeadline(demo.exited, 30_000, `the demo to exit after ${signal}`);
    assert.equal(code, 0, `exit status after ${signal}; stderr: ${demo.stderr}`);
    assert.equal(existsSync(dir), false, `${dir} is removed`);
    await waitFor(() => processes.every((p) => !alive(p)), {
      timeoutMs: 10_000,
      what: `no postgres process of the demo left (${processes.filter(alive).join(', ')})`,
    });
    assert.match(demo.stdout, /done: the server is stopped and .* is removed/);
    assert.deepEqual(accountFiles(), accountsBefore, 'no account created or left behind');
    assert.doesNotMatch(demo.stderr, /\n\s+at .+:\d+:\d+/, 'no stack trace');
  } finally {
    demo.kill('SIGKILL');
  }
}

describe('pgnudge demo', { timeout: 180_000 }, () => {
  test('prints a Resync, then Batches with explanations; Ctrl-C leaves nothing behind', async (t) => {
    const skip = await skipReason();
    if (skip) return t.skip(skip);
    await runUntil('SIGINT', true);
  });

  test('SIGTERM right after the Resync stops it cleanly too', async (t) => {
    const skip = await skipReason();
    if (skip) return t.skip(skip);
    await runUntil('SIGTERM', false);
  });
});

// `pgnudge demo` end to end (SPEC §5): it boots its own embedded PostgreSQL, so it runs once per test
// run (on the newest selected major's suite), not once per major. Ctrl-C (or SIGTERM) must end with
// exit 0, no temp dir and no postgres process of it left.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { liveCluster, repoPath, selectedMajors, serverInstall } from '../support/cluster.js';
import { waitFor, withDeadline } from '../support/wait.js';

/** The suite this file runs in: the newest selected major that is installed. */
async function skipReason(): Promise<string | undefined> {
  const info = await liveCluster();
  const newest = Math.max(...selectedMajors().filter((major) => serverInstall(major) !== null));
  if (info.major !== newest) return `runs once, on the PostgreSQL ${newest} suite`;
  return undefined;
}

class Demo {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor() {
    this.child = spawn(process.execPath, [repoPath('build/src/cli/main.js'), 'demo'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/tmp' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => {
      this.child.once('close', (code, signal) => resolve({ code, signal }));
    });
  }

  line(pattern: RegExp, what: string, timeoutMs = 60_000): Promise<RegExpExecArray> {
    return waitFor(
      () => {
        if (this.child.exitCode !== null) throw new Error(`demo exited with ${this.child.exitCode}`);
        return pattern.exec(this.stdout) ?? undefined;
      },
      {
        timeoutMs,
        what: `${what} (stdout: ${JSON.stringify(this.stdout)}, stderr: ${JSON.stringify(this.stderr)})`,
      },
    );
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
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

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

async function runUntil(signal: 'SIGINT' | 'SIGTERM', waitForBatch: boolean): Promise<void> {
  const demo = new Demo();
  try {
    const server = await demo.line(/ in (\/\S+)\n/, 'the server line');
    const dir = server[1] as string;
    const pid = Number((await demo.line(/pid (\d+)/, 'the postmaster pid'))[1]);
    assert.ok(existsSync(dir), 'the temp dir exists while the demo runs');
    await demo.line(/^\S+ resync +connected\b/m, 'a Resync line');
    if (waitForBatch) {
      await demo.line(/^\S+ batch +public\.(orders|stations) ×\d+/m, 'a Batch line');
      await demo.line(/↳ /, 'an explanation');
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
    assert.doesNotMatch(demo.stderr, /\n\s+at .+:\d+:\d+/, 'no stack trace');
  } finally {
    demo.kill();
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

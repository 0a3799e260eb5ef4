// A `pgnudge` child process of the built CLI for live tests and benches: its output so far, waits on
// it with deadlines, and a SIGKILL when the test ends; or a run to its end. Also the connection URL or
// key=value string it is given.

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import type { ClusterInfo, Role } from './cluster.js';
import { repoPath } from './repo.js';
import { waitFor, withDeadline } from './wait.js';

/** A postgres:// URL for `role` on `database`, over verified TLS when the harness owns the certificates. */
export function connectionUrl(info: ClusterInfo, database: string, role: Role): string {
  const url = new URL(`postgres://${info.host}:${info.port}/${encodeURIComponent(database)}`);
  url.username = role.user;
  url.password = role.password;
  if (info.caFile) {
    url.searchParams.set('sslmode', 'verify-full');
    url.searchParams.set('sslrootcert', info.caFile);
  }
  return url.toString();
}

/**
 * The same as a libpq key=value string, every value quoted; `extra` adds or replaces keywords (a wrong
 * password, another dbname, sslmode).
 */
export function connectionKeyValue(
  info: ClusterInfo,
  database: string,
  role: Role,
  extra: Record<string, string> = {},
): string {
  const fields: Record<string, string> = {
    host: info.host,
    port: String(info.port),
    user: role.user,
    password: role.password,
    dbname: database,
    ...(info.caFile ? { sslmode: 'verify-full', sslrootcert: info.caFile } : { sslmode: 'prefer' }),
    ...extra,
  };
  return Object.entries(fields)
    .map(([key, value]) => `${key}='${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`)
    .join(' ');
}

/** How a CLI run ended, with everything it printed. */
export interface CliOutcome {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `pgnudge ...args` to its end; past `timeoutMs` it is killed and the run fails. */
export async function runCli(
  args: string[],
  options: { home: string; env?: Record<string, string>; timeoutMs?: number },
): Promise<CliOutcome> {
  const cli = new CliProcess(args, options);
  try {
    const end = await withDeadline(cli.exited, options.timeoutMs ?? 60_000, `pgnudge ${args.join(' ')}`);
    return { ...end, stdout: cli.stdout, stderr: cli.stderr };
  } catch (error) {
    cli.kill('SIGKILL');
    throw error;
  }
}

/** `node build/src/cli/main.js ...args` with only PATH, `home` and `env` as its environment. */
export class CliProcess {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    args: string[],
    options: { home: string; env?: Record<string, string>; after?: (fn: () => void) => void },
  ) {
    // Nothing of the runner's environment leaks in (no PG* variables); PATH only for good manners.
    this.child = spawn(process.execPath, [repoPath('build/src/cli/main.js'), ...args], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: options.home, ...options.env },
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
    options.after?.(() => this.kill('SIGKILL'));
  }

  /** Sends `signal` unless the process already ended. */
  kill(signal: NodeJS.Signals): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }

  /** Complete stdout lines so far. */
  lines(): string[] {
    const lines = this.stdout.split('\n');
    lines.pop();
    return lines;
  }

  /** Waits for a complete stdout line at or after index `from` matching `predicate`. */
  line(predicate: (line: string) => boolean, what: string, from = 0, timeoutMs = 20_000): Promise<string> {
    return waitFor(
      () => {
        if (this.child.exitCode !== null) {
          throw new Error(`pgnudge exited with ${this.child.exitCode}; stderr: ${this.stderr}`);
        }
        return this.lines().slice(from).find(predicate);
      },
      { timeoutMs, what: `${what} on stdout (stdout so far: ${JSON.stringify(this.stdout)})` },
    );
  }

  /** Waits until stdout matches `pattern` anywhere and returns the match. */
  match(pattern: RegExp, what: string, timeoutMs = 20_000): Promise<RegExpExecArray> {
    return waitFor(
      () => {
        if (this.child.exitCode !== null) throw new Error(`pgnudge exited with ${this.child.exitCode}`);
        return pattern.exec(this.stdout) ?? undefined;
      },
      {
        timeoutMs,
        what: `${what} (stdout: ${JSON.stringify(this.stdout)}, stderr: ${JSON.stringify(this.stderr)})`,
      },
    );
  }

  /** The exit status, within a deadline; being killed by a signal is a failure. */
  async status(timeoutMs = 15_000): Promise<number | null> {
    const { code, signal } = await withDeadline(this.exited, timeoutMs, 'pgnudge to exit');
    assert.equal(signal, null, `pgnudge was killed by ${signal}; stderr: ${this.stderr}`);
    return code;
  }

  /** Waits until stderr matches `pattern`; fails early if the process exits. */
  async logged(pattern: RegExp, what: string, timeoutMs = 20_000): Promise<void> {
    await waitFor(
      () => {
        if (this.child.exitCode !== null) throw new Error(`exited ${this.child.exitCode}: ${this.stderr}`);
        return pattern.test(this.stderr);
      },
      { timeoutMs, what: `${what} (stderr: ${this.stderr.slice(-600)})` },
    );
  }
}

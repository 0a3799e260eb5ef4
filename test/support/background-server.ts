// A server process the harness owns besides PostgreSQL (a broker, a pooler): started in a temp dir as the
// unprivileged server user when we are root, probed until it answers, killed (SIGKILL) and restarted on the
// same command line (so the same port), and always removed — on stop(), at exit and on signals.
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, chownSync, constants, lstatSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installExitHook, serverUser, strictLive } from './cluster.js';
import { waitFor, withDeadline } from './wait.js';

/** The last this many characters of a server's output are kept for failure messages. */
const LOG_LIMIT = 64 * 1024;

export interface BackgroundServerOptions {
  /** Short name for messages and the temp dir (`redis`, `nats`, `pgbouncer`). */
  name: string;
  command: string;
  /** Built once the temp dir exists (config files go there); the same arguments on every restart. */
  args: (root: string) => string[];
  /** Writes files the server needs into `root` before the first start; they are handed to the server user. */
  prepare?: (root: string) => void | Promise<void>;
  /** Resolves true once the server answers its own protocol; errors and false mean "not yet". */
  ready: () => Promise<boolean>;
  /** Deadline for each (re)start to answer. */
  readyTimeoutMs?: number;
}

/** A running server. `stop()` is idempotent and synchronous so that it can run in an exit handler. */
export class BackgroundServer {
  readonly name: string;
  /** Temp dir holding the server's files; removed by stop(). */
  readonly root: string;
  readonly #command: string;
  readonly #args: string[];
  readonly #ready: () => Promise<boolean>;
  readonly #readyTimeoutMs: number;
  #child: ChildProcess | null = null;
  #output = '';
  #stopped = false;

  private constructor(options: BackgroundServerOptions, root: string, args: string[]) {
    this.name = options.name;
    this.root = root;
    this.#command = options.command;
    this.#args = args;
    this.#ready = options.ready;
    this.#readyTimeoutMs = options.readyTimeoutMs ?? 15_000;
  }

  static async start(options: BackgroundServerOptions): Promise<BackgroundServer> {
    const root = mkdtempSync(join(tmpdir(), `pgnudge-${options.name}-`));
    let server: BackgroundServer | undefined;
    bootingRoots.add(root);
    try {
      await options.prepare?.(root);
      handToServerUser(root);
      server = new BackgroundServer(options, root, options.args(root));
      liveServers.add(server);
      bootingRoots.delete(root);
      await server.#launch();
      return server;
    } catch (error) {
      bootingRoots.delete(root);
      if (server) server.stop();
      else rmSync(root, { recursive: true, force: true });
      throw error;
    }
  }

  /** The process id of the running server, or null while it is down. */
  get pid(): number | null {
    return this.#child?.pid ?? null;
  }

  /** Everything the server printed so far (the last 64 kB), for failure messages. */
  log(): string {
    return this.#output;
  }

  async #launch(): Promise<void> {
    const owner = serverOwner();
    const child = spawn(this.#command, this.#args, {
      cwd: this.root,
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
    });
    const keep = (chunk: Buffer) => {
      this.#output = (this.#output + chunk.toString('utf8')).slice(-LOG_LIMIT);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    let exited: string | null = null;
    child.once('exit', (code, signal) => {
      exited = `exited with ${signal ?? code}`;
    });
    child.once('error', (error) => {
      exited = `could not start: ${error.message}`;
    });
    this.#child = child;
    await waitFor(
      async () => {
        if (exited) throw new Error(`${this.name} ${exited}`);
        return this.#ready();
      },
      { timeoutMs: this.#readyTimeoutMs, intervalMs: 20, what: `${this.name} to answer` },
    ).catch((error: Error) => {
      throw new Error(`${error.message}\n${this.name} output:\n${this.#output.slice(-2000)}`);
    });
  }

  /** SIGKILL, as a crash would: no goodbye to clients. Resolves once the process has exited. */
  async kill(): Promise<void> {
    const child = this.#child;
    this.#child = null;
    if (child === null || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
    child.kill('SIGKILL');
    await withDeadline(exited, 5000, `${this.name} (pid ${child.pid}) to exit after SIGKILL`);
  }

  /** Kills the server if it runs and starts it again with the same command line (same port). */
  async restart(): Promise<void> {
    if (this.#stopped) throw new Error(`${this.name} was stopped; start a new one`);
    await this.kill();
    await this.#launch();
  }

  /** Kills the server and removes its files. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    liveServers.delete(this);
    const child = this.#child;
    this.#child = null;
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Gives `path` and everything under it to the server user when we are root (a no-op otherwise). */
export function handToServerUser(path: string): void {
  const owner = serverOwner();
  if (owner === null) return;
  const give = (entry: string) => {
    chownSync(entry, owner.uid, owner.gid);
    if (lstatSync(entry).isDirectory()) for (const name of readdirSync(entry)) give(join(entry, name));
  };
  give(path);
}

let owner: ReturnType<typeof serverUser> | undefined;

/** serverUser(), asked once: it runs `id`, which costs a process per call. */
function serverOwner(): ReturnType<typeof serverUser> {
  owner ??= serverUser();
  return owner;
}

/**
 * Returns a skip reason when the executable `path` (from Debian package `pkg`) is missing; throws
 * instead under CI=true, where .ci/run installs it and a missing one is a failure.
 */
export function binaryUnavailable(path: string, pkg: string): string | undefined {
  try {
    accessSync(path, constants.X_OK);
    return undefined;
  } catch {
    const why = `${path} is not installed (Debian package ${pkg})`;
    if (strictLive) throw new Error(why);
    return why;
  }
}

const liveServers = new Set<BackgroundServer>();
const bootingRoots = new Set<string>();

// The cluster module turns SIGINT/SIGTERM/SIGHUP into process.exit, which runs this.
installExitHook();
process.on('exit', () => {
  for (const server of [...liveServers]) server.stop();
  for (const root of bootingRoots) rmSync(root, { recursive: true, force: true });
});

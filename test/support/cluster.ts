// Throwaway PostgreSQL clusters for live tests: initdb in a temp dir, TLS, SCRAM/md5/cleartext roles,
// wal_level=logical. Runs the server as an unprivileged user when we are root, and always cleans up.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { repoPath } from './repo.js';
import { waitFor } from './wait.js';

/** Re-exported: live tests that use the harness also build paths to the CLI and fixtures. */
export { repoPath };

export const SUPPORTED_MAJORS = [15, 16, 17, 18] as const;
export type Major = (typeof SUPPORTED_MAJORS)[number];

/** A login the tests can use, with what its hba lines allow. */
export interface Role {
  user: string;
  password: string;
}

/** Everything a live test needs to reach a cluster; serializable so the runner can hand it to test files. */
export interface ClusterInfo {
  major: number;
  version: string;
  host: string;
  port: number;
  /** Directory holding the Unix socket, or null for an external server. */
  socketDir: string | null;
  /** PEM file of the CA that signed the server certificate, or null for an external server. */
  caFile: string | null;
  /** Output plugins this server can load. */
  plugins: string[];
  superuser: Role;
  roles: {
    /** LOGIN REPLICATION, SCRAM-SHA-256 password. */
    replication: Role;
    /** LOGIN REPLICATION whose hba method is `password` (cleartext). */
    cleartext: Role;
    /** LOGIN REPLICATION whose hba method is `md5` (password stored as md5). */
    md5: Role;
    /** LOGIN without REPLICATION (SCRAM). */
    login: Role;
    /** LOGIN REPLICATION (SCRAM) rejected by a `hostnossl` line: reachable only over TLS. */
    tlsOnly: Role;
  };
  /**
   * LOGIN REPLICATION without a password whose hba method is `cert`: it authenticates with the client
   * certificate (CN = user, signed by the run's CA) and nothing else. Null for an external server.
   */
  certRole: { user: string; certFile: string; keyFile: string } | null;
  /** True when the cluster is someone else's server (PGNUDGE_TEST_DSN): hba-dependent tests skip. */
  external: boolean;
  walLevel: string;
}

/** Where a major's server binaries live, and its package library dir (to list plugins). */
export function serverInstall(major: number): { bin: string; lib: string } | null {
  if (major === 15) {
    const bin = '/usr/lib/postgresql/15/bin';
    return existsSync(join(bin, 'postgres')) ? { bin, lib: '/usr/lib/postgresql/15/lib' } : null;
  }
  const native = repoPath('node_modules', `pg${major}`, 'native');
  return existsSync(join(native, 'bin', 'postgres'))
    ? { bin: join(native, 'bin'), lib: join(native, 'lib', 'postgresql') }
    : null;
}

/** The majors to test: PGNUDGE_TEST_PG (e.g. "15,17") or every supported one. */
export function selectedMajors(env: NodeJS.ProcessEnv = process.env): number[] {
  const raw = env.PGNUDGE_TEST_PG?.trim();
  if (!raw) return [...SUPPORTED_MAJORS];
  return raw.split(',').map((part) => {
    const major = Number(part.trim());
    if (!SUPPORTED_MAJORS.includes(major as Major)) {
      throw new Error(`PGNUDGE_TEST_PG: ${part} is not a supported major (${SUPPORTED_MAJORS.join(', ')})`);
    }
    return major;
  });
}

const PLUGINS = ['wal2json', 'test_decoding', 'pgoutput'];

function listPlugins(lib: string): string[] {
  const files = new Set(existsSync(lib) ? readdirSync(lib) : []);
  return PLUGINS.filter((plugin) => files.has(`${plugin}.so`));
}

/**
 * Server processes run as this user when we are root (PostgreSQL and PgBouncer refuse to run as root);
 * null when we are not root. The other servers the harness boots (test/support) run as it too.
 */
export function serverUser(): { uid: number; gid: number; name: string } | null {
  if (process.getuid?.() !== 0) return null;
  for (const name of ['postgres', 'pgnudge']) {
    const found = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    if (found.status === 0) {
      const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
      return { uid: Number(found.stdout.trim()), gid: Number(gid.stdout.trim()), name };
    }
  }
  const created = spawnSync('useradd', [
    '--system',
    '--no-create-home',
    '--shell',
    '/usr/sbin/nologin',
    'pgnudge',
  ]);
  if (created.status !== 0)
    throw new Error(`running as root and could not create a user for PostgreSQL: ${created.stderr}`);
  return serverUser();
}

/** The server user must be able to run the binaries; a clone under /root is not reachable, so copy. */
function reachableBin(bin: string, lib: string, owner: { uid: number; gid: number } | null, scratch: string) {
  if (owner === null) return { bin, lib };
  const probe = spawnSync(join(bin, 'postgres'), ['--version'], { uid: owner.uid, gid: owner.gid });
  if (probe.status === 0) return { bin, lib };
  const native = dirname(bin);
  const copy = join(scratch, 'install');
  cpSync(native, copy, { recursive: true, verbatimSymlinks: true });
  spawnSync('chmod', ['-R', 'a+rX', copy]);
  return { bin: join(copy, 'bin'), lib: join(copy, 'lib', 'postgresql') };
}

/** Whether this server build has the configuration parameter `name` (settings come and go across minors). */
function knowsSetting(bin: string, name: string, spawnAs: { uid?: number; gid?: number }): boolean {
  const described = spawnSync(join(bin, 'postgres'), ['--describe-config'], { encoding: 'utf8', ...spawnAs });
  return described.status === 0 && described.stdout.split('\n').some((line) => line.startsWith(`${name}\t`));
}

/** A TCP port on 127.0.0.1 that nothing listens on right now (bound by us, then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject()));
    });
  });
}

function run(command: string, args: string[], options: { uid?: number; gid?: number; cwd?: string } = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} failed (${result.status}): ${result.stderr || result.stdout}`,
    );
  }
  return result.stdout;
}

/** A self-signed CA (`<dir>/<name>.crt` and `.key`); tests use a second one as a CA that signed nothing. */
export function makeCa(dir: string, name = 'ca', subject = 'pgnudge test CA'): { cert: string; key: string } {
  const ca = { key: join(dir, `${name}.key`), cert: join(dir, `${name}.crt`) };
  run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-sha256',
    '-days',
    '2',
    '-subj',
    `/CN=${subject}`,
    '-keyout',
    ca.key,
    '-out',
    ca.cert,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return ca;
}

/** The role that logs in with a client certificate only (hba method `cert`). */
const CERT_ROLE = 'nudge_cert';

/** A key and a certificate for `cn` signed by `ca`, with the given extended key usage. */
export function signedCertificate(
  dir: string,
  name: string,
  cn: string,
  ca: { cert: string; key: string },
  extensions: string,
): { cert: string; key: string } {
  const files = {
    key: join(dir, `${name}.key`),
    csr: join(dir, `${name}.csr`),
    cert: join(dir, `${name}.crt`),
  };
  const ext = join(dir, `${name}.ext`);
  run('openssl', [
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    `/CN=${cn}`,
    '-keyout',
    files.key,
    '-out',
    files.csr,
  ]);
  writeFileSync(ext, extensions);
  run('openssl', [
    'x509',
    '-req',
    '-sha256',
    '-days',
    '2',
    '-in',
    files.csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-out',
    files.cert,
    '-extfile',
    ext,
  ]);
  // libpq (and pgnudge) refuse a private key that others can read.
  chmodSync(files.key, 0o600);
  return { cert: files.cert, key: files.key };
}

function makeCertificates(dir: string): {
  caFile: string;
  certFile: string;
  keyFile: string;
  client: { cert: string; key: string };
} {
  const ca = makeCa(dir);
  const server = signedCertificate(
    dir,
    'server',
    'localhost',
    ca,
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
  );
  const client = signedCertificate(
    dir,
    'client',
    CERT_ROLE,
    ca,
    'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n',
  );
  return { caFile: ca.cert, certFile: server.cert, keyFile: server.key, client };
}

const ROLE_NAMES = {
  replication: 'nudge_repl',
  cleartext: 'nudge_cleartext',
  md5: 'nudge_md5',
  login: 'nudge_login',
  tlsOnly: 'nudge_tls_only',
} as const;

/**
 * The harness's own access (its SQL runs as the superuser over TCP and the socket), then `lines`: a test
 * that needs other access rules (only one line for a role, no `replication` line) replaces the default ones.
 */
function hbaLines(lines?: readonly string[]): string {
  if (lines !== undefined) {
    return [
      'local     all          postgres                       trust',
      'host      all          postgres       127.0.0.1/32   scram-sha-256',
      ...lines,
      '',
    ].join('\n');
  }
  const r = ROLE_NAMES;
  return [
    '# TYPE    DATABASE     USER            ADDRESS        METHOD',
    'local     all          postgres                       trust',
    'local     replication  all                            scram-sha-256',
    'local     all          all                            scram-sha-256',
    `hostnossl all          ${r.tlsOnly}   127.0.0.1/32   reject`,
    `hostnossl replication  ${r.tlsOnly}   127.0.0.1/32   reject`,
    `hostssl   all          ${CERT_ROLE}     127.0.0.1/32   cert`,
    `hostssl   replication  ${CERT_ROLE}     127.0.0.1/32   cert`,
    `host      all          ${CERT_ROLE}     127.0.0.1/32   reject`,
    `host      replication  ${CERT_ROLE}     127.0.0.1/32   reject`,
    `host      all          ${r.cleartext} 127.0.0.1/32   password`,
    `host      replication  ${r.cleartext} 127.0.0.1/32   password`,
    `host      all          ${r.md5}       127.0.0.1/32   md5`,
    `host      replication  ${r.md5}       127.0.0.1/32   md5`,
    'host      all          all            127.0.0.1/32   scram-sha-256',
    'host      replication  all            127.0.0.1/32   scram-sha-256',
    '',
  ].join('\n');
}

export interface StartOptions {
  major: number;
  walLevel?: 'logical' | 'replica';
  /** Extra postgresql.conf lines. */
  settings?: Record<string, string | number>;
  /** Print the `live cluster:` line (the runner does; per-test clusters stay quiet unless asked). */
  announce?: boolean;
  /**
   * pg_hba.conf lines replacing the default ones (which give every role the `host all` and
   * `host replication` lines its method needs); the superuser's own lines always come first.
   */
  hba?: readonly string[];
}

/** A running throwaway cluster. `stop()` is idempotent and also runs on process exit. */
export class Cluster {
  readonly info: ClusterInfo;
  readonly dataDir: string;
  readonly #root: string;
  readonly #bin: string;
  readonly #owner: { uid: number; gid: number } | null;
  #child: ChildProcess | null = null;
  #stopped = false;

  private constructor(
    info: ClusterInfo,
    root: string,
    bin: string,
    owner: { uid: number; gid: number } | null,
  ) {
    this.info = info;
    this.#root = root;
    this.dataDir = join(root, 'data');
    this.#bin = bin;
    this.#owner = owner;
  }

  static async start(options: StartOptions): Promise<Cluster> {
    const install = serverInstall(options.major);
    if (install === null)
      throw new Error(`PostgreSQL ${options.major} is not installed (see README: Testing)`);
    const root = mkdtempSync(join(tmpdir(), `pgnudge-pg${options.major}-`));
    // Until the cluster is registered, a signal must still remove what initdb wrote.
    bootingRoots.add(root);
    const owner = serverUser();
    try {
      const { bin, lib } = reachableBin(install.bin, install.lib, owner, root);
      if (owner) chownSync(root, owner.uid, owner.gid);
      const spawnAs = owner ? { uid: owner.uid, gid: owner.gid } : {};
      const superPassword = randomBytes(12).toString('hex');
      const pwfile = join(root, 'pwfile');
      writeFileSync(pwfile, `${superPassword}\n`, { mode: 0o600 });
      if (owner) chownSync(pwfile, owner.uid, owner.gid);
      const dataDir = join(root, 'data');
      run(
        join(bin, 'initdb'),
        [
          '-D',
          dataDir,
          '-U',
          'postgres',
          '--pwfile',
          pwfile,
          '-A',
          'scram-sha-256',
          '--no-sync',
          '-E',
          'UTF8',
          '--locale=C',
        ],
        spawnAs,
      );
      rmSync(pwfile);

      const certs = makeCertificates(root);
      for (const file of [certs.certFile, certs.keyFile, certs.caFile])
        if (owner) chownSync(file, owner.uid, owner.gid);
      const port = await freePort();
      const conf: Record<string, string | number> = {
        listen_addresses: "'127.0.0.1'",
        port,
        unix_socket_directories: `'${root}'`,
        wal_level: options.walLevel ?? 'logical',
        max_replication_slots: 80,
        max_wal_senders: 80,
        max_connections: 240,
        wal_sender_timeout: "'5s'",
        fsync: 'off',
        full_page_writes: 'off',
        shared_buffers: "'32MB'",
        ssl: 'on',
        ssl_cert_file: `'${certs.certFile}'`,
        ssl_key_file: `'${certs.keyFile}'`,
        ssl_ca_file: `'${certs.caFile}'`,
        password_encryption: "'scram-sha-256'",
        log_min_messages: 'warning',
        log_connections: 'off',
        ...options.settings,
      };
      // Newer minors (e.g. 15.20) trust only the output plugins named here for REPLICATION roles; the
      // tests exercise wal2json, so the harness trusts it wherever the setting exists.
      if (knowsSetting(bin, 'output_plugin_libraries', spawnAs)) {
        conf.output_plugin_libraries = "'pgoutput, test_decoding, wal2json'";
      }
      appendFileSync(
        join(dataDir, 'postgresql.conf'),
        `\n# pgnudge test harness\n${Object.entries(conf)
          .map(([k, v]) => `${k} = ${v}`)
          .join('\n')}\n`,
      );
      writeFileSync(join(dataDir, 'pg_hba.conf'), hbaLines(options.hba));

      const roles = Object.fromEntries(
        Object.entries(ROLE_NAMES).map(([key, user]) => [
          key,
          { user, password: randomBytes(9).toString('hex') },
        ]),
      ) as ClusterInfo['roles'];
      const info: ClusterInfo = {
        major: options.major,
        version: '',
        host: '127.0.0.1',
        port,
        socketDir: root,
        caFile: certs.caFile,
        plugins: listPlugins(lib),
        superuser: { user: 'postgres', password: superPassword },
        roles,
        certRole: { user: CERT_ROLE, certFile: certs.client.cert, keyFile: certs.client.key },
        external: false,
        walLevel: String(conf.wal_level),
      };
      const cluster = new Cluster(info, root, bin, owner);
      liveClusters.add(cluster);
      bootingRoots.delete(root);
      await cluster.#launch();
      await cluster.#provision();
      if (options.announce) {
        console.log(
          `live cluster: PostgreSQL ${info.version} at ${info.host}:${info.port} (plugins: ${info.plugins.join(', ')})`,
        );
      }
      return cluster;
    } catch (error) {
      bootingRoots.delete(root);
      rmSync(root, { recursive: true, force: true });
      throw error;
    }
  }

  /**
   * Boots a server on a data directory prepared elsewhere (`<root>/data`, e.g. a standby's copy of a
   * primary), described by `info`. From here on it is owned like a started cluster: `stop()`, the exit
   * hook and signals remove `root`. The binaries are the major's own (copied into `root` when the server
   * user cannot reach them), so the server outlives the cluster it was copied from.
   */
  static async adopt(options: { info: ClusterInfo; root: string }): Promise<Cluster> {
    const install = serverInstall(options.info.major);
    if (install === null)
      throw new Error(`PostgreSQL ${options.info.major} is not installed (see README: Testing)`);
    const owner = serverUser();
    bootingRoots.add(options.root);
    let cluster: Cluster;
    try {
      const { bin } = reachableBin(install.bin, install.lib, owner, options.root);
      cluster = new Cluster(options.info, options.root, bin, owner);
    } catch (error) {
      bootingRoots.delete(options.root);
      rmSync(options.root, { recursive: true, force: true });
      throw error;
    }
    liveClusters.add(cluster);
    bootingRoots.delete(options.root);
    try {
      await cluster.#launch();
    } catch (error) {
      cluster.stop();
      throw error;
    }
    return cluster;
  }

  async #launch(): Promise<void> {
    const log = join(this.#root, 'server.log');
    const spawnAs = this.#owner ? { uid: this.#owner.uid, gid: this.#owner.gid } : {};
    writeFileSync(log, '');
    if (this.#owner) chownSync(log, this.#owner.uid, this.#owner.gid);
    const child = spawn(join(this.#bin, 'postgres'), ['-D', this.dataDir], {
      ...spawnAs,
      // libpq inside the server (a standby's walreceiver) reads ~/.postgresql: not the test runner's.
      env: { ...process.env, HOME: this.#root },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      // stop() removes the directory while the server may still be writing its last lines; those are
      // lost on purpose rather than crashing the process with ENOENT.
      try {
        appendFileSync(log, chunk);
      } catch {}
    });
    this.#child = child;
    let exited: string | null = null;
    child.once('exit', (code, signal) => {
      exited = `exited with ${signal ?? code}`;
    });
    await waitFor(
      async () => {
        if (exited) throw new Error(`PostgreSQL ${exited}:\n${readFileSync(log, 'utf8').slice(-2000)}`);
        const client = this.client();
        try {
          await client.connect();
          const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
          this.info.version = rows[0]?.server_version.split(' ')[0] ?? '';
          return true;
        } finally {
          await client.end().catch(() => {});
        }
      },
      { timeoutMs: 30_000, what: `PostgreSQL ${this.info.major} to accept connections`, intervalMs: 50 },
    ).catch((error: Error) => {
      // waitFor wraps our early-exit error; surface the server log either way.
      throw new Error(`${error.message}\n${readFileSync(log, 'utf8').slice(-2000)}`);
    });
  }

  async #provision(): Promise<void> {
    const r = this.info.roles;
    const quote = (s: string) => `'${s.replaceAll("'", "''")}'`;
    await this.sql(`
      CREATE ROLE ${r.replication.user} LOGIN REPLICATION PASSWORD ${quote(r.replication.password)};
      CREATE ROLE ${r.cleartext.user} LOGIN REPLICATION PASSWORD ${quote(r.cleartext.password)};
      CREATE ROLE ${r.login.user} LOGIN PASSWORD ${quote(r.login.password)};
      CREATE ROLE ${r.tlsOnly.user} LOGIN REPLICATION PASSWORD ${quote(r.tlsOnly.password)};
      SET password_encryption = 'md5';
      CREATE ROLE ${r.md5.user} LOGIN REPLICATION PASSWORD ${quote(r.md5.password)};
      CREATE ROLE ${CERT_ROLE} LOGIN REPLICATION;
    `);
  }

  /** A `pg` client as the superuser over TCP (TLS not required for the harness's own SQL). */
  client(database = 'postgres'): pg.Client {
    return new pg.Client({
      host: this.info.host,
      port: this.info.port,
      user: this.info.superuser.user,
      password: this.info.superuser.password,
      database,
      connectionTimeoutMillis: 5000,
    });
  }

  /** Runs SQL as the superuser and returns the rows of the last statement. */
  async sql<Row extends Record<string, unknown> = Record<string, unknown>>(
    text: string,
    database = 'postgres',
  ): Promise<Row[]> {
    return runSql<Row>(this.info, text, database);
  }

  /**
   * Stops the server and starts it again on the same port. `immediate` (the default) is a crash: no
   * checkpoint, every session cut. `fast` is an orderly shutdown: sessions are ended and walsenders send
   * what is left and wait for their clients' replies, so it runs without blocking this process, whose
   * own feeds must keep answering. A fast stop that does not finish in time falls back to immediate and
   * throws once the server is back, since a client that holds up shutdown is a finding, not noise.
   */
  async restart(mode: 'immediate' | 'fast' = 'immediate'): Promise<void> {
    if (mode === 'immediate') {
      this.#kill();
      await this.#launch();
      return;
    }
    const stopped = await this.#stopAsync(mode, 30);
    if (!stopped) this.#kill();
    await this.#launch();
    if (!stopped)
      throw new Error(`a ${mode} shutdown of PostgreSQL ${this.info.major} took longer than 30 s`);
  }

  /** Stops the server as a crash would and leaves it down (files kept) until `resume()`. */
  halt(): void {
    this.#kill();
  }

  /** Starts a halted server again on the same port; resolves once it accepts connections. */
  resume(): Promise<void> {
    return this.#launch();
  }

  /** `pg_ctl stop -m <mode>` without blocking the event loop; true once the server has exited. */
  async #stopAsync(mode: 'fast', seconds: number): Promise<boolean> {
    const child = this.#child;
    if (child === null || child.exitCode !== null || child.signalCode !== null) {
      this.#child = null;
      return true;
    }
    const spawnAs = this.#owner ? { uid: this.#owner.uid, gid: this.#owner.gid } : {};
    const pgCtl = spawn(
      join(this.#bin, 'pg_ctl'),
      ['stop', '-D', this.dataDir, '-m', mode, '-w', '-t', String(seconds)],
      { ...spawnAs, stdio: 'ignore' },
    );
    const code = await new Promise<number | null>((resolveCode) => {
      pgCtl.once('exit', (exitCode) => resolveCode(exitCode));
      pgCtl.once('error', () => resolveCode(null));
    });
    if (code !== 0) return false;
    // pg_ctl returns once the pid file is gone; the postmaster process may still be reaping.
    if (child.exitCode === null && child.signalCode === null) {
      await new Promise<void>((resolveExit) => child.once('exit', () => resolveExit()));
    }
    this.#child = null;
    return true;
  }

  #kill(): void {
    const child = this.#child;
    this.#child = null;
    if (child === null || child.exitCode !== null) return;
    const spawnAs = this.#owner ? { uid: this.#owner.uid, gid: this.#owner.gid } : {};
    spawnSync(join(this.#bin, 'pg_ctl'), ['stop', '-D', this.dataDir, '-m', 'immediate', '-w', '-t', '20'], {
      ...spawnAs,
      stdio: 'ignore',
    });
    if (child.exitCode === null && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {}
    }
  }

  /** Stops the server and removes every file. Synchronous so it can run in an exit handler. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    liveClusters.delete(this);
    this.#kill();
    rmSync(this.#root, { recursive: true, force: true });
  }

  /** The server log so far (for failure messages). */
  log(): string {
    const file = join(this.#root, 'server.log');
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }
}

const liveClusters = new Set<Cluster>();
const bootingRoots = new Set<string>();
let exitHookInstalled = false;

/** Makes sure no postgres process or temp dir outlives this process, however it ends. */
export function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const stopAll = () => {
    for (const cluster of [...liveClusters]) cluster.stop();
    for (const root of bootingRoots) rmSync(root, { recursive: true, force: true });
  };
  process.on('exit', stopAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      stopAll();
      process.exit(130);
    });
  }
}
installExitHook();

/** A `pg` session as the superuser of any cluster (ours or external), connected; the caller ends it. */
export async function superuserClient(info: ClusterInfo, database = 'postgres'): Promise<pg.Client> {
  const client = new pg.Client({
    host: info.host,
    port: info.port,
    user: info.superuser.user,
    password: info.superuser.password,
    database,
    connectionTimeoutMillis: 5000,
    ssl: info.external ? externalSsl() : false,
  });
  await client.connect();
  return client;
}

/** Runs SQL as the superuser of any cluster (ours or external). */
export async function runSql<Row extends Record<string, unknown> = Record<string, unknown>>(
  info: ClusterInfo,
  text: string,
  database = 'postgres',
): Promise<Row[]> {
  const client = await superuserClient(info, database);
  try {
    const result = await client.query(text);
    const last = Array.isArray(result) ? result[result.length - 1] : result;
    return (last?.rows ?? []) as Row[];
  } finally {
    await client.end().catch(() => {});
  }
}

function externalSsl(): false | { rejectUnauthorized: false } {
  return process.env.PGNUDGE_TEST_DSN?.includes('sslmode=disable') ? false : { rejectUnauthorized: false };
}

/** A fresh database, dropped when `drop()` is called. Lets test files run in parallel without sharing writes. */
export async function scratchDatabase(
  info: ClusterInfo,
  prefix = 'scratch',
): Promise<{ name: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`.toLowerCase();
  await runSql(info, `CREATE DATABASE ${name}`);
  await runSql(info, `GRANT ALL ON DATABASE ${name} TO PUBLIC`, 'postgres');
  await runSql(info, 'GRANT ALL ON SCHEMA public TO PUBLIC', name);
  return {
    name,
    async drop() {
      await runSql(info, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    },
  };
}

/** Describes an external server from PGNUDGE_TEST_DSN; roles are created there if missing. */
async function externalCluster(dsn: string): Promise<ClusterInfo> {
  const url = new URL(dsn);
  const superuser = {
    user: decodeURIComponent(url.username || 'postgres'),
    password: decodeURIComponent(url.password),
  };
  const roles = Object.fromEntries(
    Object.entries(ROLE_NAMES).map(([key, user]) => [key, { user, password: `pgnudge_${user}_pw` }]),
  ) as ClusterInfo['roles'];
  const info: ClusterInfo = {
    major: 0,
    version: '',
    host: url.hostname || '127.0.0.1',
    port: Number(url.port || 5432),
    socketDir: null,
    caFile: null,
    plugins: [],
    superuser,
    roles,
    certRole: null,
    external: true,
    walLevel: '',
  };
  const [row] = await runSql<{ v: string; n: string; w: string }>(
    info,
    "SELECT current_setting('server_version') AS v, current_setting('server_version_num') AS n, current_setting('wal_level') AS w",
  );
  info.version = row?.v.split(' ')[0] ?? '';
  info.major = Math.floor(Number(row?.n) / 10000);
  info.walLevel = row?.w ?? '';
  info.plugins = ['test_decoding', 'pgoutput'];
  try {
    await runSql(
      info,
      "SELECT pg_drop_replication_slot(slot_name) FROM (SELECT slot_name FROM pg_create_logical_replication_slot('pgnudge_probe_w2j', 'wal2json', true)) s",
    );
    info.plugins.unshift('wal2json');
  } catch {}
  for (const [key, role] of Object.entries(roles)) {
    const repl = key === 'login' ? 'NOREPLICATION' : 'REPLICATION';
    await runSql(
      info,
      // A role left by an earlier run, or by another harness, gets this run's attributes and password.
      `DO $$ BEGIN CREATE ROLE ${role.user} LOGIN ${repl} PASSWORD '${role.password}'; EXCEPTION WHEN duplicate_object THEN ALTER ROLE ${role.user} LOGIN ${repl} PASSWORD '${role.password}'; END $$`,
    );
  }
  return info;
}

let perFileCluster: Promise<ClusterInfo> | null = null;

/**
 * The cluster a live test file runs against: the one the runner booted (PGNUDGE_TEST_CLUSTER), an
 * external server (PGNUDGE_TEST_DSN), or else one booted for this file alone (first selected major).
 */
export function liveCluster(): Promise<ClusterInfo> {
  const handedOver = process.env.PGNUDGE_TEST_CLUSTER;
  if (handedOver) return Promise.resolve(JSON.parse(handedOver) as ClusterInfo);
  const dsn = process.env.PGNUDGE_TEST_DSN;
  if (dsn) {
    perFileCluster ??= externalCluster(dsn);
    return perFileCluster;
  }
  perFileCluster ??= (async () => {
    const major = selectedMajors().find((m) => serverInstall(m) !== null);
    if (major === undefined)
      throw new Error('no PostgreSQL server is installed for live tests (see README: Testing)');
    const cluster = await Cluster.start({ major, announce: true });
    return cluster.info;
  })();
  return perFileCluster;
}

/** True when CI demands that a missing server or plugin fail instead of skip. */
export const strictLive = process.env.CI === 'true';

/**
 * Returns a skip reason when `plugin` is unavailable on this cluster; throws instead under CI=true,
 * where a missing plugin is a failure (the issue: "a suite that would be skipped ... is a failure").
 */
export function pluginUnavailable(info: ClusterInfo, plugin: string): string | undefined {
  if (info.plugins.includes(plugin)) return undefined;
  const expected = plugin !== 'wal2json' || info.major === 15;
  if (strictLive && expected) throw new Error(`plugin ${plugin} is missing on PostgreSQL ${info.version}`);
  return `${plugin} is not installed on PostgreSQL ${info.version}`;
}

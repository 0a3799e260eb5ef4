// A streaming hot standby of a running harness cluster, for feeds on a standby (logical decoding on a
// standby needs PostgreSQL 16+ and a primary at wal_level=logical; the copy itself works on 15 too).
//
// The embedded 16–18 packages ship no pg_basebackup, so the standby is an online base backup made by hand:
// pg_backup_start() on the live primary, a file copy of its data directory, pg_backup_stop() (whose label
// becomes backup_label), then the WAL written meanwhile. The primary keeps serving throughout, and nothing
// is left on it: no replication slot (the standby streams from the primary's pg_wal, which is fine for a
// test's lifetime), so stopping the standby leaves the primary as it was.
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  type Dirent,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type pg from 'pg';
import { handToServerUser } from './background-server.js';
import { Cluster, type ClusterInfo, freePort, installExitHook, runSql } from './cluster.js';
import { waitFor } from './wait.js';

/** Whose contents a base backup leaves out (pg_basebackup's list); the directories themselves are made. */
const EMPTIED = new Set([
  'pg_dynshmem',
  'pg_notify',
  'pg_serial',
  'pg_snapshots',
  'pg_stat_tmp',
  'pg_subtrans',
  // The primary's slots are not the standby's.
  'pg_replslot',
  // Copied after pg_backup_stop(), so that it holds all the WAL the backup needs.
  'pg_wal',
  'pg_wal/archive_status',
  'pg_wal/summaries',
]);

/** Top-level files a copy must not carry over: the running primary's, or another backup's. */
const LEFT_OUT = new Set([
  'postmaster.pid',
  'postmaster.opts',
  'backup_label',
  'tablespace_map',
  'backup_manifest',
  'standby.signal',
  'recovery.signal',
  'current_logfiles',
]);

export interface StandbyOptions {
  /** Extra postgresql.conf lines for the standby (after the primary's and the standby's own). */
  settings?: Record<string, string | number>;
}

/** A running hot standby. `stop()` is idempotent and also runs on exit and on signals. */
export class Standby {
  /** The standby as a cluster: sql(), client(), restart(), stop(), log() work as on the primary. */
  readonly cluster: Cluster;
  readonly primary: Cluster;
  /** The walreceiver's application_name: the standby's row in the primary's pg_stat_replication. */
  readonly applicationName: string;

  private constructor(cluster: Cluster, primary: Cluster, applicationName: string) {
    this.cluster = cluster;
    this.primary = primary;
    this.applicationName = applicationName;
  }

  /** Host, port, roles and CA of the standby (the roles and CA are the primary's). */
  get info(): ClusterInfo {
    return this.cluster.info;
  }

  static async start(primary: Cluster, options: StandbyOptions = {}): Promise<Standby> {
    const source = primary.info;
    const root = mkdtempSync(join(tmpdir(), `pgnudge-pg${source.major}-standby-`));
    // Until Cluster.adopt owns it, a signal must still remove what the copy wrote.
    copyingRoots.add(root);
    try {
      const dataDir = join(root, 'data');
      mkdirSync(dataDir, { mode: 0o700 });
      const tls = copyTlsFiles(await tlsFilesOf(source), root);
      const certRole = source.certRole && {
        user: source.certRole.user,
        certFile: copyInto(source.certRole.certFile, root),
        keyFile: copyInto(source.certRole.keyFile, root),
      };
      await baseBackup(primary, dataDir);

      const port = await freePort();
      const applicationName = `standby_${randomBytes(4).toString('hex')}`;
      const repl = source.roles.replication;
      const conninfo = [
        `host=${source.host}`,
        `port=${source.port}`,
        `user=${repl.user}`,
        `password=${repl.password}`,
        'dbname=postgres',
        tls.ca ? `sslmode=verify-full sslrootcert=${tls.ca}` : 'sslmode=prefer',
        `application_name=${applicationName}`,
      ].join(' ');
      const conf: Record<string, string | number> = {
        port,
        unix_socket_directories: `'${root}'`,
        ...(tls.cert ? { ssl_cert_file: `'${tls.cert}'`, ssl_key_file: `'${tls.key}'` } : {}),
        ...(tls.ca ? { ssl_ca_file: `'${tls.ca}'` } : {}),
        primary_conninfo: `'${conninfo.replaceAll("'", "''")}'`,
        hot_standby: 'on',
        hot_standby_feedback: 'on',
        // The default 5 s pause before reconnecting to a restarted primary would dominate tests of it.
        wal_retrieve_retry_interval: "'100ms'",
        ...options.settings,
      };
      writeFileSync(
        join(dataDir, 'postgresql.conf'),
        `\n# pgnudge test harness: standby of ${source.host}:${source.port}\n${Object.entries(conf)
          .map(([k, v]) => `${k} = ${v}`)
          .join('\n')}\n`,
        { flag: 'a' },
      );
      writeFileSync(join(dataDir, 'standby.signal'), '');
      handToServerUser(root);

      const info: ClusterInfo = {
        ...source,
        roles: { ...source.roles },
        port,
        socketDir: root,
        caFile: tls.ca ?? source.caFile,
        certRole,
      };
      copyingRoots.delete(root);
      const cluster = await Cluster.adopt({ info, root });
      return new Standby(cluster, primary, applicationName);
    } catch (error) {
      copyingRoots.delete(root);
      rmSync(root, { recursive: true, force: true });
      throw error;
    }
  }

  /** Waits until the standby has replayed `lsn` (default: the primary's current WAL position). */
  async waitForReplay(lsn?: string, timeoutMs = 20_000): Promise<void> {
    const target =
      lsn ?? (await this.primary.sql<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn'))[0]?.lsn;
    if (!target || !/^[0-9A-F]+\/[0-9A-F]+$/i.test(target)) throw new Error(`not an LSN: ${target}`);
    await waitFor(
      async () => {
        const [row] = await this.cluster.sql<{ ok: boolean }>(
          `SELECT coalesce(pg_last_wal_replay_lsn() >= '${target}'::pg_lsn, false) AS ok`,
        );
        return row?.ok === true;
      },
      { timeoutMs, intervalMs: 20, what: `the standby on port ${this.info.port} to replay ${target}` },
    );
  }

  /**
   * Awaits `work` while the primary logs a running-transactions record every `intervalMs`
   * (`pg_log_standby_snapshot()`, 16+): creating a logical slot on a standby waits for one, which an idle
   * primary writes only every 15 s, and only after other WAL.
   */
  async snapshotsWhile<T>(work: Promise<T>, options: { intervalMs?: number; timeoutMs?: number } = {}) {
    let settled = false;
    const tracked = work.finally(() => {
      settled = true;
    });
    // Should the wait below time out, `work` may still fail later: that is no unhandled rejection.
    tracked.catch(() => {});
    await waitFor(
      async () => {
        if (settled) return true;
        await this.primary.sql('SELECT pg_log_standby_snapshot()');
        return settled;
      },
      {
        timeoutMs: options.timeoutMs ?? 30_000,
        intervalMs: options.intervalMs ?? 100,
        what: 'the standby work that waits for a running-transactions record',
      },
    );
    return tracked;
  }

  /** Promotes the standby to a primary of its own (new timeline); resolves once it accepts writes. */
  async promote(): Promise<void> {
    const [row] = await this.cluster.sql<{ promoted: boolean }>('SELECT pg_promote(true, 30) AS promoted');
    if (row?.promoted !== true) throw new Error(`the standby did not promote within 30 s:\n${this.log()}`);
  }

  sql<Row extends Record<string, unknown> = Record<string, unknown>>(text: string, database = 'postgres') {
    return runSql<Row>(this.info, text, database);
  }

  client(database = 'postgres'): pg.Client {
    return this.cluster.client(database);
  }

  restart(mode: 'immediate' | 'fast' = 'immediate'): Promise<void> {
    return this.cluster.restart(mode);
  }

  stop(): void {
    this.cluster.stop();
  }

  log(): string {
    return this.cluster.log();
  }
}

const copyingRoots = new Set<string>();
// The cluster module turns SIGINT/SIGTERM/SIGHUP into process.exit, which runs this.
installExitHook();
process.on('exit', () => {
  for (const root of copyingRoots) rmSync(root, { recursive: true, force: true });
});

/** Starts a streaming hot standby of `primary`; see Standby. */
export function startStandby(primary: Cluster, options: StandbyOptions = {}): Promise<Standby> {
  return Standby.start(primary, options);
}

/** The primary's TLS files, asked of the server itself (the harness lays them out, but need not). */
async function tlsFilesOf(info: ClusterInfo): Promise<{ cert: string; key: string; ca: string } | null> {
  const [row] = await runSql<{ ssl: string; cert: string; key: string; ca: string; dir: string }>(
    info,
    "SELECT current_setting('ssl') AS ssl, current_setting('ssl_cert_file') AS cert, current_setting('ssl_key_file') AS key, current_setting('ssl_ca_file') AS ca, current_setting('data_directory') AS dir",
  );
  if (row?.ssl !== 'on') return null;
  const dataDir = row.dir;
  const absolute = (file: string) => (file.startsWith('/') ? file : join(dataDir, file));
  return { cert: absolute(row.cert), key: absolute(row.key), ca: row.ca ? absolute(row.ca) : '' };
}

function copyTlsFiles(
  files: { cert: string; key: string; ca: string } | null,
  root: string,
): { cert?: string; key?: string; ca?: string } {
  if (files === null) return {};
  const key = copyInto(files.key, root);
  chmodSync(key, 0o600);
  return { cert: copyInto(files.cert, root), key, ...(files.ca ? { ca: copyInto(files.ca, root) } : {}) };
}

function copyInto(file: string, dir: string): string {
  const target = join(dir, basename(file));
  if (!existsSync(target)) copyFileSync(file, target);
  return target;
}

/** An online base backup of `primary` into `dataDir`, with the WAL it needs and its backup_label. */
async function baseBackup(primary: Cluster, dataDir: string): Promise<void> {
  // pg_backup_start() and pg_backup_stop() must run in the same session.
  const session = primary.client();
  await session.connect();
  try {
    await session.query('SELECT pg_backup_start($1, true)', [`pgnudge standby ${basename(dataDir)}`]);
    let stopped: { labelfile: string; spcmapfile: string | null } | undefined;
    try {
      copyTree(primary.dataDir, dataDir, '');
    } finally {
      const { rows } = await session.query<{ labelfile: string; spcmapfile: string | null }>(
        'SELECT labelfile, spcmapfile FROM pg_backup_stop(false)',
      );
      stopped = rows[0];
    }
    if (!stopped) throw new Error('pg_backup_stop() returned no row');
    copyTree(join(primary.dataDir, 'pg_wal'), join(dataDir, 'pg_wal'), 'pg_wal');
    writeFileSync(join(dataDir, 'backup_label'), stopped.labelfile);
    if (stopped.spcmapfile) writeFileSync(join(dataDir, 'tablespace_map'), stopped.spcmapfile);
  } finally {
    await session.end().catch(() => {});
  }
}

/**
 * Copies the directory `from` (at `relative` inside the data directory) into `to`. Files the running
 * primary removes meanwhile (a dropped database, a recycled segment) are skipped: WAL replay from the
 * backup's start redoes whatever the copy saw half-done, as for any online backup.
 */
function copyTree(from: string, to: string, relative: string): void {
  let entries: Dirent[];
  try {
    entries = readdirSync(from, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  for (const entry of entries) {
    const path = relative ? `${relative}/${entry.name}` : entry.name;
    if (relative === '' && LEFT_OUT.has(entry.name)) continue;
    if (entry.name.startsWith('pgsql_tmp') || entry.name === 'pg_internal.init') continue;
    const source = join(from, entry.name);
    const target = join(to, entry.name);
    if (entry.isDirectory()) {
      mkdirSync(target, { recursive: true, mode: 0o700 });
      if (!EMPTIED.has(path)) copyTree(source, target, path);
    } else if (entry.isFile()) {
      try {
        copyFileSync(source, target);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    } else {
      // pg_tblspc links to tablespaces outside the data directory, which this copy cannot share.
      throw new Error(`cannot copy ${path} into a standby: tablespaces are not supported by the harness`);
    }
  }
}

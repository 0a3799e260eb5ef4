// A throwaway PgBouncer in front of a cluster, as users put one in front of PostgreSQL: transaction pooling
// (by default), every database of the cluster, the cluster's password roles (SCRAM to clients, TLS with
// verify-full to the server), TLS offered to clients under a CA of its own, no Unix socket, loopback only,
// the superuser as admin (database `pgbouncer`).
import { copyFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { BackgroundServer } from './background-server.js';
import { type ClusterInfo, freePort } from './cluster.js';
import { serverTlsFiles } from './tls-files.js';

export const PGBOUNCER = '/usr/sbin/pgbouncer';

export type PoolMode = 'session' | 'transaction' | 'statement';

/**
 * The cluster as seen through PgBouncer: host, port and CA are PgBouncer's, roles the cluster's, so the
 * harness's helpers (settingsFor, runSql) work through it. No Unix socket and no certificate role.
 */
export interface PgbouncerInfo extends ClusterInfo {
  poolMode: PoolMode;
  /** The server PgBouncer forwards to. */
  backend: { host: string; port: number };
}

export interface PgbouncerOptions {
  poolMode?: PoolMode;
}

export class Pgbouncer {
  readonly info: PgbouncerInfo;
  readonly #server: BackgroundServer;

  private constructor(info: PgbouncerInfo, server: BackgroundServer) {
    this.info = info;
    this.#server = server;
  }

  static async start(cluster: ClusterInfo, options: PgbouncerOptions = {}): Promise<Pgbouncer> {
    const port = await freePort();
    const poolMode = options.poolMode ?? 'transaction';
    let caFile = '';
    const server = await BackgroundServer.start({
      name: 'pgbouncer',
      command: PGBOUNCER,
      prepare: (root) => {
        const tls = serverTlsFiles(root, 'pgbouncer');
        caFile = tls.caFile;
        const logins = [cluster.superuser, ...Object.values(cluster.roles)];
        writeFileSync(
          join(root, 'userlist.txt'),
          logins.map((role) => `${quoted(role.user)} ${quoted(role.password)}\n`).join(''),
          { mode: 0o600 },
        );
        // The cluster's CA sits in its own (private) directory; PgBouncer gets a copy.
        let serverTls = 'server_tls_sslmode = prefer';
        if (cluster.caFile !== null) {
          copyFileSync(cluster.caFile, join(root, 'cluster-ca.crt'));
          serverTls = `server_tls_sslmode = verify-full\nserver_tls_ca_file = ${join(root, 'cluster-ca.crt')}`;
        }
        writeFileSync(
          join(root, 'pgbouncer.ini'),
          [
            '[databases]',
            `* = host=${cluster.host} port=${cluster.port}`,
            '[pgbouncer]',
            'listen_addr = 127.0.0.1',
            `listen_port = ${port}`,
            // Empty: no Unix socket.
            'unix_socket_dir =',
            'auth_type = scram-sha-256',
            `auth_file = ${join(root, 'userlist.txt')}`,
            `pool_mode = ${poolMode}`,
            'max_client_conn = 200',
            'default_pool_size = 8',
            serverTls,
            'client_tls_sslmode = allow',
            `client_tls_cert_file = ${tls.certFile}`,
            `client_tls_key_file = ${tls.keyFile}`,
            'ignore_startup_parameters = extra_float_digits',
            // The superuser may use the admin console (database `pgbouncer`: SHOW POOLS, SHOW CLIENTS).
            `admin_users = ${cluster.superuser.user}`,
            // The default 15 s pause after a failed server login would outlast a cluster restart in a test.
            'server_login_retry = 1',
            'log_connections = 0',
            'log_disconnections = 0',
            'pidfile =',
            'logfile =',
            '',
          ].join('\n'),
        );
      },
      args: (root) => [join(root, 'pgbouncer.ini')],
      ready: () => answersSslRequest(port),
    });
    const info: PgbouncerInfo = {
      ...cluster,
      host: '127.0.0.1',
      port,
      socketDir: null,
      caFile,
      certRole: null,
      poolMode,
      backend: { host: cluster.host, port: cluster.port },
    };
    return new Pgbouncer(info, server);
  }

  /** SIGKILL: every client and server connection is cut. */
  kill(): Promise<void> {
    return this.#server.kill();
  }

  /** Kills PgBouncer if it runs and starts it again on the same port. */
  restart(): Promise<void> {
    return this.#server.restart();
  }

  stop(): void {
    this.#server.stop();
  }

  get pid(): number | null {
    return this.#server.pid;
  }

  /** The temp dir holding the server's files (removed by stop()). */
  get dir(): string {
    return this.#server.root;
  }

  log(): string {
    return this.#server.log();
  }
}

/** A userlist.txt field: double quotes doubled inside double quotes. */
function quoted(text: string): string {
  return `"${text.replaceAll('"', '""')}"`;
}

/** True once something on `port` answers an SSLRequest with 'S' or 'N', as PgBouncer does when ready. */
function answersSslRequest(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.setTimeout(2000, () => {
      socket.destroy();
      reject(new Error('no answer to SSLRequest'));
    });
    socket.once('error', reject);
    socket.once('connect', () => socket.write(Buffer.from([0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f])));
    socket.once('data', (chunk: Buffer) => {
      socket.destroy();
      resolve(chunk[0] === 0x53 || chunk[0] === 0x4e);
    });
  });
}

/** Starts PgBouncer in front of `cluster`; see Pgbouncer. */
export function startPgbouncer(cluster: ClusterInfo, options: PgbouncerOptions = {}): Promise<Pgbouncer> {
  return Pgbouncer.start(cluster, options);
}

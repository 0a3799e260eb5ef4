// How the contenders that are not pgnudge reach the server: the same role and the same transport that
// pgnudge uses (feedConnection: verified TLS, or plain TCP in the run's second pass), so no contender
// saves the handshake or the encryption the others pay for.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { Target } from './contender.js';

/** TLS options for `pg` and postgres.js: verify the server against the harness CA; false on plain TCP. */
export function tls(target: Target): ConnectionOptions | false {
  const { caFile } = target.info;
  if (target.transport === 'tcp') return false;
  return caFile ? { ca: readFileSync(caFile, 'utf8'), rejectUnauthorized: true } : false;
}

/** libpq's sslmode words for the target's transport (pg_recvlogical). */
export function libpqSsl(target: Target): string {
  const { caFile } = target.info;
  if (target.transport === 'tcp') return 'sslmode=disable';
  return caFile ? `sslmode=verify-full sslrootcert=${caFile}` : 'sslmode=prefer';
}

/** Host, port, database and the replication role's credentials. */
export function login(target: Target) {
  const role = target.info.roles.replication;
  return {
    host: target.info.host,
    port: target.info.port,
    database: target.database,
    user: role.user,
    password: role.password,
  };
}

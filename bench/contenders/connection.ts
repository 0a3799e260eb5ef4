// How the Node contenders that are not pgnudge reach the server: the same role and the same verified
// TLS that pgnudge uses (feedConnection), so no contender saves the handshake or the encryption.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { Target } from './contender.js';

/** TLS options for `pg` and postgres.js: verify the server against the harness CA. */
export function tls(target: Target): ConnectionOptions | false {
  const { caFile } = target.info;
  return caFile ? { ca: readFileSync(caFile, 'utf8'), rejectUnauthorized: true } : false;
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

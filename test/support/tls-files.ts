// TLS files for a server the harness boots besides PostgreSQL (Redis, PgBouncer): a fresh CA and a
// certificate for localhost and 127.0.0.1 that it signed, like the clusters' own.
import { makeCa, signedCertificate } from './cluster.js';

export interface TlsFiles {
  /** PEM of the CA that clients verify the server against. */
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** Writes `<name>-ca.crt/.key` and `<name>.crt/.key` into `dir`. */
export function serverTlsFiles(dir: string, name: string): TlsFiles {
  const ca = makeCa(dir, `${name}-ca`, `pgnudge test CA for ${name}`);
  const server = signedCertificate(
    dir,
    name,
    'localhost',
    ca,
    'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n',
  );
  return { caFile: ca.cert, certFile: server.cert, keyFile: server.key };
}

// The publications the pgoutput contenders read, made by the bench as superuser before a contender's run
// and dropped after it (pgnudge never creates one: contract R25). `full` publishes whole rows: the one
// postgres.js subscribes to and pgnudge-pgoutput reads, the same definition. `keyonly` has a column list
// of the key alone (PostgreSQL 15+), so the server sends one column per row; the bench tables have no
// primary key and the bench only inserts, so `(id)` is a valid list.
import type pg from 'pg';
import type { Contender, Target } from './contender.js';

export type PublicationKind = 'full' | 'keyonly';

export const PUBLICATIONS: Record<PublicationKind, string> = { full: 'bench_full', keyonly: 'bench_keyonly' };

export async function createPublication(
  admin: pg.Client,
  target: Target,
  kind: PublicationKind,
): Promise<void> {
  const tables = kind === 'full' ? target.tables : target.tables.map((table) => `${table} (id)`);
  await admin.query(`CREATE PUBLICATION ${PUBLICATIONS[kind]} FOR TABLE ${tables.join(', ')}`);
}

export async function dropPublication(admin: pg.Client, kind: PublicationKind): Promise<void> {
  await admin.query(`DROP PUBLICATION IF EXISTS ${PUBLICATIONS[kind]}`);
}

/** `make(name)`'s contender, with the publication of `kind` made before its run and dropped after. */
export function withPublication(kind: PublicationKind, make: (publication: string) => Contender): Contender {
  return {
    ...make(PUBLICATIONS[kind]),
    prepare: (admin, target) => createPublication(admin, target, kind),
    cleanup: (admin) => dropPublication(admin, kind),
  };
}

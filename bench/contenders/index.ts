// Every contender of the comparison, in the order the table lists them: one entry each. A run takes
// DEFAULT_CONTENDERS unless PGNUDGE_BENCH_CONTENDERS names others (any of CONTENDERS).
import type { Contender } from './contender.js';
import { notifyTrigger } from './notify-trigger.js';
import { pgLogicalReplication } from './pg-logical-replication.js';
import { pgRecvlogical } from './pg-recvlogical.js';
import { pgnudge, pgnudgeRaw } from './pgnudge.js';
import { polling } from './polling.js';
import { postgresjsSubscribe } from './postgresjs-subscribe.js';
import { withPublication } from './publication.js';

export const CONTENDERS: readonly Contender[] = [
  pgnudge('pgnudge-wal2json', 'wal2json'),
  pgnudge('pgnudge-test_decoding', 'test_decoding'),
  // RawFeed, on a second cluster at wal_level = replica (compare.bench.ts boots it when selected).
  pgnudgeRaw,
  // What paced reads trade (docs/benchmarks.md): the same feeds reading every arrival at once.
  pgnudge('pgnudge-wal2json-unpaced', 'wal2json', { readPacing: 0 }),
  pgnudge('pgnudge-test_decoding-unpaced', 'test_decoding', { readPacing: 0 }),
  // What row keys cost (docs/row-keys.md): the same feeds naming each row; run with PGNUDGE_BENCH_BULK_PK=1,
  // else the bulk table has no key and their events are table-level.
  pgnudge('pgnudge-wal2json-keys', 'wal2json', { keys: true }),
  pgnudge('pgnudge-test_decoding-keys', 'test_decoding', { keys: true }),
  // Direct TLS (PostgreSQL 17+, PGNUDGE_BENCH_PG=17): the only TLS Node reads through onread
  // (slab-reads.ts); the variants without it negotiate with an SSLRequest. Plain TCP is the same for both.
  pgnudge('pgnudge-test_decoding-direct', 'test_decoding', { sslnegotiation: 'direct' }),
  withPublication('full', (publication) =>
    pgnudge('pgnudge-pgoutput-direct', undefined, { publication, sslnegotiation: 'direct' }),
  ),
  // pgoutput through the publication postgres.js reads (whole rows), and through a key-only one.
  withPublication('full', (publication) => pgnudge('pgnudge-pgoutput', undefined, { publication })),
  withPublication('keyonly', (publication) =>
    pgnudge('pgnudge-pgoutput-keyonly', undefined, { publication }),
  ),
  // Row keys through the key-only publication (text values, only the key read): with PGNUDGE_BENCH_BULK_PK=1.
  withPublication('keyonly', (publication) =>
    pgnudge('pgnudge-pgoutput-keyonly-keys', undefined, { publication, keys: true }),
  ),
  postgresjsSubscribe,
  pgLogicalReplication,
  notifyTrigger,
  polling,
  pgRecvlogical('wal2json'),
  pgRecvlogical('test_decoding'),
];

/**
 * The contenders of a full run: every one but the unpaced, keys and direct variants, which answer
 * narrower questions (direct TLS also needs PostgreSQL 17+, and the full run's default is 15).
 */
export const DEFAULT_CONTENDERS: readonly Contender[] = CONTENDERS.filter(
  (contender) => !/-(unpaced|keys|direct)$/.test(contender.name),
);

export function contenderNamed(name: string): Contender {
  const found = CONTENDERS.find((contender) => contender.name === name);
  if (found === undefined) throw new Error(`no contender named ${name}`);
  return found;
}

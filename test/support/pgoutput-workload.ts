// The scripted workload behind the pgoutput golden bytes (scripts/capture-pgoutput.mjs) and the live
// decoder test: the schema and publications it needs, the steps it runs (on two sessions, so that
// streamed transactions can interleave), and, written by hand from the SQL, what each step commits.
// The expected decoder output for a publication follows from the effects (expectedChanges).
import type pg from 'pg';
import type { ChangeOp } from '../../src/decode/change.js';

/** The publications the setup creates; `keys` has an odd name on purpose (quoting). */
export const PUBLICATIONS = {
  all: 'pub_all',
  root: 'pub_root',
  keys: 'pub "keys", \'odd\'',
} as const;
export type PublicationKind = keyof typeof PUBLICATIONS;

/** Tables in the key-only publication (`FOR TABLE t (id)`). */
const KEY_ONLY_TABLES = new Set(['public.keyed', 'public.orders']);

const ODD_TABLE = '"Odd Schema"."Tab.le ✓ ""q"""';
/** The odd table's payload: schema and table unquoted (contract R13). */
export const ODD_PAYLOAD = 'Odd Schema.Tab.le ✓ "q"';

// A value pglz cannot shrink below the TOAST threshold, so it is stored out of line and an UPDATE
// that leaves it alone sends it as 'u' (unchanged TOAST).
const TOASTED = "(SELECT string_agg(md5(g::text || 'pgnudge'), '') FROM generate_series(1, 300) g)";

/** Rows per large transaction: well above logical_decoding_work_mem = 64kB, so it streams. */
export const LARGE = 500;

/** Runs before any slot exists. */
export const SETUP_SQL = `
  CREATE TABLE public.orders (id int PRIMARY KEY, note text);
  CREATE TABLE public.full_t (id int, note text);
  ALTER TABLE public.full_t REPLICA IDENTITY FULL;
  CREATE TABLE public.idx_t (id int NOT NULL, code text NOT NULL, note text);
  CREATE UNIQUE INDEX idx_t_code ON public.idx_t (code);
  ALTER TABLE public.idx_t REPLICA IDENTITY USING INDEX idx_t_code;
  CREATE TABLE public.nothing_t (id int, note text);
  ALTER TABLE public.nothing_t REPLICA IDENTITY NOTHING;
  CREATE SCHEMA "Odd Schema";
  CREATE TABLE ${ODD_TABLE} (id int PRIMARY KEY);
  CREATE TYPE public.mood AS ENUM ('sad', 'happy');
  CREATE TABLE public.moods (id int PRIMARY KEY, m public.mood);
  CREATE TABLE public.keyed (id int PRIMARY KEY, a text, b text);
  CREATE TABLE public.trunc_a (id int PRIMARY KEY);
  CREATE TABLE public.trunc_b (id int PRIMARY KEY);
  CREATE TABLE public.altered (id int PRIMARY KEY);
  CREATE TABLE public.renamed_a (id int PRIMARY KEY);
  CREATE TABLE public.toasty (id int PRIMARY KEY, n int, body text);
  ALTER TABLE public.toasty ALTER COLUMN body SET STORAGE EXTERNAL;
  CREATE TABLE public.big (id int PRIMARY KEY, pad text);
  CREATE TABLE public.big2 (id int PRIMARY KEY, pad text);
  CREATE TABLE public.parted (id int, region text, PRIMARY KEY (id, region)) PARTITION BY LIST (region);
  CREATE TABLE public.parted_eu PARTITION OF public.parted FOR VALUES IN ('eu');
  CREATE TABLE public.parted_us PARTITION OF public.parted FOR VALUES IN ('us') PARTITION BY RANGE (id);
  CREATE TABLE public.parted_us_low PARTITION OF public.parted_us FOR VALUES FROM (0) TO (1000);
  CREATE TABLE public.parted_us_high PARTITION OF public.parted_us FOR VALUES FROM (1000) TO (MAXVALUE);
  CREATE TABLE public.sentinel (id int PRIMARY KEY);
  CREATE PUBLICATION pub_all FOR ALL TABLES;
  CREATE PUBLICATION pub_root FOR ALL TABLES WITH (publish_via_partition_root = true);
  CREATE PUBLICATION "pub ""keys"", 'odd'" FOR TABLE public.keyed (id), public.orders (id);
  SELECT pg_replication_origin_create('upstream');
`;

/**
 * One committed effect of a step: `count` changes `op` to `table`. For a partition, `root` is the
 * partitioned table a publication with publish_via_partition_root reports it under; `only` limits an
 * effect to publications with (`root`) or without (`leaf`) that option.
 */
export interface Effect {
  readonly table: string;
  readonly op: ChangeOp;
  readonly count: number;
  readonly root?: string;
  readonly only?: 'leaf' | 'root';
}

/** A step: statements on session `a` or `b`, in order, and what they commit. */
export interface Step {
  readonly name: string;
  readonly actions: readonly (readonly ['a' | 'b', string])[];
  readonly effects: readonly Effect[];
  /** Uses PREPARE TRANSACTION (needs max_prepared_transactions > 0). */
  readonly twoPhase?: true;
}

const e = (table: string, op: ChangeOp, count: number, root?: string): Effect =>
  root === undefined ? { table, op, count } : { table, op, count, root };
// Short, repetitive rows: enough memory per change to stream, and fixtures that compress well.
const big = (table: string, from: number) =>
  `INSERT INTO ${table} SELECT g, 'p' FROM generate_series(${from}, ${from + LARGE - 1}) g`;

export const STEPS: readonly Step[] = [
  {
    name: 'insert, update, update of the key, delete (default identity)',
    actions: [
      ['a', "INSERT INTO public.orders VALUES (1, 'a'), (2, 'b'), (3, 'c'), (4, NULL)"],
      ['a', "UPDATE public.orders SET note = 'x' WHERE id = 1"],
      ['a', 'UPDATE public.orders SET id = 10 WHERE id = 2'],
      ['a', 'DELETE FROM public.orders WHERE id = 3'],
    ],
    effects: [
      e('public.orders', 'insert', 4),
      e('public.orders', 'update', 2),
      e('public.orders', 'delete', 1),
    ],
  },
  {
    name: 'REPLICA IDENTITY FULL',
    actions: [
      ['a', "INSERT INTO public.full_t VALUES (1, 'a'), (2, 'b')"],
      ['a', "UPDATE public.full_t SET note = 'z' WHERE id = 1"],
      ['a', 'DELETE FROM public.full_t WHERE id = 2'],
    ],
    effects: [
      e('public.full_t', 'insert', 2),
      e('public.full_t', 'update', 1),
      e('public.full_t', 'delete', 1),
    ],
  },
  {
    name: 'REPLICA IDENTITY USING INDEX, with an update of the key',
    actions: [
      ['a', "INSERT INTO public.idx_t VALUES (1, 'k1', 'a')"],
      ['a', "UPDATE public.idx_t SET note = 'n' WHERE id = 1"],
      ['a', "UPDATE public.idx_t SET code = 'k2' WHERE id = 1"],
      ['a', 'DELETE FROM public.idx_t WHERE id = 1'],
    ],
    effects: [e('public.idx_t', 'insert', 1), e('public.idx_t', 'update', 2), e('public.idx_t', 'delete', 1)],
  },
  {
    // UPDATE and DELETE fail on a published table without a replica identity: inserts only.
    name: 'REPLICA IDENTITY NOTHING',
    actions: [['a', "INSERT INTO public.nothing_t VALUES (1, 'a'), (2, 'b')"]],
    effects: [e('public.nothing_t', 'insert', 2)],
  },
  {
    name: 'an odd identifier',
    actions: [
      ['a', `INSERT INTO ${ODD_TABLE} VALUES (1)`],
      ['a', `UPDATE ${ODD_TABLE} SET id = 2`],
      ['a', `DELETE FROM ${ODD_TABLE}`],
    ],
    effects: [e(ODD_PAYLOAD, 'insert', 1), e(ODD_PAYLOAD, 'update', 1), e(ODD_PAYLOAD, 'delete', 1)],
  },
  {
    name: 'a user-defined type (a Type message before the Relation)',
    actions: [['a', "INSERT INTO public.moods VALUES (1, 'happy')"]],
    effects: [e('public.moods', 'insert', 1)],
  },
  {
    name: 'the key-only table, with an update of a column outside the column list',
    actions: [
      ['a', "INSERT INTO public.keyed VALUES (1, 'a', 'b'), (2, 'c', 'd')"],
      ['a', "UPDATE public.keyed SET a = 'changed' WHERE id = 1"],
      ['a', 'DELETE FROM public.keyed WHERE id = 2'],
    ],
    effects: [e('public.keyed', 'insert', 2), e('public.keyed', 'update', 1), e('public.keyed', 'delete', 1)],
  },
  {
    name: 'TRUNCATE of two tables in one command',
    actions: [
      ['a', 'INSERT INTO public.trunc_a VALUES (1)'],
      ['a', 'INSERT INTO public.trunc_b VALUES (1)'],
      ['a', 'TRUNCATE public.trunc_a, public.trunc_b'],
    ],
    effects: [
      e('public.trunc_a', 'insert', 1),
      e('public.trunc_b', 'insert', 1),
      e('public.trunc_a', 'truncate', 1),
      e('public.trunc_b', 'truncate', 1),
    ],
  },
  {
    name: 'ALTER TABLE between two inserts of one transaction (the Relation is sent again)',
    actions: [
      [
        'a',
        "BEGIN; INSERT INTO public.altered VALUES (1); ALTER TABLE public.altered ADD COLUMN extra text; INSERT INTO public.altered VALUES (2, 'e'); COMMIT",
      ],
    ],
    effects: [e('public.altered', 'insert', 2)],
  },
  {
    name: 'a rename: one OID, two names',
    actions: [
      ['a', 'INSERT INTO public.renamed_a VALUES (1)'],
      ['a', 'ALTER TABLE public.renamed_a RENAME TO renamed_b'],
      ['a', 'INSERT INTO public.renamed_b VALUES (2)'],
    ],
    effects: [e('public.renamed_a', 'insert', 1), e('public.renamed_b', 'insert', 1)],
  },
  {
    name: 'an unchanged TOASTed value (tuple kind u)',
    actions: [
      ['a', `INSERT INTO public.toasty VALUES (1, 0, ${TOASTED})`],
      ['a', 'UPDATE public.toasty SET n = 1 WHERE id = 1'],
    ],
    effects: [e('public.toasty', 'insert', 1), e('public.toasty', 'update', 1)],
  },
  {
    name: 'a transaction from a replication origin (an Origin message)',
    actions: [
      ['b', "SELECT pg_replication_origin_session_setup('upstream')"],
      [
        'b',
        "BEGIN; SELECT pg_replication_origin_xact_setup('0/10', now()); INSERT INTO public.orders VALUES (20, 'origin'); COMMIT",
      ],
      ['b', 'SELECT pg_replication_origin_session_reset()'],
    ],
    effects: [e('public.orders', 'insert', 1)],
  },
  {
    name: 'logical decoding messages, transactional and not',
    actions: [
      ['a', "SELECT pg_logical_emit_message(false, 'pgnudge', 'non-transactional')"],
      [
        'a',
        "BEGIN; SELECT pg_logical_emit_message(true, 'pgnudge', 'transactional'); INSERT INTO public.orders VALUES (21, 'm'); COMMIT",
      ],
    ],
    effects: [e('public.orders', 'insert', 1)],
  },
  {
    name: 'a two-level partitioned table, with a row moved between partitions',
    actions: [
      ['a', "INSERT INTO public.parted VALUES (1, 'eu'), (2, 'us'), (2000, 'us')"],
      ['a', "UPDATE public.parted SET id = 3 WHERE id = 1 AND region = 'eu'"],
      ['a', "UPDATE public.parted SET id = 1500 WHERE id = 2 AND region = 'us'"],
      ['a', 'DELETE FROM public.parted WHERE id = 2000'],
    ],
    effects: [
      e('public.parted_eu', 'insert', 1, 'public.parted'),
      e('public.parted_us_low', 'insert', 1, 'public.parted'),
      e('public.parted_us_high', 'insert', 1, 'public.parted'),
      e('public.parted_eu', 'update', 1, 'public.parted'),
      // A move between partitions is decoded as a delete from one and an insert into the other.
      e('public.parted_us_low', 'delete', 1, 'public.parted'),
      e('public.parted_us_high', 'insert', 1, 'public.parted'),
      e('public.parted_us_high', 'delete', 1, 'public.parted'),
    ],
  },
  {
    name: 'TRUNCATE of the partitioned table',
    actions: [['a', 'TRUNCATE public.parted']],
    // Each leaf is named once; through the root, the root once.
    effects: [
      { table: 'public.parted_eu', op: 'truncate', count: 1, only: 'leaf' },
      { table: 'public.parted_us_low', op: 'truncate', count: 1, only: 'leaf' },
      { table: 'public.parted_us_high', op: 'truncate', count: 1, only: 'leaf' },
      { table: 'public.parted', op: 'truncate', count: 1, only: 'root' },
    ],
  },
  {
    name: 'a streamed transaction: ALTER TABLE inside, a rolled-back and a released savepoint, a message',
    actions: [
      ['a', 'BEGIN'],
      ['a', big('public.big', 1)],
      ['a', 'ALTER TABLE public.big ADD COLUMN tag text'],
      ['a', big('public.big', 1 + LARGE)],
      ['a', 'SAVEPOINT s1'],
      ['a', "INSERT INTO public.orders VALUES (100, 'rolled back')"],
      ['a', big('public.big', 1 + 2 * LARGE)],
      ['a', 'ROLLBACK TO SAVEPOINT s1'],
      ['a', 'SAVEPOINT s2'],
      ['a', "INSERT INTO public.orders VALUES (101, 'released')"],
      ['a', 'RELEASE SAVEPOINT s2'],
      ['a', "SELECT pg_logical_emit_message(true, 'pgnudge', 'in a stream')"],
      ['a', 'COMMIT'],
    ],
    effects: [e('public.big', 'insert', 2 * LARGE), e('public.orders', 'insert', 1)],
  },
  {
    name: 'a streamed transaction that rolls back',
    actions: [
      ['a', 'BEGIN'],
      ['a', big('public.big', 10_001)],
      ['a', "INSERT INTO public.orders VALUES (200, 'aborted')"],
      ['a', 'ROLLBACK'],
    ],
    effects: [],
  },
  {
    name: 'two streamed transactions interleaved: one commits, one rolls back',
    actions: [
      ['a', 'BEGIN'],
      ['b', 'BEGIN'],
      ['a', big('public.big2', 20_001)],
      ['b', big('public.full_t', 30_001)],
      ['a', big('public.big2', 20_001 + LARGE)],
      ['b', big('public.full_t', 30_001 + LARGE)],
      ['b', 'ROLLBACK'],
      ['a', 'COMMIT'],
    ],
    effects: [e('public.big2', 'insert', 2 * LARGE)],
  },
  {
    name: 'PREPARE TRANSACTION, a commit in between, COMMIT PREPARED',
    twoPhase: true,
    actions: [
      ['a', "BEGIN; INSERT INTO public.orders VALUES (300, 'prepared'); PREPARE TRANSACTION 'p1'"],
      ['b', "INSERT INTO public.orders VALUES (301, 'between')"],
      ['b', "COMMIT PREPARED 'p1'"],
    ],
    effects: [e('public.orders', 'insert', 2)],
  },
  {
    name: 'PREPARE TRANSACTION, ROLLBACK PREPARED',
    twoPhase: true,
    actions: [
      ['a', "BEGIN; INSERT INTO public.orders VALUES (302, 'rolled back'); PREPARE TRANSACTION 'p2'"],
      ['a', "ROLLBACK PREPARED 'p2'"],
    ],
    effects: [],
  },
  {
    name: 'a large prepared transaction, committed',
    twoPhase: true,
    actions: [
      ['a', 'BEGIN'],
      ['a', big('public.big', 40_001)],
      ['a', "PREPARE TRANSACTION 'p3'"],
      ['b', "COMMIT PREPARED 'p3'"],
    ],
    effects: [e('public.big', 'insert', LARGE)],
  },
  {
    name: 'a large prepared transaction, rolled back',
    twoPhase: true,
    actions: [
      ['a', 'BEGIN'],
      ['a', big('public.big', 50_001)],
      ['a', "PREPARE TRANSACTION 'p4'"],
      ['b', "ROLLBACK PREPARED 'p4'"],
    ],
    effects: [],
  },
  {
    name: 'the sentinel: the last change of the workload',
    actions: [['a', 'INSERT INTO public.sentinel VALUES (1)']],
    effects: [e('public.sentinel', 'insert', 1)],
  },
];

/** Runs `steps` on two sessions of `database` (as the superuser: replication origins need it). */
export async function runSteps(connect: () => pg.Client, steps: readonly Step[] = STEPS): Promise<void> {
  const sessions = { a: connect(), b: connect() };
  await Promise.all([sessions.a.connect(), sessions.b.connect()]);
  try {
    for (const step of steps) {
      for (const [session, sql] of step.actions) {
        try {
          await sessions[session].query(sql);
        } catch (error) {
          throw new Error(`workload step "${step.name}" failed on ${sql}: ${(error as Error).message}`);
        }
      }
    }
  } finally {
    await Promise.all([sessions.a.end(), sessions.b.end()]);
  }
}

/** `schema.table` → op → count: what a decoder should report for a workload. */
export type Totals = Record<string, Partial<Record<ChangeOp, number>>>;

/**
 * What `steps` commit as seen through a publication: every table for `all`, partitions under their
 * root for `root` (publish_via_partition_root), only the key-only tables for `keys`.
 */
export function expectedChanges(kind: PublicationKind, steps: readonly Step[] = STEPS): Totals {
  const totals: Totals = {};
  for (const step of steps) {
    for (const effect of step.effects) {
      if (kind === 'keys' && !KEY_ONLY_TABLES.has(effect.table)) continue;
      if (effect.only !== undefined && effect.only !== (kind === 'root' ? 'root' : 'leaf')) continue;
      const table = kind === 'root' ? (effect.root ?? effect.table) : effect.table;
      addTotal(totals, table, effect.op, effect.count);
    }
  }
  return totals;
}

/** Adds `count` changes `op` of `table` to `totals`. */
export function addTotal(totals: Totals, table: string, op: ChangeOp, count: number): void {
  const ops = totals[table] ?? {};
  ops[op] = (ops[op] ?? 0) + count;
  totals[table] = ops;
}

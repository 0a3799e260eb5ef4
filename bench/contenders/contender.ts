// The common shape of a benchmark contender: something that connects to PostgreSQL, says when it is
// ready, and reports changes to the tables it watches — with row counts where it can count rows, or as
// bare wakeups where it can only tell that a table changed (a trigger's NOTIFY, a poll).
// `start` runs in a child process of its own (bench/support/contender-child.ts), so the CPU and memory
// measured for that process are the contender's alone.
import type pg from 'pg';
import type { ClusterInfo } from '../../test/support/cluster.js';

export type Plugin = 'wal2json' | 'test_decoding';

/** How every contender of a run reaches the server: verified TLS, or plain TCP (both on loopback). */
export type Transport = 'tls' | 'tcp';

/** What a contender connects to; serializable, handed to the child as JSON. */
export interface Target {
  info: ClusterInfo;
  database: string;
  /** Schema-qualified tables the bench writes to (every contender watches them all). */
  tables: string[];
  /** Debounce in ms for contenders that have one (pgnudge); others deliver as soon as they can. */
  debounceMs: number;
  /** application_name for contenders that open ordinary (non-replication) connections. */
  applicationName: string;
  /** TLS (verify-full, the harness CA) or plain TCP: every contender of a run uses the same. */
  transport: Transport;
}

/** Where a contender reports, in the child. */
export interface Sink {
  /** Connected and listening: a change committed from now on will be reported. */
  ready(): void;
  /** `count` row changes of `table` ("schema.table") have been accounted for. */
  rows(table: string, count: number): void;
  /** `table` changed; how many rows is unknown to this contender. */
  woke(table: string): void;
  /** The contender broke: the run ends with this error. */
  fail(error: unknown): void;
}

export interface Running {
  /** The process whose CPU and memory are the contender's, when it is not the child itself. */
  readonly pid?: number;
  close(): Promise<void>;
}

export interface Contender {
  readonly name: string;
  /** The output plugin the server must have, if any. */
  readonly plugin?: Plugin;
  /** True when it accounts for every row change; false when it only learns that a table changed. */
  readonly countsRows: boolean;
  /** True when it reads through a walsender (its server-side CPU is the walsender's). */
  readonly walsender: boolean;
  /** Set when it runs on a cluster of its own at this wal_level (RawFeed: `replica`). */
  readonly walLevel?: 'replica';
  /** Server-side objects it needs (publication, triggers), made by the bench as superuser. */
  prepare?(admin: pg.Client, target: Target): Promise<void>;
  /** Removes what prepare made. */
  cleanup?(admin: pg.Client, target: Target): Promise<void>;
  /** In the child: connect, call sink.ready(), then report changes until close(). */
  start(target: Target, sink: Sink): Promise<Running>;
}

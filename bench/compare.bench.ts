// pgnudge side by side with what users would pick instead, on the same work in the same run, and
// against the floor PostgreSQL itself sets (pg_recvlogical) — issues 7 and 20, method in
// docs/benchmarks.md. Boots its own PostgreSQL (15 by default: Debian's, with wal2json and
// pg_recvlogical), runs every contender in a child process of its own over verified TLS and over plain
// TCP, repetitions interleaved (rep 1 of every transport and contender, then rep 2, ...), prints one
// table of medians per transport, and writes bench/results/latest.json (`contenders`: TLS,
// `contenders_tcp`: plain TCP; each contender's medians with its raw repetitions beside them under
// `reps`). pgnudge-raw (RawFeed) runs on a second cluster of the same major at wal_level = replica,
// booted only when it is selected. Asserts nothing. Run: npm run bench compare
//   PGNUDGE_BENCH_PG=15            the major to boot (others lack wal2json/pg_recvlogical: those rows are null)
//   PGNUDGE_BENCH_REPS=5           repetitions per contender and transport (medians are reported)
//   PGNUDGE_BENCH_TRANSPORTS=tls,tcp  the transports, in this order
//   PGNUDGE_BENCH_ROWS=1000000     rows in the bulk transaction
//   PGNUDGE_BENCH_BULK_PK=1        give the bulk table a primary key, for the `-keys` variants (row keys);
//                                  off by default so figures compare with runs before row keys
//   PGNUDGE_BENCH_COMMITS=300      single-row commits per latency window: a cold one right after 20
//                                  warm-up commits, and a warm one (the p50/p99 figures) once
//   PGNUDGE_BENCH_WARM_AFTER=2000  commits have gone by since connecting, so that the JIT compiler
//                                  has finished with the consumer (0: the cold window only)
//   PGNUDGE_BENCH_POLL_COMMITS=30  the same for polling, whose every commit waits up to a second
//   PGNUDGE_BENCH_IDLE_S=10        idle window for idle CPU and the idle RSS baseline
//   PGNUDGE_BENCH_IDLE_SETTLE_S=3  wait after connecting before the idle window starts
//   PGNUDGE_BENCH_WRITER_PAIRS=10  interleaved writer windows alone / with each contender (0: no writer column)
//   PGNUDGE_BENCH_WRITER_S=2       one writer window
//   PGNUDGE_BENCH_FANOUT_WRITES=200  commits through the bridge to 50 consumers, per repetition
//   PGNUDGE_BENCH_CONTENDERS=a,b   only these contenders (names as in the table, including the
//                                  `-unpaced` and `-keys` variants left out by default; "fanout" for the bridge)
//   PGNUDGE_BENCH_CPU_PROF=<dir>   run the pgnudge children of the first repetition under node --cpu-prof
//   PGNUDGE_BENCH_OUT=<file>       where to write the JSON (default bench/results/latest.json)
// Quick dev run: PGNUDGE_BENCH_REPS=1 PGNUDGE_BENCH_ROWS=100000 PGNUDGE_BENCH_COMMITS=50
//   PGNUDGE_BENCH_IDLE_S=2 PGNUDGE_BENCH_WRITER_PAIRS=0 PGNUDGE_BENCH_POLL_COMMITS=5 npm run bench compare
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { Cluster, type ClusterInfo, scratchDatabase, serverInstall } from '../test/support/cluster.js';
import type { Contender, Target, Transport } from './contenders/contender.js';
import { CONTENDERS, DEFAULT_CONTENDERS } from './contenders/index.js';
import { recvlogicalBinary } from './contenders/pg-recvlogical.js';
import { runFanout } from './support/compare-fanout.js';
import { type ContenderFigures, FIGURE_KEYS, printTable, type Row } from './support/compare-table.js';
import { ContenderProcess } from './support/contender-process.js';
import {
  latencySummary,
  loadAverage,
  machineInfo,
  meanWithCi95,
  median,
  nowMs,
  peakRssMiB,
  pgClient,
  processCpuSeconds,
  processCpuSplit,
  readBytes,
  readSyscalls,
  resetPeakRss,
  rssMiB,
  totalCpuSeconds,
  totalKernelAndAll,
} from './support/measure.js';
import { writerThroughput } from './support/writer.js';

const env = (name: string, fallback: number) => Number(process.env[`PGNUDGE_BENCH_${name}`] ?? fallback);
const REPS = env('REPS', 5);
const ROWS = env('ROWS', 1_000_000);
const BULK_PK = env('BULK_PK', 0) === 1;
const COMMITS = env('COMMITS', 300);
const WARM_AFTER = env('WARM_AFTER', 2000);
const POLL_COMMITS = env('POLL_COMMITS', 30);
const IDLE_S = env('IDLE_S', 10);
const IDLE_SETTLE_S = env('IDLE_SETTLE_S', 3);
const WRITER_S = env('WRITER_S', 2);
const WRITER_PAIRS = env('WRITER_PAIRS', 10);
const TRANSPORTS = (process.env.PGNUDGE_BENCH_TRANSPORTS ?? 'tls,tcp')
  .split(',')
  .map((name) => name.trim()) as Transport[];
const FANOUT_WRITES = env('FANOUT_WRITES', 200);
const ONLY = process.env.PGNUDGE_BENCH_CONTENDERS?.split(',').map((name) => name.trim());
const PROFILE_DIR = process.env.PGNUDGE_BENCH_CPU_PROF;
const DEFAULT_DEBOUNCE_MS = 50;
const APPLICATION_NAME = 'pgnudge-bench-contender';

const PROBE = 'public.probe';
const BULK = 'public.bulk';
const WRITES = 'public.writes';
const TABLES = [PROBE, BULK, WRITES];
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** One repetition's figures for one contender; null where the metric does not apply. */
type Rep = Partial<Record<keyof ContenderFigures, number | null>>;

/** What the JSON says of a transport's connections. */
const TRANSPORT_NAMES: Record<Transport, string> = {
  tls: 'TCP 127.0.0.1, TLS verify-full, SCRAM-SHA-256 (every contender)',
  tcp: 'TCP 127.0.0.1 without TLS, SCRAM-SHA-256 (every contender)',
};

function pickMajor(): number {
  const asked = process.env.PGNUDGE_BENCH_PG;
  if (asked) return Number(asked);
  const found = [15, 17, 18, 16].find((major) => serverInstall(major) !== null);
  if (found === undefined) throw new Error('no PostgreSQL server is installed (see README: Testing)');
  return found;
}

/** Why `contender` cannot run on this server, or null. */
function unavailable(contender: Contender, info: ClusterInfo): string | null {
  if (contender.plugin && !info.plugins.includes(contender.plugin))
    return `${contender.plugin} is not installed on PostgreSQL ${info.version}`;
  if (contender.name.startsWith('pg_recvlogical') && recvlogicalBinary(info.major) === null)
    return `no pg_recvlogical for PostgreSQL ${info.major}`;
  return null;
}

/**
 * The server processes serving the contender: its walsenders and its tagged ordinary backends. A physical
 * walsender has no database: RawFeed's is found by the application_name it carries.
 */
async function serverProcesses(admin: pg.Client, database: string) {
  const { rows } = await admin.query<{ pid: number; backend_type: string }>(
    `SELECT pid, backend_type FROM pg_stat_activity
      WHERE (datname = $1 AND backend_type = 'walsender') OR application_name = $2`,
    [database, APPLICATION_NAME],
  );
  return {
    all: rows.map((row) => row.pid),
    walsenders: rows.filter((row) => row.backend_type === 'walsender').map((row) => row.pid),
  };
}

/**
 * Wakeup latency of single-row commits, one after another, each from just before its COMMIT to its
 * wakeup in the contender's child: `commits` samples after `warmup` commits (the cold window) and, if
 * `warmAfter` is past the cold window's end, `commits` more once `warmAfter` commits have gone by (the
 * warm window). A Node consumer's first thousand or so commits run while V8 compiles its hot path on
 * background threads, which on two cores delays wake-ups by milliseconds (docs/benchmarks.md, "The
 * cold tail"); the warm window is what a feed that has run for a while does.
 */
async function latency(
  proc: ContenderProcess,
  writer: pg.Client,
  window: { commits: number; warmup: number; warmAfter: number },
  name: string,
): Promise<{ cold: number[]; warm: number[] }> {
  const { commits, warmup } = window;
  const warmFrom = window.warmAfter > warmup + commits ? window.warmAfter : Number.POSITIVE_INFINITY;
  const cold: number[] = [];
  const warm: number[] = [];
  const last = Number.isFinite(warmFrom) ? warmFrom + commits : warmup + commits;
  for (let i = 0; i < last; i++) {
    await writer.query('BEGIN');
    await writer.query(`INSERT INTO ${PROBE} (id) VALUES ($1)`, [i]);
    const index = proc.wakes.length;
    const before = nowMs();
    await writer.query('COMMIT');
    await proc.until(() => proc.wakes.length > index, 30_000, `${name} to see commit ${i}`);
    const sample = proc.wakes[index]! - before;
    if (i >= warmFrom) warm.push(sample);
    else if (i >= warmup && i < warmup + commits) cold.push(sample);
  }
  return { cold, warm };
}

interface Session {
  info: ClusterInfo;
  database: string;
  admin: pg.Client;
  writer: pg.Client;
}

/** The target of every contender in a run on `transport`. */
function targetFor(session: Session, transport: Transport, debounceMs: number): Target {
  const { info, database } = session;
  return {
    info: { ...info, superuser: { user: info.superuser.user, password: '' } },
    database,
    tables: TABLES,
    debounceMs,
    applicationName: APPLICATION_NAME,
    transport,
  };
}

/** Runs `body` with `contender` started in its child (its server objects made first), then cleans up. */
async function withContender<T>(
  session: Session,
  contender: Contender,
  target: Target,
  execArgv: string[],
  body: (proc: ContenderProcess) => Promise<T>,
): Promise<T> {
  const { admin } = session;
  await contender.prepare?.(admin, target);
  try {
    const proc = await ContenderProcess.start(
      { contender: contender.name, target, probeTable: PROBE, bulkTable: BULK, bulkRows: ROWS },
      execArgv,
    );
    try {
      return await body(proc);
    } finally {
      await proc.close();
    }
  } finally {
    await contender.cleanup?.(admin, target);
    // A child that died leaves its permanent slot behind; the next contender must not pay for it.
    await admin.query(
      `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
        WHERE database = $1 AND NOT active`,
      [session.database],
    );
  }
}

/**
 * One repetition of one contender on one transport: connect, idle, latency, the bulk transaction.
 * With `latencyOnly`, just connect and latency (pgnudge's default debounce).
 */
async function runOnce(
  session: Session,
  contender: Contender,
  transport: Transport,
  options: { debounceMs: number; latencyOnly: boolean; profile: boolean },
): Promise<Rep> {
  const { admin, writer } = session;
  const rep: Rep = {};
  // The probe too: 2,300 rows per repetition would otherwise bring autovacuum into a latency window.
  await admin.query(`TRUNCATE ${PROBE}, ${BULK}, ${WRITES}`);
  const execArgv = options.profile
    ? [
        '--cpu-prof',
        `--cpu-prof-dir=${PROFILE_DIR}`,
        `--cpu-prof-name=${contender.name}-${transport}.cpuprofile`,
      ]
    : [];
  return withContender(
    session,
    contender,
    targetFor(session, transport, options.debounceMs),
    execArgv,
    async (proc) => {
      rep.connect_ms = proc.ready!.connectMs;
      const server = await serverProcesses(admin, session.database);
      let startupPeak = 0;
      let peakReset = false;
      if (!options.latencyOnly) {
        // A process that just connected still compiles and collects on background threads for a
        // moment; idle means after that.
        await sleep(IDLE_SETTLE_S * 1000);
        const client0 = processCpuSeconds(proc.pid);
        const server0 = totalCpuSeconds(server.all);
        await sleep(IDLE_S * 1000);
        rep.idle_cpu_pct = ((processCpuSeconds(proc.pid) - client0) / IDLE_S) * 100;
        rep.idle_server_cpu_pct = ((totalCpuSeconds(server.all) - server0) / IDLE_S) * 100;
        // The idle process is the baseline: what the latency and bulk phases add is the growth.
        rep.rss_baseline_mb = rssMiB(proc.pid);
        startupPeak = peakRssMiB(proc.pid);
        peakReset = resetPeakRss(proc.pid);
      }
      // Polling waits up to a second per commit, and the debounced runs 50 ms: they measure the cold
      // window only, which is all their figures need.
      const polls = contender.name === 'polling';
      const { cold, warm } = await latency(
        proc,
        writer,
        {
          commits: polls ? POLL_COMMITS : COMMITS,
          warmup: polls ? 1 : 20,
          warmAfter: polls || options.latencyOnly ? 0 : WARM_AFTER,
        },
        contender.name,
      );
      const coldLat = latencySummary(cold);
      const lat = warm.length > 0 ? latencySummary(warm) : coldLat;
      rep.latency_samples = warm.length > 0 ? warm.length : cold.length;
      Object.assign(rep, { latency_p50_ms: lat.p50, latency_p99_ms: lat.p99, latency_max_ms: lat.max });
      if (warm.length > 0) {
        Object.assign(rep, {
          latency_cold_p50_ms: coldLat.p50,
          latency_cold_p99_ms: coldLat.p99,
          latency_cold_max_ms: coldLat.max,
        });
      }
      if (options.latencyOnly) return rep;

      if (contender.countsRows) await proc.measureDrain();
      const client0 = processCpuSplit(proc.pid);
      const reads0 = readSyscalls(proc.pid);
      const bytes0 = readBytes(proc.pid);
      const walsender0 = totalKernelAndAll(server.walsenders);
      await writer.query(`INSERT INTO ${BULK} (id) SELECT g FROM generate_series(1, ${ROWS}) g`);
      const committed = nowMs();
      await proc.until(
        () => proc.bulkFirstAt !== undefined && (!contender.countsRows || proc.bulkDone !== undefined),
        600_000,
        `${contender.name} to account for the ${ROWS}-row transaction`,
      );
      const client1 = processCpuSplit(proc.pid);
      rep.client_cpu_s = client1.user + client1.kernel - client0.user - client0.kernel;
      rep.client_kernel_cpu_s = client1.kernel - client0.kernel;
      // libuv reads a socket with read(2), which /proc counts; libpq's recv(2) is not counted there.
      rep.client_read_syscalls = proc.external ? null : readSyscalls(proc.pid) - reads0;
      rep.bytes_per_row = proc.external ? null : (readBytes(proc.pid) - bytes0) / ROWS;
      const walsender1 = totalKernelAndAll(server.walsenders);
      rep.walsender_cpu_s = contender.walsender ? walsender1.all - walsender0.all : null;
      rep.walsender_kernel_cpu_s = contender.walsender ? walsender1.kernel - walsender0.kernel : null;
      const peak = peakRssMiB(proc.pid);
      rep.peak_rss_mb = Math.max(startupPeak, peak);
      rep.rss_growth_mb = peakReset ? peak - rep.rss_baseline_mb! : null;
      rep.event_loop_delay_p99_ms = proc.bulkDone?.eventLoopDelayP99Ms ?? null;
      rep.bulk_first_wake_s = (proc.bulkFirstAt! - committed) / 1000;
      rep.bulk_drain_s = proc.bulkDone ? (proc.bulkDone.at - committed) / 1000 : null;
      if (proc.bulkDone && proc.bulkDone.counted !== ROWS)
        throw new Error(`${contender.name} counted ${proc.bulkDone.counted} rows, expected ${ROWS}`);
      return rep;
    },
  );
}

/** One pair of writer windows: alone, then with `contender` attached. Commits per second of each. */
interface WriterPair {
  alone: number;
  attached: number;
}

/**
 * What each contender costs a writer: WRITER_PAIRS rounds, each a window alone and a window with the
 * contender attached for every contender in turn, so a busier stretch of the machine lands on both
 * sides of a pair. The overhead is the mean of the pairs' relative losses, with its 95 % interval.
 */
async function writerOverhead(
  sessionOf: (contender: Contender) => Session,
  contenders: readonly Contender[],
  transport: Transport,
): Promise<Map<string, WriterPair[]>> {
  const pairs = new Map<string, WriterPair[]>(contenders.map((contender) => [contender.name, []]));
  for (let round = 0; round < WRITER_PAIRS; round++) {
    for (const contender of contenders) {
      const session = sessionOf(contender);
      const { info, database } = session;
      const alone = await writerThroughput(info, database, WRITES, WRITER_S);
      const attached = await withContender(session, contender, targetFor(session, transport, 0), [], () =>
        writerThroughput(info, database, WRITES, WRITER_S),
      );
      pairs.get(contender.name)!.push({ alone, attached });
      console.log(
        `writer pair ${round + 1}/${WRITER_PAIRS} ${contender.name}: ${alone.toFixed(0)} alone, ${attached.toFixed(0)} attached commits/s`,
      );
    }
  }
  return pairs;
}

function medianOf(reps: Rep[], key: keyof ContenderFigures): number | null {
  const values = reps.map((rep) => rep[key]).filter((value): value is number => typeof value === 'number');
  return values.length === 0 ? null : median(values);
}

/** A cluster of the bench at `walLevel`, its database with the bench's tables, an admin and a writer. */
async function openSession(walLevel: 'logical' | 'replica'): Promise<Session & { close(): Promise<void> }> {
  // PostgreSQL's default replication timeout instead of the test harness's 5 s: a contender that falls
  // behind on the bulk transaction should be measured, not cut off.
  const cluster = await Cluster.start({
    major: pickMajor(),
    walLevel,
    settings: { wal_sender_timeout: "'60s'" },
  });
  const db = await scratchDatabase(cluster.info, 'bench_compare');
  const admin = pgClient(cluster.info, db.name);
  const writer = pgClient(cluster.info, db.name);
  await admin.connect();
  await writer.connect();
  for (const table of TABLES) {
    const id = table === BULK && BULK_PK ? 'id bigint PRIMARY KEY' : 'id bigint';
    await admin.query(
      `CREATE TABLE ${table} (${id}, updated_at timestamptz NOT NULL DEFAULT now());
       GRANT SELECT ON ${table} TO PUBLIC`,
    );
    // Polling's status quo indexes updated_at. The bulk table goes without, so that its transaction's
    // WAL is the rows alone, which is what every decoding contender has to read (the poll of it is a
    // sequential scan once a second instead).
    if (table !== BULK) await admin.query(`CREATE INDEX ON ${table} (updated_at)`);
  }
  return {
    info: cluster.info,
    database: db.name,
    admin,
    writer,
    async close() {
      await writer.end();
      await admin.end();
      await db.drop();
      cluster.stop();
    },
  };
}

async function main(): Promise<void> {
  const loadAtStart = loadAverage();
  const started = nowMs();
  const session = await openSession('logical');
  let replica: Awaited<ReturnType<typeof openSession>> | undefined;
  try {
    const { info } = session;
    const selected = ONLY ? CONTENDERS.filter((c) => ONLY.includes(c.name)) : DEFAULT_CONTENDERS;
    if (selected.some((c) => c.walLevel === 'replica')) replica = await openSession('replica');
    const sessionOf = (contender: Contender): Session =>
      contender.walLevel === 'replica' ? replica! : session;
    type Runs = { full: Rep[]; debounced: Rep[] };
    const reps = new Map<Transport, Map<string, Runs>>();
    const skipped = new Map<Transport, Map<string, string>>();
    for (const transport of TRANSPORTS) {
      reps.set(transport, new Map());
      skipped.set(transport, new Map());
      for (const contender of selected) {
        const reason = unavailable(contender, info);
        if (reason) skipped.get(transport)!.set(contender.name, reason);
        else reps.get(transport)!.set(contender.name, { full: [], debounced: [] });
      }
    }
    for (let rep = 0; rep < REPS; rep++) {
      // Interleaved, so that a busier stretch of the machine does not land on one contender only.
      for (const transport of TRANSPORTS) {
        for (const contender of selected) {
          const runs = reps.get(transport)!.get(contender.name);
          if (runs === undefined) continue;
          const profile = PROFILE_DIR !== undefined && rep === 0 && contender.name.startsWith('pgnudge');
          if (profile) mkdirSync(PROFILE_DIR!, { recursive: true });
          const label = `rep ${rep + 1}/${REPS} ${transport} ${contender.name}`;
          try {
            const full = await runOnce(sessionOf(contender), contender, transport, {
              debounceMs: 0,
              latencyOnly: false,
              profile,
            });
            runs.full.push(full);
            console.log(`${label}: ${JSON.stringify(full, round)}`);
            if (contender.name.startsWith('pgnudge')) {
              const debounced = await runOnce(sessionOf(contender), contender, transport, {
                debounceMs: DEFAULT_DEBOUNCE_MS,
                latencyOnly: true,
                profile: false,
              });
              runs.debounced.push(debounced);
              console.log(`${label} debounce ${DEFAULT_DEBOUNCE_MS}: ${JSON.stringify(debounced, round)}`);
            }
          } catch (error) {
            // One broken contender must not cost the whole run: it reports null with the reason.
            console.error(`${label} failed: ${(error as Error)?.stack ?? error}`);
            skipped
              .get(transport)!
              .set(contender.name, `failed: ${String((error as Error)?.message ?? error).slice(0, 300)}`);
            reps.get(transport)!.delete(contender.name);
          }
        }
      }
    }
    // The writer's loss hardly depends on the consumer's transport: measured on the first one only.
    const writerTransport = TRANSPORTS[0]!;
    const writerPairs =
      WRITER_PAIRS > 0
        ? await writerOverhead(
            sessionOf,
            selected.filter((c) => reps.get(writerTransport)!.has(c.name)),
            writerTransport,
          )
        : new Map<string, WriterPair[]>();

    const tables: Record<string, Record<string, unknown>> = {};
    for (const transport of TRANSPORTS) {
      const rows: Row[] = [];
      const entries: Record<string, unknown> = {};
      for (const contender of selected) {
        const runs = reps.get(transport)!.get(contender.name);
        const figures = Object.fromEntries(
          FIGURE_KEYS.map((key) => [key, runs ? medianOf(runs.full, key) : null]),
        ) as ContenderFigures;
        if (runs && runs.debounced.length > 0) {
          figures.latency_default_debounce_p50_ms = medianOf(runs.debounced, 'latency_p50_ms');
          figures.latency_default_debounce_p99_ms = medianOf(runs.debounced, 'latency_p99_ms');
        }
        const pairs = transport === writerTransport ? writerPairs.get(contender.name) : undefined;
        if (pairs !== undefined && pairs.length > 0) {
          const loss = meanWithCi95(pairs.map((pair) => ((pair.alone - pair.attached) / pair.alone) * 100));
          figures.writer_overhead_pct = loss.mean;
          figures.writer_overhead_ci95_pct = Number.isNaN(loss.ci95) ? null : loss.ci95;
        }
        const unavailableReason = skipped.get(transport)!.get(contender.name) ?? null;
        rows.push({
          name: contender.name,
          figures,
          countsRows: contender.countsRows,
          unavailable: unavailableReason,
        });
        entries[contender.name] = {
          ...figures,
          ...(unavailableReason ? { unavailable: unavailableReason } : {}),
          reps: runs?.full ?? [],
          ...(runs && runs.debounced.length > 0 ? { reps_default_debounce: runs.debounced } : {}),
          ...(pairs && pairs.length > 0 ? { writer_pairs: pairs } : {}),
        };
      }
      if (transport === 'tls' && (!ONLY || ONLY.includes('fanout'))) {
        const fanout = await runFanout(info, session.database, REPS, FANOUT_WRITES);
        rows.push(fanout);
        entries[fanout.name] = fanout.figures;
      }
      printTable(rows, {
        postgres: info.version,
        transport: TRANSPORT_NAMES[transport],
        rows: ROWS,
        reps: REPS,
        commits: COMMITS,
        warmAfter: WARM_AFTER > 20 + COMMITS ? WARM_AFTER : 0,
        pollCommits: POLL_COMMITS,
        writerPairs: WRITER_PAIRS,
      });
      tables[transport === 'tls' ? 'contenders' : 'contenders_tcp'] = entries;
    }
    const out = process.env.PGNUDGE_BENCH_OUT ?? join(root, 'bench', 'results', 'latest.json');
    mkdirSync(dirname(out), { recursive: true });
    const result = {
      machine: machineInfo(info.version, loadAtStart),
      settings: {
        reps: REPS,
        bulk_rows: ROWS,
        bulk_primary_key: BULK_PK,
        latency_commits: COMMITS,
        latency_warm_after_commits: WARM_AFTER,
        polling_latency_commits: POLL_COMMITS,
        idle_s: IDLE_S,
        idle_settle_s: IDLE_SETTLE_S,
        writer_s: WRITER_S,
        writer_pairs: WRITER_PAIRS,
        writer_transport: WRITER_PAIRS > 0 ? writerTransport : null,
        fanout_consumers: 50,
        fanout_writes: FANOUT_WRITES,
        transports: Object.fromEntries(
          TRANSPORTS.map((transport) => [transport, TRANSPORT_NAMES[transport]]),
        ),
        duration_s: Math.round((nowMs() - started) / 1000),
      },
      ...tables,
    };
    writeFileSync(out, `${JSON.stringify(result, round, 2)}\n`);
    console.log(`\nwrote ${out} (${result.settings.duration_s} s)`);
  } finally {
    await replica?.close();
    await session.close();
  }
}

/** JSON replacer: figures to 3 decimals, enough for milliseconds and seconds alike. */
function round(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isInteger(value) ? Math.round(value * 1000) / 1000 : value;
}

await main();

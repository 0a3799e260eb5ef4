// pgnudge side by side with what users would pick instead, on the same work in the same run, and
// against the floor PostgreSQL itself sets (pg_recvlogical) — issue 7, method in docs/benchmarks.md.
// Boots its own PostgreSQL (15 by default: Debian's, with wal2json and pg_recvlogical), runs every
// contender in a child process of its own, repetitions interleaved, and prints one table of medians;
// writes bench/results/latest.json. Asserts nothing. Run: npm run bench compare
//   PGNUDGE_BENCH_PG=15            the major to boot (others lack wal2json/pg_recvlogical: those rows are null)
//   PGNUDGE_BENCH_REPS=3           repetitions per contender (medians are reported)
//   PGNUDGE_BENCH_ROWS=1000000     rows in the bulk transaction
//   PGNUDGE_BENCH_COMMITS=300      single-row commits per latency run (after 20 warm-up commits)
//   PGNUDGE_BENCH_POLL_COMMITS=30  the same for polling, whose every commit waits up to a second
//   PGNUDGE_BENCH_IDLE_S=10        idle window for idle CPU
//   PGNUDGE_BENCH_WRITER_S=5       writer window, with and without the contender
//   PGNUDGE_BENCH_FANOUT_WRITES=200  commits through the bridge to 50 consumers, per repetition
//   PGNUDGE_BENCH_CONTENDERS=a,b   only these contenders (names as in the table; "fanout" for the bridge)
//   PGNUDGE_BENCH_CPU_PROF=<dir>   run the pgnudge children of the first repetition under node --cpu-prof
//   PGNUDGE_BENCH_OUT=<file>       where to write the JSON (default bench/results/latest.json)
// Quick dev run: PGNUDGE_BENCH_REPS=1 PGNUDGE_BENCH_ROWS=100000 PGNUDGE_BENCH_COMMITS=50
//   PGNUDGE_BENCH_IDLE_S=2 PGNUDGE_BENCH_WRITER_S=1 PGNUDGE_BENCH_POLL_COMMITS=5 npm run bench compare
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { Cluster, type ClusterInfo, scratchDatabase, serverInstall } from '../test/support/cluster.js';
import type { Contender, Target } from './contenders/contender.js';
import { CONTENDERS } from './contenders/index.js';
import { recvlogicalBinary } from './contenders/pg-recvlogical.js';
import { runFanout } from './support/compare-fanout.js';
import { type ContenderFigures, FIGURE_KEYS, printTable, type Row } from './support/compare-table.js';
import { ContenderProcess } from './support/contender-process.js';
import {
  latencySummary,
  loadAverage,
  machineInfo,
  median,
  nowMs,
  peakRssMiB,
  pgClient,
  processCpuSeconds,
  totalCpuSeconds,
} from './support/measure.js';
import { writerThroughput } from './support/writer.js';

const env = (name: string, fallback: number) => Number(process.env[`PGNUDGE_BENCH_${name}`] ?? fallback);
const REPS = env('REPS', 3);
const ROWS = env('ROWS', 1_000_000);
const COMMITS = env('COMMITS', 300);
const POLL_COMMITS = env('POLL_COMMITS', 30);
const IDLE_S = env('IDLE_S', 10);
const WRITER_S = env('WRITER_S', 5);
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

/** The server processes serving the contender: its walsenders and its tagged ordinary backends. */
async function serverProcesses(admin: pg.Client, database: string) {
  const { rows } = await admin.query<{ pid: number; backend_type: string }>(
    `SELECT pid, backend_type FROM pg_stat_activity
      WHERE datname = $1 AND (backend_type = 'walsender' OR application_name = $2)`,
    [database, APPLICATION_NAME],
  );
  return {
    all: rows.map((row) => row.pid),
    walsenders: rows.filter((row) => row.backend_type === 'walsender').map((row) => row.pid),
  };
}

async function latency(
  proc: ContenderProcess,
  writer: pg.Client,
  commits: number,
  warmup: number,
  name: string,
): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < warmup + commits; i++) {
    await writer.query('BEGIN');
    await writer.query(`INSERT INTO ${PROBE} (id) VALUES ($1)`, [i]);
    const index = proc.wakes.length;
    const before = nowMs();
    await writer.query('COMMIT');
    await proc.until(() => proc.wakes.length > index, 30_000, `${name} to see commit ${i}`);
    if (i >= warmup) samples.push(proc.wakes[index]! - before);
  }
  return samples;
}

interface Session {
  info: ClusterInfo;
  database: string;
  admin: pg.Client;
  writer: pg.Client;
}

/**
 * One repetition of one contender: (writer baseline), connect, idle, latency, writer with it attached,
 * the bulk transaction. With `latencyOnly`, just connect and latency (pgnudge's default debounce).
 */
async function runOnce(
  session: Session,
  contender: Contender,
  options: { debounceMs: number; latencyOnly: boolean; profile: boolean },
): Promise<Rep> {
  const { info, database, admin, writer } = session;
  const rep: Rep = {};
  await admin.query(`TRUNCATE ${BULK}, ${WRITES}`);
  const baseline = options.latencyOnly ? 0 : await writerThroughput(info, database, WRITES, WRITER_S);
  const target: Target = {
    info: { ...info, superuser: { user: info.superuser.user, password: '' } },
    database,
    tables: TABLES,
    debounceMs: options.debounceMs,
    applicationName: APPLICATION_NAME,
  };
  await contender.prepare?.(admin, target);
  try {
    const execArgv = options.profile
      ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, `--cpu-prof-name=${contender.name}.cpuprofile`]
      : [];
    const proc = await ContenderProcess.start(
      { contender: contender.name, target, probeTable: PROBE, bulkTable: BULK, bulkRows: ROWS },
      execArgv,
    );
    try {
      rep.connect_ms = proc.ready!.connectMs;
      const server = await serverProcesses(admin, database);
      if (!options.latencyOnly) {
        const client0 = processCpuSeconds(proc.pid);
        const server0 = totalCpuSeconds(server.all);
        await sleep(IDLE_S * 1000);
        rep.idle_cpu_pct = ((processCpuSeconds(proc.pid) - client0) / IDLE_S) * 100;
        rep.idle_server_cpu_pct = ((totalCpuSeconds(server.all) - server0) / IDLE_S) * 100;
      }
      const polls = contender.name === 'polling';
      const samples = await latency(
        proc,
        writer,
        polls ? POLL_COMMITS : COMMITS,
        polls ? 1 : 20,
        contender.name,
      );
      const lat = latencySummary(samples);
      rep.latency_samples = samples.length;
      if (options.latencyOnly) {
        rep.latency_p50_ms = lat.p50;
        rep.latency_p99_ms = lat.p99;
        rep.latency_max_ms = lat.max;
        return rep;
      }
      Object.assign(rep, { latency_p50_ms: lat.p50, latency_p99_ms: lat.p99, latency_max_ms: lat.max });

      const attached = await writerThroughput(info, database, WRITES, WRITER_S);
      rep.writer_overhead_pct = ((baseline - attached) / baseline) * 100;
      // Let the contender catch up with the writer before the bulk run: a probe commit is seen only
      // after every change before it.
      await latency(proc, writer, 1, 0, contender.name);

      const client0 = processCpuSeconds(proc.pid);
      const walsender0 = totalCpuSeconds(server.walsenders);
      await writer.query(`INSERT INTO ${BULK} (id) SELECT g FROM generate_series(1, ${ROWS}) g`);
      const committed = nowMs();
      await proc.until(
        () => proc.bulkFirstAt !== undefined && (!contender.countsRows || proc.bulkDone !== undefined),
        600_000,
        `${contender.name} to account for the ${ROWS}-row transaction`,
      );
      rep.client_cpu_s = processCpuSeconds(proc.pid) - client0;
      rep.walsender_cpu_s = contender.walsender ? totalCpuSeconds(server.walsenders) - walsender0 : null;
      rep.peak_rss_mb = peakRssMiB(proc.pid);
      rep.bulk_first_wake_s = (proc.bulkFirstAt! - committed) / 1000;
      rep.bulk_drain_s = proc.bulkDone ? (proc.bulkDone.at - committed) / 1000 : null;
      if (proc.bulkDone && proc.bulkDone.counted !== ROWS)
        throw new Error(`${contender.name} counted ${proc.bulkDone.counted} rows, expected ${ROWS}`);
      return rep;
    } finally {
      await proc.close();
    }
  } finally {
    await contender.cleanup?.(admin, target);
    // A child that died leaves its permanent slot behind; the next contender must not pay for it.
    await admin.query(
      `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
        WHERE database = $1 AND NOT active`,
      [database],
    );
  }
}

function medianOf(reps: Rep[], key: keyof ContenderFigures): number | null {
  const values = reps.map((rep) => rep[key]).filter((value): value is number => typeof value === 'number');
  return values.length === 0 ? null : median(values);
}

async function main(): Promise<void> {
  const loadAtStart = loadAverage();
  const started = nowMs();
  // PostgreSQL's default replication timeout instead of the test harness's 5 s: a contender that falls
  // behind on the bulk transaction should be measured, not cut off.
  const cluster = await Cluster.start({ major: pickMajor(), settings: { wal_sender_timeout: "'60s'" } });
  const db = await scratchDatabase(cluster.info, 'bench_compare');
  const admin = pgClient(cluster.info, db.name);
  const writer = pgClient(cluster.info, db.name);
  await admin.connect();
  await writer.connect();
  try {
    const info = cluster.info;
    for (const table of TABLES) {
      await admin.query(
        `CREATE TABLE ${table} (id bigint, updated_at timestamptz NOT NULL DEFAULT now());
         GRANT SELECT ON ${table} TO PUBLIC`,
      );
      // Polling's status quo indexes updated_at. The bulk table goes without, so that its transaction's
      // WAL is the rows alone, which is what every decoding contender has to read (the poll of it is a
      // sequential scan once a second instead).
      if (table !== BULK) await admin.query(`CREATE INDEX ON ${table} (updated_at)`);
    }
    const session: Session = { info, database: db.name, admin, writer };
    const selected = CONTENDERS.filter((c) => !ONLY || ONLY.includes(c.name));
    const reps = new Map<string, { full: Rep[]; debounced: Rep[] }>();
    const skipped = new Map<string, string>();
    for (const contender of selected) {
      const reason = unavailable(contender, info);
      if (reason) skipped.set(contender.name, reason);
      else reps.set(contender.name, { full: [], debounced: [] });
    }
    for (let rep = 0; rep < REPS; rep++) {
      // Interleaved, so that a busier stretch of the machine does not land on one contender only.
      for (const contender of selected) {
        const runs = reps.get(contender.name);
        if (runs === undefined) continue;
        const profile = PROFILE_DIR !== undefined && rep === 0 && contender.name.startsWith('pgnudge');
        if (profile) mkdirSync(PROFILE_DIR!, { recursive: true });
        try {
          const full = await runOnce(session, contender, { debounceMs: 0, latencyOnly: false, profile });
          runs.full.push(full);
          console.log(`rep ${rep + 1}/${REPS} ${contender.name}: ${JSON.stringify(full, round)}`);
          if (contender.name.startsWith('pgnudge')) {
            const debounced = await runOnce(session, contender, {
              debounceMs: DEFAULT_DEBOUNCE_MS,
              latencyOnly: true,
              profile: false,
            });
            runs.debounced.push(debounced);
            console.log(
              `rep ${rep + 1}/${REPS} ${contender.name} debounce ${DEFAULT_DEBOUNCE_MS}: ${JSON.stringify(debounced, round)}`,
            );
          }
        } catch (error) {
          // One broken contender must not cost the whole run: it reports null with the reason.
          console.error(`${contender.name} failed: ${(error as Error)?.stack ?? error}`);
          skipped.set(contender.name, `failed: ${String((error as Error)?.message ?? error).slice(0, 300)}`);
          reps.delete(contender.name);
        }
      }
    }
    const rows: Row[] = [];
    for (const contender of selected) {
      const runs = reps.get(contender.name);
      const figures = Object.fromEntries(
        FIGURE_KEYS.map((key) => [key, runs ? medianOf(runs.full, key) : null]),
      ) as ContenderFigures;
      if (runs && runs.debounced.length > 0) {
        figures.latency_default_debounce_p50_ms = medianOf(runs.debounced, 'latency_p50_ms');
        figures.latency_default_debounce_p99_ms = medianOf(runs.debounced, 'latency_p99_ms');
      }
      rows.push({
        name: contender.name,
        figures,
        countsRows: contender.countsRows,
        unavailable: skipped.get(contender.name) ?? null,
      });
    }
    if (!ONLY || ONLY.includes('fanout')) rows.push(await runFanout(info, db.name, REPS, FANOUT_WRITES));

    printTable(rows, {
      postgres: info.version,
      rows: ROWS,
      reps: REPS,
      commits: COMMITS,
      pollCommits: POLL_COMMITS,
    });
    const out = process.env.PGNUDGE_BENCH_OUT ?? join(root, 'bench', 'results', 'latest.json');
    mkdirSync(dirname(out), { recursive: true });
    const result = {
      machine: machineInfo(info.version, loadAtStart),
      settings: {
        reps: REPS,
        bulk_rows: ROWS,
        latency_commits: COMMITS,
        polling_latency_commits: POLL_COMMITS,
        idle_s: IDLE_S,
        writer_s: WRITER_S,
        fanout_consumers: 50,
        fanout_writes: FANOUT_WRITES,
        connection: 'TCP 127.0.0.1, TLS verify-full, SCRAM-SHA-256 (every contender)',
        duration_s: Math.round((nowMs() - started) / 1000),
      },
      contenders: Object.fromEntries(
        rows.map((row) => [
          row.name,
          { ...row.figures, ...(row.unavailable ? { unavailable: row.unavailable } : {}) },
        ]),
      ),
    };
    writeFileSync(out, `${JSON.stringify(result, round, 2)}\n`);
    console.log(`\nwrote ${out} (${result.settings.duration_s} s)`);
  } finally {
    await writer.end();
    await admin.end();
    await db.drop();
    cluster.stop();
  }
}

/** JSON replacer: figures to 3 decimals, enough for milliseconds and seconds alike. */
function round(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isInteger(value) ? Math.round(value * 1000) / 1000 : value;
}

await main();

// Measurement primitives shared by the benches: a clock comparable across processes, a process's CPU
// seconds and peak RSS from /proc (so a child's figures are its own), percentiles, medians, and the
// description of the machine a run happened on.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { ClusterInfo } from '../../test/support/cluster.js';

/** Wall-clock milliseconds, finer than Date.now() and comparable across processes on this machine. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

let clockTicks: number | undefined;

/** utime + stime of `pid` in seconds, from /proc/<pid>/stat (fields 14 and 15; all threads). */
export function processCpuSeconds(pid: number): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses; fields are counted after its ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / clockTicks;
}

/** Sum of processCpuSeconds over `pids`; a pid that has already gone counts 0. */
export function totalCpuSeconds(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += processCpuSeconds(pid);
    } catch {}
  }
  return total;
}

/** The peak resident set of `pid` so far in MiB (VmHWM in /proc/<pid>/status). */
export function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmHWM for process ${pid}`);
  return Number(kb) / 1024;
}

/** The nearest-rank percentile of an ascending array. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)]!;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Latency figures of a set of samples in milliseconds. */
export function latencySummary(samples: readonly number[]): { p50: number; p99: number; max: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? Number.NaN };
}

/** A `pg` client as the superuser over plain TCP: the benches' writer and admin connection. */
export function pgClient(info: ClusterInfo, database: string): pg.Client {
  return new pg.Client({
    host: info.host,
    port: info.port,
    user: info.superuser.user,
    password: info.superuser.password,
    database,
  });
}

const loadAverage = () => loadavg().map((v) => Math.round(v * 100) / 100);

/** What a reader needs to judge the figures: hardware, versions, date and how busy the machine was. */
export function machineInfo(postgresVersion: string, loadAverageAtStart: number[]) {
  return {
    cpu_model: cpus()[0]?.model.trim() ?? '',
    cores: cpus().length,
    memory_gb: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    postgres: postgresVersion,
    date: new Date().toISOString(),
    load_average_at_start: loadAverageAtStart,
    load_average_at_end: loadAverage(),
  };
}

export { loadAverage };

// Measurement primitives shared by the benches: a clock comparable across processes, a process's CPU
// seconds and peak RSS from /proc (so a child's figures are its own), percentiles, medians, and the
// description of the machine a run happened on.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { ClusterInfo } from '../../test/support/cluster.js';

/** Wall-clock milliseconds, finer than Date.now() and comparable across processes on this machine. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

let clockTicks: number | undefined;

/** utime + stime of `pid` in seconds, from /proc/<pid>/stat (fields 14 and 15; all threads). */
export function processCpuSeconds(pid: number): number {
  const { user, kernel } = processCpuSplit(pid);
  return user + kernel;
}

/** `pid`'s CPU seconds so far in user mode (utime) and in the kernel on its behalf (stime). */
export function processCpuSplit(pid: number): { user: number; kernel: number } {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses; fields are counted after its ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / clockTicks, kernel: Number(fields[12]) / clockTicks };
}

/** Sum of processCpuSeconds over `pids`; a pid that has already gone counts 0. */
export function totalCpuSeconds(pids: readonly number[]): number {
  return totalKernelAndAll(pids).all;
}

/** Sums over `pids` of all CPU seconds and of the kernel's part; a pid that has already gone counts 0. */
export function totalKernelAndAll(pids: readonly number[]): { all: number; kernel: number } {
  let all = 0;
  let kernel = 0;
  for (const pid of pids) {
    try {
      const split = processCpuSplit(pid);
      all += split.user + split.kernel;
      kernel += split.kernel;
    } catch {}
  }
  return { all, kernel };
}

/** Read system calls `pid` has made so far (`syscr` in /proc/<pid>/io): a socket read is one each. */
export function readSyscalls(pid: number): number {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const count = /^syscr:\s+(\d+)/m.exec(io)?.[1];
  if (count === undefined) throw new Error(`no syscr for process ${pid}`);
  return Number(count);
}

/**
 * Bytes `pid` has read so far with read(2) and its kin (`rchar` in /proc/<pid>/io): libuv reads a socket
 * with read(2), so over a window where a Node process reads only its connections, what reached it from
 * the server (after TLS). libpq's recv(2) is not counted there.
 */
export function readBytes(pid: number): number {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  const bytes = /^rchar:\s+(\d+)/m.exec(io)?.[1];
  if (bytes === undefined) throw new Error(`no rchar for process ${pid}`);
  return Number(bytes);
}

/** The peak resident set of `pid` so far in MiB (VmHWM in /proc/<pid>/status). */
export function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmHWM for process ${pid}`);
  return Number(kb) / 1024;
}

/** The resident set of `pid` now in MiB (VmRSS). */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb) / 1024;
}

/**
 * Starts `pid`'s peak resident set over from its current one (Linux: "5" to /proc/<pid>/clear_refs),
 * so a later peakRssMiB covers only what came after. False where the kernel refuses.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** Student's t for a two-sided 95 % interval, by degrees of freedom (1 to 30; beyond, the normal 1.96). */
const T95 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131,
  2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/** The mean of `values` and the half-width of its 95 % confidence interval (t distribution). */
export function meanWithCi95(values: readonly number[]): { mean: number; ci95: number } {
  const n = values.length;
  const mean = values.reduce((sum, value) => sum + value, 0) / n;
  if (n < 2) return { mean, ci95: Number.NaN };
  const variance = values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (n - 1);
  return { mean, ci95: (T95[n - 2] ?? 1.96) * Math.sqrt(variance / n) };
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

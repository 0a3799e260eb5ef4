// The chaos test's bookkeeping and its oracle (contract R1–R7): a timeline on which commits, feed items and
// faults are stamped in the order this process saw them, and the check that every commit was followed by
// a wakeup for its table or by a Resync. Pure, so the oracle itself is unit-tested (it must be able to fail).

/** A point on the timeline: `seq` orders events exactly (one process, one thread); `at` is ms since start. */
export interface Stamp {
  readonly seq: number;
  readonly at: number;
}

/** Hands out stamps. `seq` is what the oracle compares; `at` is only for the delays it reports. */
export class Timeline {
  #seq = 0;
  readonly #origin: number;
  readonly #now: () => number;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
    this.#origin = now();
  }

  stamp(): Stamp {
    this.#seq += 1;
    return { seq: this.#seq, at: this.#now() - this.#origin };
  }
}

/** One committed transaction's effect on one table: `sent` when COMMIT went out, `done` when it returned. */
export interface CommitRecord {
  readonly table: string;
  readonly sent: Stamp;
  readonly done: Stamp;
}

/** One item the consumer pulled from the feed. */
export type ItemRecord =
  | { readonly stamp: Stamp; readonly type: 'resync'; readonly reason: string }
  | { readonly stamp: Stamp; readonly type: 'batch'; readonly payloads: readonly string[] };

/** One injected fault; `note` says how it went (e.g. whether the link was seen dead). */
export interface FaultRecord {
  readonly kind: string;
  readonly stamp: Stamp;
  note?: string;
}

/** A commit nothing covered. `inFlight`: a Batch naming its table arrived while its COMMIT was in flight. */
export interface Uncovered {
  readonly commit: CommitRecord;
  readonly inFlight: boolean;
}

export interface Coverage {
  checked: number;
  uncovered: Uncovered[];
  /** For each covered commit, ms from its COMMIT returning to the first item that covers it. */
  delays: number[];
}

/** Index of the first stamp in `sorted` (ascending seq) with seq > `seq`, or -1. */
function firstAfter(sorted: readonly Stamp[], seq: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((sorted[mid] as Stamp).seq > seq) hi = mid;
    else lo = mid + 1;
  }
  return lo < sorted.length ? lo : -1;
}

/**
 * The no-lost-wakeup oracle. A commit on table X whose COMMIT returned at t is covered when the consumer
 * received, after t, a Batch naming X (the consumer reloads X and sees the commit) or a Resync of any
 * reason (it reloads everything; a reconnect Resync covers everything before it, contract R1/R7). Only items
 * received strictly after the COMMIT returned count: one that arrived earlier cannot prove the consumer
 * saw this commit. `items` and `commits` may come in any order.
 */
export function checkCoverage(commits: readonly CommitRecord[], items: readonly ItemRecord[]): Coverage {
  const ordered = [...items].sort((a, b) => a.stamp.seq - b.stamp.seq);
  const resyncs: Stamp[] = [];
  const batchesByTable = new Map<string, Stamp[]>();
  for (const item of ordered) {
    if (item.type === 'resync') {
      resyncs.push(item.stamp);
      continue;
    }
    for (const payload of new Set(item.payloads)) {
      const list = batchesByTable.get(payload) ?? [];
      if (list.length === 0) batchesByTable.set(payload, list);
      list.push(item.stamp);
    }
  }
  const coverage: Coverage = { checked: commits.length, uncovered: [], delays: [] };
  for (const commit of commits) {
    const batches = batchesByTable.get(commit.table) ?? [];
    const candidates: Stamp[] = [];
    const resync = firstAfter(resyncs, commit.done.seq);
    if (resync >= 0) candidates.push(resyncs[resync] as Stamp);
    const batch = firstAfter(batches, commit.done.seq);
    if (batch >= 0) candidates.push(batches[batch] as Stamp);
    if (candidates.length > 0) {
      const first = Math.min(...candidates.map((stamp) => stamp.at));
      coverage.delays.push(first - commit.done.at);
      continue;
    }
    const sinceSent = firstAfter(batches, commit.sent.seq);
    const inFlight = sinceSent >= 0 && (batches[sinceSent] as Stamp).seq < commit.done.seq;
    coverage.uncovered.push({ commit, inFlight });
  }
  return coverage;
}

/** What followed one fault: ms to the first item of any kind, and to the first Resync (the recovery). */
export interface Recovery {
  readonly fault: FaultRecord;
  readonly firstItemMs: number | null;
  readonly resyncMs: number | null;
}

export function recoveries(faults: readonly FaultRecord[], items: readonly ItemRecord[]): Recovery[] {
  const ordered = [...items].sort((a, b) => a.stamp.seq - b.stamp.seq);
  const all = ordered.map((item) => item.stamp);
  const resyncs = ordered.filter((item) => item.type === 'resync').map((item) => item.stamp);
  return faults.map((fault) => {
    const item = firstAfter(all, fault.stamp.seq);
    const resync = firstAfter(resyncs, fault.stamp.seq);
    return {
      fault,
      firstItemMs: item < 0 ? null : (all[item] as Stamp).at - fault.stamp.at,
      resyncMs: resync < 0 ? null : (resyncs[resync] as Stamp).at - fault.stamp.at,
    };
  });
}

/** The run's figures, as printed after every run (CI-length or soak). */
export interface Figures {
  seed: number;
  seconds: number;
  commitsChecked: number;
  uncovered: number;
  faultsByKind: Record<string, number>;
  resyncsByReason: Record<string, number>;
  batches: number;
  /** Worst ms from a fault to the first item after it, and to the first Resync after it. */
  worstFirstItemAfterFaultMs: number | null;
  worstResyncAfterFaultMs: number | null;
  /** Worst ms from a fault to the first Resync after it, by kind of fault. */
  worstResyncByKind: Record<string, number | null>;
  /** Commit → covering item: the worst and the 50th/99th percentiles. */
  worstCoverMs: number | null;
  p50CoverMs: number | null;
  p99CoverMs: number | null;
}

function tally(keys: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const key of [...keys].sort()) counts[key] = (counts[key] ?? 0) + 1;
  return counts;
}

function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}

function worst(values: readonly (number | null)[]): number | null {
  const known = values.filter((value): value is number => value !== null);
  return known.length === 0 ? null : Math.max(...known);
}

export function figures(run: {
  seed: number;
  seconds: number;
  commits: readonly CommitRecord[];
  items: readonly ItemRecord[];
  faults: readonly FaultRecord[];
}): Figures {
  const coverage = checkCoverage(run.commits, run.items);
  const recovered = recoveries(run.faults, run.items);
  const delays = [...coverage.delays].sort((a, b) => a - b);
  const round = (value: number | null) => (value === null ? null : Math.round(value));
  return {
    seed: run.seed,
    seconds: run.seconds,
    commitsChecked: coverage.checked,
    uncovered: coverage.uncovered.length,
    faultsByKind: tally(run.faults.map((fault) => fault.kind)),
    resyncsByReason: tally(run.items.flatMap((item) => (item.type === 'resync' ? [item.reason] : []))),
    batches: run.items.filter((item) => item.type === 'batch').length,
    worstFirstItemAfterFaultMs: round(worst(recovered.map((r) => r.firstItemMs))),
    worstResyncAfterFaultMs: round(worst(recovered.map((r) => r.resyncMs))),
    worstResyncByKind: Object.fromEntries(
      [...new Set(run.faults.map((fault) => fault.kind))]
        .sort()
        .map((kind) => [
          kind,
          round(worst(recovered.filter((r) => r.fault.kind === kind).map((r) => r.resyncMs))),
        ]),
    ),
    worstCoverMs: round(worst(delays)),
    p50CoverMs: round(percentile(delays, 50)),
    p99CoverMs: round(percentile(delays, 99)),
  };
}

const ms = (value: number) => `${(value / 1000).toFixed(3)} s`;

/** The fault timeline, one line per fault with its note. */
export function describeFaults(faults: readonly FaultRecord[]): string {
  if (faults.length === 0) return 'no faults injected';
  return [
    'fault timeline:',
    ...faults.map((f) => `  ${ms(f.stamp.at)} ${f.kind}${f.note ? ` (${f.note})` : ''}`),
  ].join('\n');
}

/**
 * Why the oracle failed, for the assertion message: the first few uncovered commits, the fault timeline,
 * and the items received around the first uncovered commit, so a failure can be read without a rerun.
 */
export function explainUncovered(
  uncovered: readonly Uncovered[],
  faults: readonly FaultRecord[],
  items: readonly ItemRecord[],
  limit = 5,
): string {
  const lines = [`${uncovered.length} commit(s) never followed by a Batch naming their table or a Resync:`];
  for (const { commit, inFlight } of uncovered.slice(0, limit)) {
    lines.push(
      `  ${commit.table} committed at ${ms(commit.done.at)} (seq ${commit.done.seq})${inFlight ? ' (a Batch naming it arrived while its COMMIT was in flight)' : ''}`,
    );
  }
  lines.push(describeFaults(faults));
  const first = uncovered[0];
  if (first) {
    const around = [...items]
      .sort((a, b) => a.stamp.seq - b.stamp.seq)
      .filter((item) => Math.abs(item.stamp.at - first.commit.done.at) < 2000);
    lines.push(`items within 2 s of the first uncovered commit (${around.length}):`);
    for (const item of around.slice(-20)) {
      const what = item.type === 'resync' ? `Resync(${item.reason})` : `Batch[${item.payloads.join(', ')}]`;
      lines.push(`  ${ms(item.stamp.at)} ${what}`);
    }
  }
  return lines.join('\n');
}

/** A seeded PRNG (mulberry32): each actor gets its own stream, so its choices replay from the seed. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<T>(values: readonly T[]): T {
    return values[this.int(0, values.length - 1)] as T;
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(values: readonly T[]): T[] {
    const copy = [...values];
    for (let i = copy.length - 1; i > 0; i -= 1) {
      const j = this.int(0, i);
      [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
    }
    return copy;
  }
}

// The comparison's figures per contender (the keys of bench/results/latest.json) and the one table
// printed at the end of the run.

/** In this order in the JSON; the first nine are issue 7's shape, then issue 20's, then detail. */
export const FIGURE_KEYS = [
  'connect_ms',
  'latency_p50_ms',
  'latency_p99_ms',
  'bulk_drain_s',
  'client_cpu_s',
  'walsender_cpu_s',
  'peak_rss_mb',
  'writer_overhead_pct',
  'idle_cpu_pct',
  'rss_baseline_mb',
  'rss_growth_mb',
  'event_loop_delay_p99_ms',
  'writer_overhead_ci95_pct',
  'latency_max_ms',
  'latency_samples',
  'latency_default_debounce_p50_ms',
  'latency_default_debounce_p99_ms',
  'bulk_first_wake_s',
  'idle_server_cpu_pct',
  'client_read_syscalls',
  'bytes_per_row',
  'client_kernel_cpu_s',
  'walsender_kernel_cpu_s',
  'latency_cold_p50_ms',
  'latency_cold_p99_ms',
  'latency_cold_max_ms',
] as const;

export type FigureKey = (typeof FIGURE_KEYS)[number];
export type ContenderFigures = Record<FigureKey, number | null>;

export interface Row {
  name: string;
  figures: ContenderFigures;
  /** False for contenders that only wake: their bulk figures stop at the wakeup. */
  countsRows: boolean;
  /** Why the contender did not run here, if it did not. */
  unavailable: string | null;
}

const COLUMNS: { key: FigureKey; title: string; digits: number }[] = [
  { key: 'connect_ms', title: 'connect ms', digits: 1 },
  { key: 'latency_p50_ms', title: 'p50 ms', digits: 2 },
  { key: 'latency_p99_ms', title: 'p99 ms', digits: 2 },
  { key: 'latency_max_ms', title: 'max ms', digits: 2 },
  { key: 'latency_cold_p99_ms', title: 'cold p99 ms', digits: 2 },
  { key: 'latency_default_debounce_p99_ms', title: 'p99@50 ms', digits: 1 },
  { key: 'bulk_first_wake_s', title: 'wake s', digits: 3 },
  { key: 'bulk_drain_s', title: 'drain s', digits: 2 },
  { key: 'client_cpu_s', title: 'client CPU s', digits: 2 },
  { key: 'walsender_cpu_s', title: 'walsender s', digits: 2 },
  { key: 'peak_rss_mb', title: 'RSS MiB', digits: 1 },
  { key: 'bytes_per_row', title: 'B/row', digits: 0 },
  { key: 'rss_growth_mb', title: '+RSS MiB', digits: 1 },
  { key: 'event_loop_delay_p99_ms', title: 'loop p99 ms', digits: 1 },
  { key: 'writer_overhead_pct', title: 'writer -%', digits: 1 },
  { key: 'writer_overhead_ci95_pct', title: '±95%', digits: 1 },
  { key: 'idle_cpu_pct', title: 'idle CPU %', digits: 2 },
];

function cell(value: number | null, digits: number): string {
  return value === null ? '—' : value.toFixed(digits);
}

/** The table as Markdown-compatible lines (docs/benchmarks.md embeds the same text). */
export function formatTable(rows: readonly Row[]): string[] {
  const header = ['contender', ...COLUMNS.map((column) => column.title)];
  const body = rows.map((row) => [
    row.countsRows ? row.name : `${row.name} †`,
    ...COLUMNS.map((column) => cell(row.figures[column.key], column.digits)),
  ]);
  const widths = header.map((title, i) => Math.max(title.length, ...body.map((cells) => cells[i]!.length)));
  const line = (cells: string[]) =>
    `| ${cells.map((text, i) => (i === 0 ? text.padEnd(widths[i]!) : text.padStart(widths[i]!))).join(' | ')} |`;
  return [
    line(header),
    `|${widths.map((width, i) => (i === 0 ? `${'-'.repeat(width + 1)}-` : `${'-'.repeat(width + 1)}:`)).join('|')}|`,
    ...body.map(line),
  ];
}

export function printTable(
  rows: readonly Row[],
  run: {
    postgres: string;
    transport: string;
    rows: number;
    reps: number;
    commits: number;
    warmAfter: number;
    pollCommits: number;
    writerPairs: number;
  },
): void {
  console.log(
    `\n${run.transport}, PostgreSQL ${run.postgres}; medians of ${run.reps}; latency over ${run.commits} single-row commits ` +
      (run.warmAfter > 0
        ? `once ${run.warmAfter} have gone by (cold p99: the first ${run.commits}; polling ${run.pollCommits}), `
        : `(polling ${run.pollCommits}), `) +
      'debounce 0 (p99@50: pgnudge at its default 50 ms); ' +
      `bulk = one ${run.rows.toLocaleString('en-US')}-row transaction\n`,
  );
  for (const line of formatTable(rows)) console.log(line);
  console.log(
    '\nwake s: COMMIT returned → first change seen; drain s: → every row accounted for; CPU/RSS: the\n' +
      "consumer process alone (from /proc), walsender: its server process; +RSS: the consumer's peak over its\n" +
      'idle RSS from the idle window on; loop p99: its event-loop delay during the drain (Node contenders);\n' +
      `writer -%: single-row commit rate lost with the contender attached, mean of ${run.writerPairs} interleaved\n` +
      "pairs of windows with and without it, ±95%: that mean's confidence interval; idle CPU: the consumer\n" +
      'over the idle window; B/row: bytes the consumer read during the drain, per row (Node contenders).\n' +
      'pgnudge-raw (RawFeed) runs on a second cluster of the same major at wal_level = replica.\n' +
      '† wakes without counting rows: its bulk figures stop at the wakeup.',
  );
  for (const row of rows) if (row.unavailable) console.log(`${row.name}: not run (${row.unavailable})`);
}

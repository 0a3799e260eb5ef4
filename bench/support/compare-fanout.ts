// The comparison's fan-out row: latency through one `pgnudge bridge` to 50 NotifyFeed consumers,
// medians of `reps` runs of `writes` commits (bench/support/fanout.ts does the measuring).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClusterInfo } from '../../test/support/cluster.js';
import { type ContenderFigures, FIGURE_KEYS, type Row } from './compare-table.js';
import { measureFanout, startBridge } from './fanout.js';
import { median } from './measure.js';

const CONSUMERS = 50;
const CHANNEL = 'pgnudge_bench_fanout';

export async function runFanout(
  info: ClusterInfo,
  database: string,
  reps: number,
  writes: number,
): Promise<Row> {
  const home = mkdtempSync(join(tmpdir(), 'pgnudge-bench-home-'));
  const bridge = await startBridge(info, database, CHANNEL, home);
  try {
    const runs = [];
    for (let rep = 0; rep < reps; rep++) {
      runs.push(
        await measureFanout(info, database, {
          channel: CHANNEL,
          table: 'public.probe',
          consumers: CONSUMERS,
          writes,
        }),
      );
      console.log(`rep ${rep + 1}/${reps} fan-out to ${CONSUMERS}: ${JSON.stringify(runs.at(-1))}`);
    }
    const figures = Object.fromEntries(FIGURE_KEYS.map((key) => [key, null])) as ContenderFigures;
    figures.latency_p50_ms = median(runs.map((run) => run.p50Ms));
    figures.latency_p99_ms = median(runs.map((run) => run.p99Ms));
    figures.latency_max_ms = median(runs.map((run) => run.maxMs));
    figures.latency_samples = runs[0]?.samples ?? null;
    return { name: `pgnudge-fanout-${CONSUMERS}`, figures, countsRows: true, unavailable: null };
  } finally {
    bridge.kill('SIGTERM');
    await bridge.exited;
    rmSync(home, { recursive: true, force: true });
  }
}

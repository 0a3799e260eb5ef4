// A writer like an application's: single-row INSERT commits, one after another on one connection, as
// many as fit in a time window. Its rate with and without a contender attached shows what the contender
// costs the writer (a trigger runs inside each commit; a consumer competes for the same CPUs).
import type { ClusterInfo } from '../../test/support/cluster.js';
import { nowMs, pgClient } from './measure.js';

/** Commits per second of single-row INSERTs into `table` over `seconds`. */
export async function writerThroughput(
  info: ClusterInfo,
  database: string,
  table: string,
  seconds: number,
): Promise<number> {
  const client = pgClient(info, database);
  await client.connect();
  try {
    const statement = { name: 'bench_writer', text: `INSERT INTO ${table} (id) VALUES ($1)` };
    const start = nowMs();
    const end = start + seconds * 1000;
    let commits = 0;
    while (nowMs() < end) {
      await client.query({ ...statement, values: [commits] });
      commits++;
    }
    return commits / ((nowMs() - start) / 1000);
  } finally {
    await client.end();
  }
}

// The status quo: once a second, `SELECT max(updated_at)` of every watched table (indexed), and a
// wakeup for each table whose maximum moved. Ready once the first poll has read the starting values.
import pg from 'pg';
import { login, tls } from './connection.js';
import type { Contender, Running, Sink, Target } from './contender.js';

export const POLL_INTERVAL_MS = 1000;

export const polling: Contender = {
  name: 'polling',
  countsRows: false,
  walsender: false,
  async start(target: Target, sink: Sink): Promise<Running> {
    const client = new pg.Client({
      ...login(target),
      ssl: tls(target),
      application_name: target.applicationName,
    });
    client.on('error', (error) => sink.fail(error));
    await client.connect();
    const query = `SELECT ${target.tables
      .map((table, i) => `(SELECT max(updated_at) FROM ${table})::text AS t${i}`)
      .join(', ')}`;
    let last: (string | null)[] | null = null;
    const poll = async () => {
      const { rows } = await client.query<Record<string, string | null>>(query);
      const now = target.tables.map((_, i) => rows[0]?.[`t${i}`] ?? null);
      if (last === null) sink.ready();
      else for (const [i, table] of target.tables.entries()) if (now[i] !== last[i]) sink.woke(table);
      last = now;
    };
    await poll();
    // A fixed-rate timer, as a status-quo poller would use; a poll still running skips the tick.
    let busy = false;
    const timer = setInterval(() => {
      if (busy) return;
      busy = true;
      poll()
        .catch((error: unknown) => sink.fail(error))
        .finally(() => {
          busy = false;
        });
    }, POLL_INTERVAL_MS);
    return {
      async close() {
        clearInterval(timer);
        await client.end();
      },
    };
  },
};

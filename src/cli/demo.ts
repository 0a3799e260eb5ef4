// `pgnudge demo` (contract §5): the no-setup tour. A throwaway embedded PostgreSQL, a writer changing two
// tables at a human pace, and a WalFeed printing what it sees, each item with what it means.
import type { Batch, FeedItem } from '../feed/items.js';
import { WalFeed } from '../feed/wal-feed.js';
import type { Logger, LogLevel } from '../logger.js';
import { PgConnection } from '../transport/connection.js';
import type { Palette } from './color.js';
import { type DemoPage, startDemoPage } from './demo-page.js';
import { EMBEDDED_INSTALL_HINT, EmbeddedPostgres, findEmbeddedPostgres } from './embedded-postgres.js';
import { formatHumanLine } from './format.js';

/** A small change this often; every BURST_EVERY-th tick is a 500-row transaction instead (~10 s). */
const TICK_MS = 1500;
const BURST_EVERY = 7;
const BURST_ROWS = 500;

const SCHEMA = `
CREATE TABLE stations (id int PRIMARY KEY, name text NOT NULL, bikes int NOT NULL);
CREATE TABLE orders (
  id bigserial PRIMARY KEY,
  station_id int NOT NULL REFERENCES stations,
  status text NOT NULL DEFAULT 'new',
  amount numeric(8, 2) NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO stations VALUES (1, 'Harbour', 12), (2, 'Old Town', 7), (3, 'Station Square', 15);
INSERT INTO orders (station_id, amount) SELECT 1 + g % 3, 5 + g FROM generate_series(1, 5) g;`;

/** The writer's repertoire between bursts: what it runs, how it says so, and what the reader should notice. */
interface Change {
  say: string;
  sql: string;
  tip: string;
}

const SMALL_CHANGES: Change[] = [
  {
    say: 'INSERT 1 row INTO public.orders',
    sql: 'INSERT INTO orders (station_id, amount) VALUES (1 + floor(random() * 3)::int, round((5 + random() * 40)::numeric, 2))',
    tip: 'One committed change, one event: which table moved, and how many row changes. Re-run the query that reads it.',
  },
  {
    say: 'UPDATE 1 row of public.stations (a bike returned)',
    sql: 'UPDATE stations SET bikes = bikes + 1 WHERE id = (SELECT 1 + floor(random() * 3)::int)',
    tip: 'pgnudge tells you THAT a table changed, never which rows: your app already knows how to load its data.',
  },
  {
    say: 'UPDATE 1 row of public.orders (new → paid)',
    sql: "UPDATE orders SET status = 'paid' WHERE id = (SELECT min(id) FROM orders WHERE status = 'new')",
    tip: 'Nothing polls: the server pushed this over a TEMPORARY replication slot that vanishes with the connection.',
  },
  {
    say: 'one transaction: INSERT INTO public.orders + UPDATE public.stations',
    sql: 'BEGIN; INSERT INTO orders (station_id, amount) VALUES (2, 9.50); UPDATE stations SET bikes = greatest(bikes - 1, 0) WHERE id = 2; COMMIT',
    tip: 'Two tables changed in one transaction: one event each, in order of first change. Reload what depends on either.',
  },
  {
    say: 'DELETE 1 row FROM public.orders (the oldest)',
    sql: 'DELETE FROM orders WHERE id = (SELECT min(id) FROM orders)',
    tip: 'Deletes wake you too, like inserts, updates and TRUNCATE. A rolled-back transaction never does.',
  },
];

const BURST: Change = {
  say: `INSERT ${BURST_ROWS} rows INTO public.orders, in ONE transaction`,
  sql: `INSERT INTO orders (station_id, amount) SELECT 1 + g % 3, 1 + g % 50 FROM generate_series(1, ${BURST_ROWS}) g`,
  tip: '',
};

export interface DemoRun {
  write(text: string): void;
  /** The feed's logger (-v); without one the demo's own lines are all there is. */
  logger?: Logger;
  /** The level passed to `logger` (-v info, -vv debug, -vvv trace). */
  logLevel?: LogLevel;
  /** Colour for the item lines (a terminal's). */
  paint?: Palette;
}

const INDENT = ' '.repeat(13);

function time(): string {
  return new Date().toISOString().slice(11, 23);
}

/** What a batch means, in one or two lines; `tip` is what the writer's last small change shows. */
export function explainBatch(batch: Batch, tip: string): string[] {
  const burst = batch.events.find((event) => event.count >= 100);
  if (burst) {
    return [
      `${burst.count} rows in one transaction arrive as ONE event with count ${burst.count}:`,
      'reload once, not once per row.',
    ];
  }
  if (batch.events.length > 1 && !tip.startsWith('Two tables')) {
    return [`${batch.events.length} tables changed within one debounce window: one event each.`];
  }
  return [tip];
}

/** Runs the tour until SIGINT/SIGTERM. Returns the exit status. */
export async function runDemo(run: DemoRun): Promise<number> {
  const out = (line: string) => run.write(`${line}\n`);
  const install = findEmbeddedPostgres();
  if (install === null) {
    process.stderr.write(`pgnudge: ${EMBEDDED_INSTALL_HINT}\n`);
    return 1;
  }
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let server: EmbeddedPostgres | null = null;
  const onExit = () => server?.stopSync();
  process.on('exit', onExit);
  let writer: Writer | null = null;
  let page: DemoPage | null = null;
  let status = 0;
  try {
    out(`pgnudge demo: starting a throwaway PostgreSQL ${install.major}…`);
    server = await EmbeddedPostgres.start(install, stop.signal);
    out(`  server   PostgreSQL ${server.version}, pid ${server.pid}, in ${server.dir}`);
    out('           (Unix socket only; stopped and removed when you press Ctrl-C)');
    const setup = await PgConnection.connect(server.settings(), { replication: 'off' });
    await setup.query(SCHEMA);
    await setup.end();
    out('  tables   public.orders, public.stations');
    out(
      `  writer   a small change every ${TICK_MS / 1000} s; every ${(TICK_MS * BURST_EVERY) / 1000} s, ${BURST_ROWS} orders in ONE transaction`,
    );
    out('  feed     new WalFeed({ host, database }) → for await (const item of feed)');
    page = await startDemoPage();
    out(`  page     ${page.url}`);
    out('           (the same items in a browser, as pgnudge serve shows them; loopback only)');
    out('');
    const settings = server.settings();
    const feed = new WalFeed(
      {
        host: settings.hosts[0]?.host ?? '',
        port: settings.hosts[0]?.port ?? 5432,
        user: 'postgres',
        database: 'postgres',
        applicationName: 'pgnudge demo',
        signal: stop.signal,
        ...(run.logger ? { logger: run.logger } : {}),
        ...(run.logLevel ? { logLevel: run.logLevel } : {}),
      },
      // The demo's server is its own: the user's PG* variables must not redirect or alter the connection.
      { env: {} },
    );
    for await (const item of feed) {
      page.relay.push(item);
      out(formatHumanLine(item, new Date(), run.paint));
      const lines = explain(item, feed.plugin, (writer as Writer | null)?.lastTip ?? '');
      lines.forEach((line, index) => {
        out(`${INDENT}${index === 0 ? '↳' : ' '} ${line}`);
      });
      if (item.type === 'resync' && writer === null) {
        writer = new Writer(server, out);
        await writer.start();
      }
    }
  } catch (error) {
    if (!stop.signal.aborted) {
      process.stderr.write(`pgnudge demo: ${(error as Error)?.message ?? error}\n`);
      status = 1;
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    writer?.stop();
    await page?.stop();
    if (server) {
      out(`\nstopping: writer, feed, server…`);
      await server.stop();
      out(`done: the server is stopped and ${server.dir} is removed; the slot went with the connection.`);
    }
    process.off('exit', onExit);
  }
  return status;
}

function explain(item: FeedItem, plugin: string | null, tip: string): string[] {
  if (item.type === 'resync') {
    return [
      `The stream is live${plugin ? ` (decoded with ${plugin})` : ''}. Load everything now:`,
      'from here on, every commit wakes you.',
    ];
  }
  return explainBatch(item, tip);
}

/** Changes the tables on a timer, one statement at a time, saying what it does before it does it. */
class Writer {
  readonly #server: EmbeddedPostgres;
  readonly #out: (line: string) => void;
  #connection: PgConnection | null = null;
  #timer: NodeJS.Timeout | null = null;
  #tick = 0;
  #stopped = false;
  /** What the last small change is meant to show. */
  lastTip = '';

  constructor(server: EmbeddedPostgres, out: (line: string) => void) {
    this.#server = server;
    this.#out = out;
  }

  async start(): Promise<void> {
    this.#connection = await PgConnection.connect(this.#server.settings(), { replication: 'off' });
    this.#schedule();
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#step(), TICK_MS);
  }

  async #step(): Promise<void> {
    const tick = this.#tick++;
    const burst = tick % BURST_EVERY === BURST_EVERY - 3;
    const change = burst ? BURST : (SMALL_CHANGES[tick % SMALL_CHANGES.length] as Change);
    if (!burst) this.lastTip = change.tip;
    try {
      this.#out(`${time()} write   ${change.say}`);
      await this.#connection?.query(change.sql);
    } catch (error) {
      if (!this.#stopped) this.#out(`${time()} write   failed: ${(error as Error).message}`);
    }
    this.#schedule();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#connection?.abort();
  }
}

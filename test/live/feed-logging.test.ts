// What a feed logs, as a new user sees it (issue 21):
// - `logger: console` (the default logLevel, info) gives lifecycle and warnings only: a 500-row insert adds
//   no line, and nothing ever reaches console.trace, which prints a stack per call;
// - a watched table that does not exist is named once at connect, with the schemas where a table of that
//   name exists (contract R14 still allows it), and the start-up line lists the watched tables.
// The check runs SQL on the walsender connection before START_REPLICATION, so it runs on every major.
import assert from 'node:assert/strict';
import { Console } from 'node:console';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { WalFeed } from '../../src/index.js';
import { type ClusterInfo, runSql } from '../support/cluster.js';
import { FeedProbe, feedConnection } from '../support/feed-probe.js';
import { openLiveDatabase, type ScratchDatabase } from '../support/live-database.js';
import { LogCapture } from '../support/log-capture.js';
import { waitFor } from '../support/wait.js';

const TEST = { timeout: 60_000 } as const;

let info: ClusterInfo;
let db: ScratchDatabase;
before(async () => {
  ({ info, db } = await openLiveDatabase(
    'feed_logging',
    `CREATE TABLE public.orders (id int PRIMARY KEY);
     CREATE SCHEMA app;
     CREATE TABLE app.nosuch (id int PRIMARY KEY);
     CREATE TABLE app."Invoices" (id int PRIMARY KEY);`,
  ));
});
after(() => db?.drop());

const sql = (text: string) => runSql(info, text, db.name);

/** A real Console over a string, counting what each method printed. */
function recordedConsole() {
  let text = '';
  const sink = new PassThrough();
  sink.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
  });
  const console = new Console({ stdout: sink, stderr: sink });
  const calls: Record<string, number> = {};
  for (const method of ['trace', 'debug', 'info', 'warn', 'error', 'log'] as const) {
    const original = console[method].bind(console);
    console[method] = (...args: unknown[]) => {
      calls[method] = (calls[method] ?? 0) + 1;
      original(...args);
    };
  }
  return { console, calls, output: () => text };
}

describe('logger: console', TEST, () => {
  test('a 500-row insert adds no line; lifecycle only, and never console.trace', TEST, async (t) => {
    const recorded = recordedConsole();
    const feed = new WalFeed(
      { ...feedConnection(info, db.name), tables: ['public.orders'], debounce: 20, logger: recorded.console },
      { env: {} },
    );
    t.after(() => feed.close());
    const probe = new FeedProbe(feed);
    await probe.resync('connected');
    const lifecycle = recorded.output().split('\n').filter(Boolean);
    await sql('INSERT INTO public.orders SELECT generate_series(1, 500)');
    await probe.counted('public.orders', 500);
    assert.deepEqual(
      recorded.output().split('\n').filter(Boolean),
      lifecycle,
      'the insert added lines to the log',
    );
    await feed.close();
    const lines = recorded.output().split('\n').filter(Boolean);
    assert.deepEqual(lines.slice(lifecycle.length), ['pgnudge: closed'], 'the close: one line');
    assert.equal(recorded.calls.trace, undefined, 'console.trace was called');
    assert.equal(recorded.calls.debug, undefined, 'console.debug was called');
    // connected, the status cadence, the slot, the plugin fallback (16-18), streaming, the Resync, closed.
    assert.ok(lines.length <= 7, `a few lifecycle lines, got:\n${lines.join('\n')}`);
    assert.doesNotMatch(recorded.output(), /^Trace:|^\s+at /m);
    assert.ok(
      lines.some((line) =>
        /^pgnudge: streaming from slot \S+ \((wal2json|test_decoding)\); watching public\.orders$/.test(line),
      ),
      `the start-up line names the watched tables:\n${lines.join('\n')}`,
    );
  });

  test(
    "logLevel 'trace' adds lines per change and per message, through console.debug, never console.trace",
    TEST,
    async (t) => {
      const recorded = recordedConsole();
      const feed = new WalFeed(
        {
          ...feedConnection(info, db.name),
          tables: ['public.orders'],
          debounce: 20,
          logger: recorded.console,
          logLevel: 'trace',
        },
        { env: {} },
      );
      t.after(() => feed.close());
      const probe = new FeedProbe(feed);
      await probe.resync('connected');
      await sql('INSERT INTO public.orders SELECT generate_series(1001, 1010)');
      await probe.counted('public.orders', 10);
      await feed.close();
      assert.equal(recorded.calls.trace, undefined, 'console.trace was called');
      assert.ok((recorded.calls.debug ?? 0) >= 10, `debug lines: ${recorded.calls.debug}`);
      assert.doesNotMatch(recorded.output(), /^Trace:|^\s+at /m);
    },
  );
});

describe('watched tables that do not exist (contract R14)', TEST, () => {
  test(
    'named once at connect, with the schemas where the name exists; the feed still runs',
    TEST,
    async (t) => {
      const log = new LogCapture();
      const feed = new WalFeed(
        {
          ...feedConnection(info, db.name),
          tables: ['public.orders', 'public.nosuch', 'app.invoices', 'nothing.anywhere'],
          debounce: 5,
          backoff: { initial: 20, maximum: 50 },
          logger: log.logger,
        },
        { env: {} },
      );
      t.after(() => feed.close());
      const probe = new FeedProbe(feed);
      await probe.resync('connected');
      const missing = () => log.failures().filter((line) => line.startsWith('pgnudge: watched table'));
      // (Another warning may come: wal2json missing on this server, contract R15's fallback.)
      assert.deepEqual(missing(), [
        'pgnudge: watched table public.nosuch does not exist (yet): it wakes the feed once it is created; did you mean app.nosuch?',
        'pgnudge: watched table app.invoices does not exist (yet): it wakes the feed once it is created; did you mean app."Invoices"?',
        'pgnudge: watched table nothing.anywhere does not exist (yet): it wakes the feed once it is created',
      ]);
      // A table created later still wakes the feed (contract R14), and a reconnect does not repeat the warning.
      await sql('CREATE TABLE public.nosuch (id int PRIMARY KEY); INSERT INTO public.nosuch VALUES (1)');
      await probe.counted('public.nosuch', 1);
      const mark = probe.mark();
      await sql(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_replication WHERE application_name = 'pgnudge' AND pid IN (SELECT active_pid FROM pg_replication_slots WHERE database = '${db.name}')`,
      );
      await probe.resync('reconnected', mark);
      await waitFor(() => log.lines.some((line) => line.message.includes('streaming from slot')), {
        timeoutMs: 5_000,
        what: 'the start-up line',
      });
      assert.equal(missing().length, 3, 'the warnings were repeated on reconnect');
    },
  );
});

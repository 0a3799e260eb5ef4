// A large keyed batch through the NOTIFY bridge (contract R24 "keys travel through every fan-out transport",
// contract §6 "split under 8000 bytes"): one transaction touching 10,000 rows, keyed by a composite key with
// awkward text, leaves a `pgnudge bridge --keys` as one batch split over many NOTIFY messages, and a
// NotifyFeed consumer on a healthy link gets it whole: every key once, with its count, in one Batch and
// no Resync. Once per plugin the major has.
import assert from 'node:assert/strict';
import { after, before, describe, type TestContext, test } from 'node:test';
import { Batch, formatKey, NotifyFeed, type NudgeEvent } from '../../src/index.js';
import { CliProcess, connectionUrl } from '../support/cli-process.js';
import { type ClusterInfo, pluginUnavailable, runSql, superuserClient } from '../support/cluster.js';
import { FeedProbe, feedConnection } from '../support/feed-probe.js';
import { emptyHome, openLiveDatabase, type ScratchDatabase } from '../support/live-database.js';
import { LogCapture } from '../support/log-capture.js';
import { waitFor } from '../support/wait.js';
import { wireBody } from '../support/wire-messages.js';

const TEST = { timeout: 180_000 } as const;
const SECRET = 'live keyed fan-out: 32 bytes ok!';
const ROWS = 10_000;
/** Awkward key text: commas, quotes, backslashes, parentheses, spaces, the empty string, non-ASCII. */
const AWKWARD = ['a,b', 'say "hi"', 'C:\\temp', '(x)', ' padded ', '', 'Zürich 東京', "it's"];
const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

let info: ClusterInfo;
let db: ScratchDatabase;
let home: string;
before(async () => {
  ({ info, db } = await openLiveDatabase('fanout_keys'));
  home = emptyHome('fanout-keys');
});
after(() => db?.drop());

const sql = (text: string) => runSql(info, text, db.name);

/** The row `a`'s key text and its changes in the transaction below: insert, update if a % 3, delete if a % 5. */
const keyText = (a: number) => AWKWARD[a % AWKWARD.length] as string;
const changes = (a: number) => 1 + (a % 3 === 0 ? 1 : 0) + (a % 5 === 0 ? 1 : 0);

/** A plain LISTEN session on `channel` (the `pg` package, not pgnudge) that keeps every payload. */
async function rawListener(t: TestContext, channel: string): Promise<string[]> {
  const client = await superuserClient(info, db.name);
  t.after(() => client.end().catch(() => {}));
  const payloads: string[] = [];
  client.on('notification', (message) => {
    if (message.channel === channel) payloads.push(message.payload ?? '');
  });
  await client.query(`LISTEN "${channel.replaceAll('"', '""')}"`);
  return payloads;
}

for (const plugin of ['wal2json', 'test_decoding'] as const) {
  describe(`a keyed batch of ${ROWS} rows through the NOTIFY bridge with ${plugin}`, TEST, () => {
    test(
      `arrives whole: every key with its count, in one Batch split over NOTIFYs under 8000 bytes`,
      TEST,
      async (t) => {
        const skip = pluginUnavailable(info, plugin);
        if (skip) return t.skip(skip);
        const table = `keyed 10k ${plugin}`;
        const channel = `Keys 10k ${plugin} ${process.pid}`;
        await sql(`CREATE TABLE public."${table}" (a int, b text, v int, PRIMARY KEY (a, b))`);
        t.after(() => sql(`DROP TABLE public."${table}"`));
        const payloads = await rawListener(t, channel);

        const log = new LogCapture();
        // maxKeys lifted on both ends so the 10,000 rows stay rows; maxPending stays at its default, 10,000.
        const feed = new NotifyFeed({
          ...feedConnection(info, db.name, info.roles.login),
          channel,
          secret: SECRET,
          debounce: 200,
          maxKeys: ROWS,
          logger: log.logger,
        });
        t.after(() => feed.close());
        const probe = new FeedProbe(feed);
        await probe.resync('connected');
        // Long debounce and batch wait: the test is about one batch too big for one NOTIFY arriving whole,
        // not about a loaded machine streaming one transaction across two windows.
        const bridge = new CliProcess(
          [
            'bridge',
            '--channel',
            channel,
            '--keys',
            '--max-keys',
            String(ROWS),
            '--plugin',
            plugin,
            '--table',
            `public."${table}"`,
            '--dsn',
            connectionUrl(info, db.name, info.roles.replication),
            '--debounce',
            '1000',
            '--max-batch-wait',
            '60000',
          ],
          { home, env: { PGNUDGE_SECRET: SECRET }, after: (fn) => t.after(fn) },
        );
        await probe.resync('bridge', 0, 30_000);
        const mark = probe.mark();
        const listened = payloads.length;

        const cases = AWKWARD.map((text, i) => `WHEN ${i} THEN ${literal(text)}`).join(' ');
        await sql(
          `BEGIN;
         INSERT INTO public."${table}" SELECT a, CASE a % ${AWKWARD.length} ${cases} END, 0
           FROM generate_series(1, ${ROWS}) AS a;
         UPDATE public."${table}" SET v = 1 WHERE a % 3 = 0;
         DELETE FROM public."${table}" WHERE a % 5 = 0;
         COMMIT;`,
        );
        const expected = new Map<string, number>();
        let total = 0;
        for (let a = 1; a <= ROWS; a++) {
          expected.set(JSON.stringify([String(a), keyText(a)]), changes(a));
          total += changes(a);
        }
        const events = (): NudgeEvent[] =>
          probe.items
            .slice(mark)
            .flatMap((item) => (item instanceof Batch ? item.events : []))
            .filter((event) => event.table === `public.${table}`);
        const sum = () => events().reduce((n, event) => n + event.count, 0);
        await waitFor(
          () => {
            if (probe.error) throw probe.error;
            return sum() >= total || probe.items.slice(mark).some((item) => item.type === 'resync');
          },
          { timeoutMs: 60_000, what: `${total} changes over ${ROWS} keys (have ${sum()})` },
        );

        // Whole on a healthy link: no Resync, one Batch, each key exactly once with its count.
        assert.deepEqual(
          probe.items.slice(mark).map((item) => item.type),
          ['batch'],
          `one Batch and no Resync; the consumer logged: ${log.lines.map((line) => line.message).join(' | ')}`,
        );
        const got = events();
        assert.equal(got.length, ROWS, 'one event per key: none collapsed to the table');
        const seen = new Map<string, number>();
        for (const event of got) {
          assert.ok(event.key !== null, `a row event, not table-level: ${event.payload}`);
          assert.equal(event.payload, `public.${table}:${formatKey(event.key)}`);
          seen.set(JSON.stringify(event.key), event.count);
        }
        assert.equal(seen.size, ROWS, 'every key once');
        assert.deepEqual(seen, expected);
        assert.equal(sum(), total);
        assert.deepEqual(feed.dropped, {
          mac: 0,
          unsigned: 0,
          malformed: 0,
          replayed: 0,
          replaced: 0,
          stale: 0,
          future: 0,
        });

        // The bridge split that one batch into consecutive NOTIFY messages, each under 8000 bytes.
        const parts = payloads
          .slice(listened)
          .map((payload) => ({ payload, message: wireBody(payload) }))
          .filter(({ message }) => message.k === 'batch');
        assert.ok(parts.length > 1, `split into ${parts.length} messages`);
        t.diagnostic(`${ROWS} keyed events in ${parts.length} NOTIFY messages`);
        const first = parts[0]?.message;
        for (const [index, { payload, message }] of parts.entries()) {
          assert.ok(Buffer.byteLength(payload) < 8000, `${Buffer.byteLength(payload)} bytes`);
          assert.equal(message.b, first?.b);
          assert.equal(message.n, parts.length, 'one batch, all its parts');
          assert.equal(message.p, index);
          assert.equal(message.q, (first?.q ?? 0) + index);
        }
        assert.equal(
          parts.reduce((n, { message }) => n + (message.e?.length ?? 0), 0),
          ROWS,
          'the parts carry every event once',
        );
        bridge.kill('SIGTERM');
        assert.equal((await bridge.exited).code, 0, bridge.stderr);
      },
    );
  });
}

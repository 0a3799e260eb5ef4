// contract R18 against a real server: table names built to break out of START_REPLICATION's option literal,
// wal2json's add-tables syntax (`,` `.` `*` `\` whitespace) and test_decoding's relation lines are
// watched with a `tables` filter on every plugin the major has. The feed must start, every watched
// table's write must arrive under its exact payload (contract R13), and no decoy must arrive: each decoy is the
// table a broken escaping would match instead. Names that cannot be expressed are refused before any
// connection; applicationName and slot names are covered too.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { createWal2jsonDecoder } from '../../src/decode/wal2json.js';
import { ConfigError } from '../../src/errors.js';
import { formatCreateSlot, formatStartReplication, generateSlotName } from '../../src/feed/commands.js';
import { parseTableName } from '../../src/feed/tables.js';
import { WalFeed } from '../../src/index.js';
import { PgConnection } from '../../src/transport/connection.js';
import { type ClusterInfo, pluginUnavailable, runSql } from '../support/cluster.js';
import { type FeedProbe, feedConnection, openFeed } from '../support/feed-probe.js';
import { answerKeepalive, closedPort, settingsFor } from '../support/live-connection.js';
import { openLiveDatabase, type ScratchDatabase } from '../support/live-database.js';
import { waitFor, withDeadline } from '../support/wait.js';

type Name = readonly [schema: string, table: string];

// The injection each name attempts is in the comment; its decoys are what that injection would match.
const WATCHED: readonly Name[] = [
  // Closes the option literal and adds a second add-tables option with a wildcard.
  ['inj', `x', "add-tables" '*.*`],
  // Same, with a backslash first (a literal that treated \ as an escape would end one quote later).
  ['inj', `y\\', "add-tables" '*.*' --`],
  // An unescaped comma would split this into inj.x and inj.decoy_comma.
  ['inj', 'x,inj.decoy_comma'],
  // An unescaped dot in the schema would make this inj."dot.t".
  ['inj.dot', 't'],
  // A trailing backslash left alone would escape the comma that joins the next entry to it.
  ['inj', 'back\\'],
  ['next', 't'],
  // An unescaped * is wal2json's wildcard: every table, or every table of a schema.
  ['*', '*'],
  ['inj', '*'],
  // Unescaped whitespace separates entries in add-tables.
  ['inj', 'sp inj.decoy_space'],
  ['inj', 'tab\tnew\nline\rcr\vvt\fff'],
  ['inj', ' leading and trailing '],
  // test_decoding prints relations with quote_identifier: quotes, dots and ": INSERT:" inside a name.
  ['inj', 'a"."b'],
  ['inj', 'x: INSERT: id[integer]:1'],
  ['sch"ema', `it's "q"`],
  // Command punctuation.
  ['inj', 'paren(1); START_REPLICATION SLOT x LOGICAL 0/0; --'],
  // Non-ASCII, including UTF-8 bytes 0xA0 and 0x85, which some C isspace() tables call whitespace.
  ['Odd ✓ Grüße 😀', 'à Å\u00a0nbsp\u0085nel'],
  // At the limit: 63 bytes of ASCII, and 63 bytes of 3-byte characters.
  ['inj', 'l'.repeat(63)],
  ['inj', '€'.repeat(21)],
  // Created below with 32 × é (64 bytes): the server truncates at a character boundary to 31.
  ['inj', 'é'.repeat(31)],
];

const DECOYS: readonly Name[] = [
  ['public', 'decoy_wild'],
  ['inj', 'decoy_comma'],
  ['inj', 'x'],
  ['inj', 'dot.t'],
  ['inj', 'back,next.t'],
  ['inj', 'other'],
  ['*', 'other'],
  ['inj', 'sp'],
  ['inj', 'decoy_space'],
  ['inj', 'a'],
  ['inj', 'b'],
  ['inj', 'y'],
];

const MARKER: Name = ['inj', 'marker'];
const TOO_LONG = 'é'.repeat(32);

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`;
const qualified = ([schema, table]: Name) => `${ident(schema)}.${ident(table)}`;
const payload = ([schema, table]: Name) => `${schema}.${table}`;

let info: ClusterInfo;
let db: ScratchDatabase;
const sql = (text: string) => runSql(info, text, db.name);

before(async () => {
  ({ info, db } = await openLiveDatabase('injection'));
  const all = [...WATCHED.filter(([, table]) => table !== 'é'.repeat(31)), ...DECOYS, MARKER];
  const schemas = [...new Set(all.map(([schema]) => schema))];
  await sql(
    [
      ...schemas.filter((s) => s !== 'public').map((s) => `CREATE SCHEMA ${ident(s)};`),
      ...all.map((name) => `CREATE TABLE ${qualified(name)} (id int);`),
      `CREATE TABLE inj.${ident(TOO_LONG)} (id int);`,
    ].join('\n'),
  );
  const [truncated] = await runSql<{ n: string }>(
    info,
    `SELECT relname AS n FROM pg_class WHERE relname LIKE 'é%' AND relnamespace = 'inj'::regnamespace`,
    db.name,
  );
  assert.equal(truncated?.n, 'é'.repeat(31), 'the server truncates a 64-byte name to 31 × é');
});
after(() => db?.drop());

/** Payload → summed count over batches from `from` on. */
function counts(probe: FeedProbe, from: number): Map<string, number> {
  const seen = new Map<string, number>();
  for (const item of probe.items.slice(from)) {
    if (item.type !== 'batch') continue;
    for (const event of item.events) seen.set(event.payload, (seen.get(event.payload) ?? 0) + event.count);
  }
  return seen;
}

for (const plugin of ['wal2json', 'test_decoding'] as const) {
  describe(`injection-shaped names with ${plugin} (contract R18)`, { timeout: 60_000 }, () => {
    test('the feed starts, every watched table arrives exactly, and no decoy does', async (t) => {
      const skip = pluginUnavailable(info, plugin);
      if (skip) return t.skip(skip);
      const { feed, probe } = openFeed(t, {
        ...feedConnection(info, db.name),
        plugin,
        tables: [...WATCHED, MARKER].map(qualified),
      });
      await probe.resync('connected');
      assert.equal(feed.plugin, plugin);
      const mark = probe.mark();

      // Decoys first, then the watched tables, then the marker, each its own commit: the stream is in
      // commit order, so once the marker is in, any decoy would have been too.
      await sql(DECOYS.map((name) => `INSERT INTO ${qualified(name)} VALUES (1);`).join('\n'));
      await sql(WATCHED.map((name) => `INSERT INTO ${qualified(name)} VALUES (1);`).join('\n'));
      await sql(`INSERT INTO ${qualified(MARKER)} VALUES (1)`);
      await probe.counted(payload(MARKER), 1, mark);

      // One row per watched table under its exact payload; a decoy sharing a payload ("inj.dot.t")
      // would show as a count of 2, any other as an unexpected payload.
      const expected = new Map([...WATCHED, MARKER].map((name) => [payload(name), 1]));
      assert.equal(expected.size, WATCHED.length + 1, 'watched payloads are distinct');
      await waitFor(() => counts(probe, mark).size >= expected.size, {
        what: 'every watched table',
        timeoutMs: 5000,
      }).catch(() => {});
      const got = counts(probe, mark);
      const sorted = (map: Map<string, number>) => [...map].sort(([a], [b]) => (a < b ? -1 : 1));
      assert.deepEqual(sorted(got), sorted(expected));
      assert.equal(probe.error, undefined);
    });
  });
}

// The feed also filters in the client (by identity), which would hide a server-side filter that lets
// too much through. So here the library's own commands run on a bare walsender session and every
// relation wal2json sends is collected unfiltered: exactly the watched tables, nothing else.
describe('wal2json add-tables on the server (contract R14, R18)', () => {
  test('sends exactly the watched tables: no wildcard, no split, no merge', {
    timeout: 60_000,
  }, async (t) => {
    const skip = pluginUnavailable(info, 'wal2json');
    if (skip) return t.skip(skip);
    const settings = settingsFor(info, info.roles.replication, {
      database: db.name,
      ...(info.caFile ? { sslmode: 'verify-full', sslrootcert: info.caFile } : {}),
    });
    const connection = await PgConnection.connect(settings, { replication: 'database' });
    t.after(() => connection.abort());
    const slot = generateSlotName(() => randomBytes(8));
    await connection.query(formatCreateSlot(slot, 'wal2json'));
    const tables = [...WATCHED, MARKER].map((name) => parseTableName(qualified(name)));
    const decoder = createWal2jsonDecoder();
    const sent: string[] = [];
    const sink = (schema: string, table: string) => sent.push(`${schema}.${table}`);
    await withDeadline(
      connection.startReplication(formatStartReplication(slot, 'wal2json', tables), {
        xlogData: (message) => decoder.decode(message.data, sink),
        keepalive: (message) => answerKeepalive(connection, message),
      }),
      15_000,
      'START_REPLICATION with every injection-shaped name to reach CopyBoth',
    );
    await sql(DECOYS.map((name) => `INSERT INTO ${qualified(name)} VALUES (2);`).join('\n'));
    await sql(WATCHED.map((name) => `INSERT INTO ${qualified(name)} VALUES (2);`).join('\n'));
    await sql(`INSERT INTO ${qualified(MARKER)} VALUES (2)`);
    await waitFor(() => sent.includes(payload(MARKER)), {
      what: 'the marker from wal2json',
      timeoutMs: 15_000,
    });
    assert.deepEqual([...sent].sort(), [...WATCHED, MARKER].map(payload).sort());
  });
});

describe('names that cannot be expressed are refused before any connection', () => {
  const refused: [entry: string, rule: RegExp][] = [
    ['inj."a\0b"', /NUL/],
    [`inj.${ident(TOO_LONG)}`, /63-byte limit/],
    [`${ident('s'.repeat(64))}.t`, /63-byte limit/],
    ['inj."\ud800"', /lone surrogate/],
    ['inj."unterminated', /closing "/],
    ['inj.a.b', /more than two parts/],
  ];
  for (const [entry, rule] of refused) {
    test(`tables: [${JSON.stringify(entry)}]`, async () => {
      // A port nothing listens on: construction must throw before anything could try it.
      const port = await closedPort();
      assert.throws(
        () => new WalFeed({ host: '127.0.0.1', port, user: 'nobody', tables: [entry] }, { env: {} }),
        (error: unknown) =>
          error instanceof ConfigError && error.option === 'tables' && rule.test(error.message),
      );
    });
  }

  test('applicationName with a NUL', async () => {
    const port = await closedPort();
    assert.throws(
      () => new WalFeed({ host: '127.0.0.1', port, user: 'nobody', applicationName: 'a\0b' }, { env: {} }),
      (error: unknown) =>
        error instanceof ConfigError && error.option === 'applicationName' && /NUL/.test(error.message),
    );
  });
});

describe('applicationName and slot names', () => {
  test('an applicationName with quotes, a newline and SQL reaches the server as a plain value', {
    timeout: 30_000,
  }, async (t) => {
    const applicationName = `it's "q"\n; DROP TABLE inj.marker; --`;
    const { feed, probe } = openFeed(t, { ...feedConnection(info, db.name), applicationName });
    await probe.resync('connected');
    const slot = feed.slotName;
    assert.match(slot ?? '', /^pgnudge_[0-9a-f]{8,55}$/);
    const [row] = await runSql<{ name: string }>(
      info,
      `SELECT a.application_name AS name FROM pg_replication_slots s JOIN pg_stat_activity a ON a.pid = s.active_pid WHERE s.slot_name = '${slot}'`,
    );
    // The server replaces a non-printable byte: "?" before PostgreSQL 16, "\x0a" from 16 on.
    assert.ok(
      row?.name === applicationName.replace('\n', '?') ||
        row?.name === applicationName.replace('\n', '\\x0a'),
      `application_name on the server: ${JSON.stringify(row?.name)}`,
    );
    // The statement in the name did nothing.
    const [kept] = await sql("SELECT to_regclass('inj.marker') IS NOT NULL AS kept");
    assert.equal(kept?.kept, true);
  });

  test('every feed gets a fresh slot name the server accepts as is', { timeout: 30_000 }, async (t) => {
    const opened = [0, 1, 2].map(() => openFeed(t, feedConnection(info, db.name)));
    const feeds = opened.map(({ feed }) => feed);
    const probes = opened.map(({ probe }) => probe);
    await Promise.all(probes.map((probe) => probe.resync('connected')));
    const names = feeds.map((feed) => feed.slotName ?? '');
    assert.equal(new Set(names).size, 3, `distinct: ${names.join(', ')}`);
    const rows = await runSql<{ slot_name: string }>(
      info,
      `SELECT slot_name FROM pg_replication_slots WHERE slot_name IN (${names.map((n) => `'${n}'`).join(', ')})`,
    );
    assert.deepEqual(rows.map((r) => r.slot_name).sort(), [...names].sort());
    for (const name of names) assert.ok(Buffer.byteLength(name) <= 63 && /^pgnudge_[0-9a-f]+$/.test(name));
  });
});

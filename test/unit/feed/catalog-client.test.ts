// CatalogClient on a ManualClock with a connection whose answers are in the test's hands (contract R8, R20): the
// connection opens on the first question, one query is in flight at a time, a re-check waits for its
// interval on one timer, an answer releases held changes or resyncs, and a failed or unanswered lookup
// ends the session. A real server answers these queries in test/live/partitions.test.ts; only a link
// that never answers, or answers exactly when a test needs, calls for this fake.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConnectionError, type PgnudgeError, ServerError } from '../../../src/errors.js';
import { RelationCatalog } from '../../../src/feed/catalog.js';
import { CatalogClient, type CatalogConnection } from '../../../src/feed/catalog-client.js';
import type { ResyncReason } from '../../../src/feed/items.js';
import { bindLogger } from '../../../src/logger.js';
import type { QueryResult } from '../../../src/protocol/query-response.js';
import { ManualClock } from '../../support/manual-clock.js';

/** Lineages a fake catalog knows, by `schema.table`: each the relation first, root last. */
type Known = Record<string, [string, string][]>;

class FakeCatalogConnection implements CatalogConnection {
  readonly target = 'fake@catalog:5432/db';
  bytesReceived = 0;
  readonly pending: {
    sql: string;
    resolve(results: QueryResult[]): void;
    reject(error: PgnudgeError): void;
  }[] = [];
  endedWith: PgnudgeError | null = null;
  #listeners: ((error: PgnudgeError) => void)[] = [];

  query(sql: string): Promise<QueryResult[]> {
    if (this.endedWith !== null) return Promise.reject(this.endedWith);
    return new Promise((resolve, reject) => this.pending.push({ sql, resolve, reject }));
  }

  /** Answers the oldest query from `known`, as the server would. */
  answer(known: Known): void {
    const query = this.pending.shift()!;
    const asked = [...query.sql.matchAll(/\((\d+), '([^']*)', '([^']*)'\)/g)];
    const rows: string[][] = [];
    for (const [, index, schema, table] of asked) {
      const lineage = known[`${schema}.${table}`];
      for (const [depth, [s, t]] of (lineage ?? []).entries())
        rows.push([index!, 'l', String(depth + 1), s, t, 'r']);
    }
    this.bytesReceived += 1;
    query.resolve([{ tag: 'SELECT', fields: ['i', 'kind', 'n', 'nspname', 'relname', 'relkind'], rows }]);
  }

  fail(error: PgnudgeError): void {
    if (this.endedWith !== null) return;
    this.endedWith = error;
    for (const query of this.pending.splice(0)) query.reject(error);
    for (const listener of this.#listeners.splice(0)) listener(error);
  }

  abort(): void {
    this.fail(new ConnectionError('PGNUDGE_ERR_CONNECTION', 'closed by the client'));
  }

  onClose(listener: (error: PgnudgeError) => void): void {
    this.#listeners.push(listener);
  }
}

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

function setup(options: { maxHeld?: number; livenessTimeoutMs?: number | null } = {}) {
  const clock = new ManualClock();
  const connections: FakeCatalogConnection[] = [];
  const changes: [string, number, number][] = [];
  const resyncs: ResyncReason[] = [];
  const failures: PgnudgeError[] = [];
  const warnings: string[] = [];
  /** What the client last said of held changes (holding()), or null before it said anything. */
  const held = { now: null as boolean | null };
  const catalog = new RelationCatalog({
    naming: 'root',
    filter: null,
    maxHeld: options.maxHeld ?? 100,
    refreshIntervalMs: 1000,
  });
  const client = new CatalogClient({
    catalog,
    keys: false,
    connect: async () => {
      const connection = new FakeCatalogConnection();
      connections.push(connection);
      return connection;
    },
    sink: {
      change: (payload, count = 1, firstSeenMs = -1) => changes.push([payload, count, firstSeenMs]),
      changeRow: () => assert.fail('held changes are released table-level'),
      resync: (reason) => resyncs.push(reason),
      holding: (holding) => {
        held.now = holding;
      },
    },
    fail: (error) => failures.push(error),
    clock,
    timing: {
      statusIntervalMs: 100,
      livenessTimeoutMs: options.livenessTimeoutMs === undefined ? 1000 : options.livenessTimeoutMs,
    },
    log: bindLogger({ warn: (message: string) => warnings.push(message) }),
  });
  return { clock, connections, changes, resyncs, failures, warnings, held, catalog, client };
}

const KNOWN: Known = {
  'public.ev_p1': [
    ['public', 'ev_p1'],
    ['public', 'ev'],
  ],
  'public.plain': [['public', 'plain']],
};

describe('CatalogClient', () => {
  test('opens its connection on the first question only, and keeps one query in flight', async () => {
    const { clock, connections, changes, client } = setup();
    await tick();
    assert.equal(connections.length, 0, 'no question, no connection');
    const start = clock.now();
    client.hold('public', 'ev_p1');
    clock.advance(5);
    client.hold('public', 'ev_p1', 2);
    client.hold('public', 'plain');
    await tick();
    assert.equal(connections.length, 1);
    const [connection] = connections;
    assert.equal(connection!.pending.length, 1, 'one query in flight; the others wait for it');
    assert.match(connection!.pending[0]!.sql, /VALUES \(0, 'public', 'ev_p1'\)\)/);
    connection!.answer(KNOWN);
    await tick();
    assert.deepEqual(changes, [['public.ev', 3, start]]);
    assert.equal(connection!.pending.length, 1, 'the next question went out once the first was answered');
    // With a re-check of ev_p1: two of its changes came after its lookup was sent, and may predate the answer.
    assert.match(connection!.pending[0]!.sql, /VALUES \(0, 'public', 'plain'\), \(1, 'public', 'ev_p1'\)\)/);
    connection!.answer(KNOWN);
    await tick();
    assert.deepEqual(changes.at(-1), ['public.plain', 1, start + 5]);
    assert.equal(connections.length, 1, 'one connection for the session');
    client.close();
  });

  test('a re-check goes out at once, the next one not before its interval, on one timer', async () => {
    const { clock, connections, catalog, client } = setup();
    catalog.learn(
      { schema: 'public', table: 'plain' },
      { lineage: [{ schema: 'public', table: 'plain' }], partitioned: false, key: null },
    );
    const entry = catalog.entry('public', 'plain')!;
    client.use(entry);
    await tick();
    connections[0]!.answer(KNOWN);
    await tick();
    client.use(entry);
    await tick();
    assert.equal(connections[0]!.pending.length, 0, 'deferred');
    assert.equal(clock.pendingTimers, 1);
    clock.advance(999);
    await tick();
    assert.equal(connections[0]!.pending.length, 0);
    clock.advance(1);
    await tick();
    assert.equal(connections[0]!.pending.length, 1, 're-checked when the interval passed');
    client.close();
  });

  test("an answer that contradicts the cache resyncs (Resync('overflow'))", async () => {
    const { connections, resyncs, catalog, client } = setup();
    catalog.learn(
      { schema: 'public', table: 'plain' },
      { lineage: [{ schema: 'public', table: 'plain' }], partitioned: false, key: null },
    );
    client.use(catalog.entry('public', 'plain')!);
    await tick();
    connections[0]!.answer({
      'public.plain': [
        ['public', 'plain'],
        ['public', 'ev'],
      ],
    });
    await tick();
    assert.deepEqual(resyncs, ['overflow']);
    assert.equal(catalog.entry('public', 'plain')?.payload, 'public.ev');
    client.close();
  });

  test('it tells the sink it holds changes from the first held until the last is released', async () => {
    const { connections, changes, held, client } = setup();
    assert.equal(held.now, null);
    client.hold('public', 'ev_p1');
    assert.equal(held.now, true, 'at once: the debounce must not close the batch meanwhile');
    await tick();
    client.hold('public', 'plain');
    connections[0]!.answer(KNOWN);
    await tick();
    assert.deepEqual(
      changes.map(([payload]) => payload),
      ['public.ev'],
    );
    assert.equal(held.now, true, 'plain still waits for the next answer');
    connections[0]!.answer(KNOWN);
    await tick();
    assert.deepEqual(
      changes.map(([payload]) => payload),
      ['public.ev', 'public.plain'],
    );
    assert.equal(held.now, false, 'all released');
    client.hold('public', 'gone');
    assert.equal(held.now, true);
    client.close();
    assert.equal(held.now, false, 'what a closed client held is gone with its session');
  });

  test('past the bound of held relations, everything held becomes one Resync', async () => {
    const { resyncs, warnings, held, catalog, client } = setup({ maxHeld: 2 });
    client.hold('s', 'a');
    client.hold('s', 'b');
    client.hold('s', 'c');
    assert.equal(held.now, false, 'nothing held once dropped');
    assert.deepEqual(resyncs, ['overflow']);
    assert.equal(catalog.heldRelations, 0);
    assert.match(warnings[0] ?? '', /changes to 2 relations unknown to the cache/);
    client.close();
  });

  test('a failed lookup ends the session with its error and closes the connection', async () => {
    const { connections, failures, changes, client } = setup();
    client.hold('public', 'plain');
    await tick();
    const error = new ServerError({ severity: 'ERROR', sqlState: '57014', message: 'canceling statement' });
    connections[0]!.pending[0]!.reject(error);
    await tick();
    assert.deepEqual(failures, [error]);
    assert.ok(connections[0]!.endedWith, 'closed');
    client.hold('public', 'plain');
    await tick();
    assert.equal(connections.length, 1, 'a closed client asks nothing');
    assert.deepEqual(changes, []);
  });

  test('a lookup never answered fails the session after livenessTimeout, naming it', async () => {
    const { clock, connections, failures, client } = setup({ livenessTimeoutMs: 1000 });
    client.hold('public', 'plain');
    await tick();
    clock.advance(1100);
    await tick();
    assert.equal(failures.length, 1);
    assert.equal(failures[0]!.code, 'PGNUDGE_ERR_LIVENESS_TIMEOUT');
    assert.match(failures[0]!.message, /no answer to the catalog lookup from fake@catalog/);
    assert.equal(clock.pendingTimers, 0, 'no timer left');
    assert.ok(connections[0]!.endedWith);
  });

  test('without livenessTimeout a lookup waits as long as it takes', async () => {
    const { clock, connections, failures, changes, client } = setup({ livenessTimeoutMs: null });
    client.hold('public', 'plain');
    await tick();
    clock.advance(3_600_000);
    connections[0]!.answer(KNOWN);
    await tick();
    assert.deepEqual([failures, changes.length], [[], 1]);
    client.close();
  });

  test('a connection that ends while idle is opened again by the next question', async () => {
    const { connections, failures, changes, client } = setup();
    client.hold('public', 'plain');
    await tick();
    connections[0]!.answer(KNOWN);
    await tick();
    connections[0]!.fail(new ConnectionError('PGNUDGE_ERR_CONNECTION', 'idle_session_timeout'));
    client.hold('public', 'ev_p1');
    await tick();
    assert.equal(connections.length, 2);
    connections[1]!.answer(KNOWN);
    await tick();
    assert.deepEqual([failures, changes.map(([payload]) => payload)], [[], ['public.plain', 'public.ev']]);
    client.close();
  });

  test('close() ends the connection and the timer; a late answer changes nothing', async () => {
    const { clock, connections, changes, failures, catalog, client } = setup();
    catalog.learn(
      { schema: 'public', table: 'plain' },
      { lineage: [{ schema: 'public', table: 'plain' }], partitioned: false, key: null },
    );
    client.use(catalog.entry('public', 'plain')!);
    await tick();
    connections[0]!.answer(KNOWN);
    await tick();
    client.use(catalog.entry('public', 'plain')!);
    assert.equal(clock.pendingTimers, 1, 'the deferred re-check');
    client.close();
    assert.equal(clock.pendingTimers, 0);
    assert.ok(connections[0]!.endedWith);
    clock.advance(5000);
    await tick();
    assert.deepEqual([connections.length, failures], [1, []]);

    const inFlight = setup();
    inFlight.client.hold('public', 'plain');
    await tick();
    assert.equal(inFlight.clock.pendingTimers, 1, "the lookup's watchdog");
    inFlight.client.close();
    await tick();
    assert.equal(inFlight.clock.pendingTimers, 0);
    assert.deepEqual([inFlight.changes, inFlight.failures, changes], [[], [], []]);
  });
});

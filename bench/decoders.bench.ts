// Per-row cost of the plugin decoders (and the engine's intake) on realistic 10-column row messages,
// as in a 1,000,000-row transaction: wal2json, test_decoding and pgoutput (full row, binary, key-only). Prints rows/s and ns/row; asserts nothing.

import type { ChangeOp, Decoder, RowImages } from '../src/decode/change.js';
import { createPgoutputDecoder, type PgoutputSink } from '../src/decode/pgoutput.js';
import { createTestDecodingDecoder } from '../src/decode/test-decoding.js';
import { createWal2jsonDecoder } from '../src/decode/wal2json.js';
import { BatchEngine } from '../src/feed/batch-engine.js';
import type { Clock } from '../src/feed/clock.js';
import { LineageResolver } from '../src/feed/relation-lineage.js';
import { RowEvents } from '../src/feed/row-events.js';
import * as pgoutput from '../test/support/pgoutput-bytes.js';

const ROWS = Number(process.env.PGNUDGE_BENCH_ROWS ?? 1_000_000);
const encoder = new TextEncoder();

const COLUMNS: [name: string, type: string, json: string, text: string][] = [
  ['id', 'bigint', '1234567', '1234567'],
  ['customer_id', 'integer', '4242', '4242'],
  ['status', 'text', '"shipped"', "'shipped'"],
  ['total', 'numeric(12,2)', '199.95', '199.95'],
  ['currency', 'character(3)', '"EUR"', "'EUR'"],
  ['note', 'text', '"leave at the door, ring twice"', "'leave at the door, ring twice'"],
  ['paid', 'boolean', 'true', 'true'],
  [
    'created_at',
    'timestamp with time zone',
    '"2024-05-01 10:00:00.123456+00"',
    "'2024-05-01 10:00:00.123456+00'",
  ],
  [
    'updated_at',
    'timestamp with time zone',
    '"2024-05-01 10:05:00.654321+00"',
    "'2024-05-01 10:05:00.654321+00'",
  ],
  ['payload', 'jsonb', '"{\\"sku\\": \\"A-1\\", \\"qty\\": 2}"', '\'{"sku": "A-1", "qty": 2}\''],
];

function wal2jsonRow(schema: string, table: string): Uint8Array {
  // As requested by formatStartReplication: format 2, no transaction records, no types.
  const columns = COLUMNS.map(([name, , json]) => `{"name":"${name}","value":${json}}`).join(',');
  return encoder.encode(`{"action":"I","schema":"${schema}","table":"${table}","columns":[${columns}]}`);
}

function testDecodingRow(relation: string): Uint8Array {
  const columns = COLUMNS.map(([name, type, , text]) => `${name}[${type}]:${text}`).join(' ');
  return encoder.encode(`table ${relation}: INSERT: ${columns}`);
}

function measure(label: string, messages: Uint8Array[], decoder: Decoder): void {
  let sunk = 0;
  const sink = () => {
    sunk++;
  };
  // Warm up the JIT before timing.
  for (let i = 0; i < 100_000; i++) decoder.decode(messages[i % messages.length]!, sink);
  sunk = 0;
  const start = process.hrtime.bigint();
  for (let i = 0; i < ROWS; i++) decoder.decode(messages[i % messages.length]!, sink);
  const ns = Number(process.hrtime.bigint() - start);
  if (sunk !== ROWS) throw new Error(`${label}: ${sunk} changes for ${ROWS} rows`);
  const bytes = messages[0]!.byteLength;
  console.log(
    `${label.padEnd(52)} ${(ns / ROWS).toFixed(1).padStart(7)} ns/row ${Math.round((ROWS * 1e9) / ns)
      .toLocaleString('en-US')
      .padStart(12)} rows/s  (${bytes} B/row)`,
  );
}

// pgoutput sends the same row as TupleData: text values as the type's output, or with `binary` the
// type's send format (sizes as PostgreSQL's send functions write them).
const BINARY: Uint8Array[] = [
  new Uint8Array(8),
  new Uint8Array(4),
  encoder.encode('shipped'),
  new Uint8Array(12),
  encoder.encode('EUR'),
  encoder.encode('leave at the door, ring twice'),
  Uint8Array.of(1),
  new Uint8Array(8),
  new Uint8Array(8),
  encoder.encode('\x01{"sku": "A-1", "qty": 2}'),
];
const TEXT = COLUMNS.map(([, , , text]) => text.replace(/^'|'$/g, ''));

function pgoutputRelation(oid: number, table: string, columns: number, xid?: number): Uint8Array {
  return pgoutput.relation(
    {
      oid,
      schema: 'public',
      table,
      columns: COLUMNS.slice(0, columns).map(([name], i) => ({ name, key: i === 0 })),
    },
    xid,
  );
}

/**
 * Per-row cost of the pgoutput decoder: `setup` opens the transaction (and describes the relations),
 * then `rows` repeat; `finish` ends it (releasing what a stream held). The sink sums counts.
 */
function measurePgoutput(
  label: string,
  setup: Uint8Array[],
  rows: Uint8Array[],
  finish: Uint8Array[] = [],
): void {
  let sunk = 0;
  const sink: PgoutputSink = {
    change: (_relation, _op, count) => {
      sunk += count;
    },
    overflow: () => {
      throw new Error(`${label}: overflow`);
    },
  };
  const decoder = createPgoutputDecoder();
  for (const message of setup) decoder.decode(message, sink);
  for (let i = 0; i < 100_000; i++) decoder.decode(rows[i % rows.length]!, sink);
  const start = process.hrtime.bigint();
  for (let i = 0; i < ROWS; i++) decoder.decode(rows[i % rows.length]!, sink);
  for (const message of finish) decoder.decode(message, sink);
  const ns = Number(process.hrtime.bigint() - start);
  if (sunk !== ROWS + 100_000) throw new Error(`${label}: ${sunk} changes for ${ROWS + 100_000} rows`);
  const bytes = rows[0]!.byteLength;
  console.log(
    `${label.padEnd(52)} ${(ns / ROWS).toFixed(1).padStart(7)} ns/row ${Math.round((ROWS * 1e9) / ns)
      .toLocaleString('en-US')
      .padStart(12)} rows/s  (${bytes} B/row)`,
  );
}

const manyTables = Array.from({ length: 64 }, (_, i) => `t${i}`);

console.log(`decoders, ${ROWS.toLocaleString('en-US')} rows each`);
measure('wal2json: one table', [wal2jsonRow('public', 'orders')], createWal2jsonDecoder());
measure('wal2json: odd identifier', [wal2jsonRow('Odd Schema', 'Tab.le ✓ \\"q\\"')], createWal2jsonDecoder());
measure(
  'wal2json: 2 tables interleaved',
  [wal2jsonRow('public', 'orders'), wal2jsonRow('public', 'order_items')],
  createWal2jsonDecoder(),
);
measure(
  'wal2json: 64 tables round-robin (cache misses)',
  manyTables.map((t) => wal2jsonRow('public', t)),
  createWal2jsonDecoder(),
);
measure('test_decoding: one table', [testDecodingRow('public.orders')], createTestDecodingDecoder());
measure(
  'test_decoding: odd identifier',
  [testDecodingRow('"Odd Schema"."Tab.le ✓ ""q"""')],
  createTestDecodingDecoder(),
);
measure(
  'test_decoding: 2 tables interleaved',
  [testDecodingRow('public.orders'), testDecodingRow('public.order_items')],
  createTestDecodingDecoder(),
);
measure(
  'test_decoding: 64 tables round-robin (cache misses)',
  manyTables.map((t) => testDecodingRow(`public.${t}`)),
  createTestDecodingDecoder(),
);

const ORDERS_OID = 16_384;
measurePgoutput(
  'pgoutput: one table',
  [pgoutput.begin(1), pgoutputRelation(ORDERS_OID, 'orders', 10)],
  [pgoutput.insert(ORDERS_OID, TEXT)],
);
measurePgoutput(
  'pgoutput: one table, binary',
  [pgoutput.begin(1), pgoutputRelation(ORDERS_OID, 'orders', 10)],
  [pgoutput.insert(ORDERS_OID, BINARY)],
);
measurePgoutput(
  'pgoutput: one table, key-only publication',
  [pgoutput.begin(1), pgoutputRelation(ORDERS_OID, 'orders', 1)],
  [pgoutput.insert(ORDERS_OID, TEXT.slice(0, 1))],
);
measurePgoutput(
  'pgoutput: 64 tables round-robin',
  [pgoutput.begin(1), ...manyTables.map((t, i) => pgoutputRelation(ORDERS_OID + i, t, 10))],
  manyTables.map((_, i) => pgoutput.insert(ORDERS_OID + i, TEXT)),
);
measurePgoutput(
  'pgoutput: one table, streamed (held until commit)',
  [pgoutput.streamStart(700, true), pgoutputRelation(ORDERS_OID, 'orders', 10, 700)],
  [pgoutput.insert(ORDERS_OID, TEXT, 700)],
  [pgoutput.streamStop(), pgoutput.streamCommit(700)],
);

// The engine's intake, for scale: change() per row with a real-time clock, no timers firing.
const clock: Clock = { now: () => Date.now(), setTimer: () => 0, clearTimer: () => undefined };
const engine = new BatchEngine({
  clock,
  debounceMs: 50,
  maxBatchWaitMs: 1000,
  maxPending: 10_000,
  maxKeys: 1000,
  failsafeMs: null,
  onReadable: () => undefined,
});
const start = process.hrtime.bigint();
for (let i = 0; i < ROWS; i++) engine.change('public.orders');
const ns = Number(process.hrtime.bigint() - start);
console.log(`${'engine.change(): one payload'.padEnd(52)} ${(ns / ROWS).toFixed(1).padStart(7)} ns/row`);
// Row keys (contract R24): 1000 rows, each changed ROWS / 1000 times, the keys made beforehand as a
// decoder makes each row's key once.
engine.resync('failsafe');
const keys = Array.from({ length: 1000 }, (_, i) => [String(i)]);
const keyedStart = process.hrtime.bigint();
for (let i = 0; i < ROWS; i++) engine.changeRow('public.orders', keys[i % 1000]!);
const keyedNs = Number(process.hrtime.bigint() - keyedStart);
console.log(
  `${'engine.changeRow(): 1000 rows of one table'.padEnd(52)} ${(keyedNs / ROWS).toFixed(1).padStart(7)} ns/row`,
);

// The whole intake of compare.bench's 1,000,000-row transaction with test_decoding, table-level and with
// row keys (issue 15): decoder, RowEvents and engine over the bulk table's lines (a bigint primary key and a
// timestamp), each row its own key. A batch ends every BATCH_ROWS rows, as maxBatchWait ends them during
// the real drain, so each batch keeps maxKeys rows and folds the rest.
const BATCH_ROWS = 20_000;
const bulkLines = Array.from({ length: BATCH_ROWS }, (_, i) =>
  encoder.encode(
    `table public.bulk: INSERT: id[bigint]:${1_000_000 + i} updated_at[timestamp with time zone]:'2026-12-04 19:14:16.${String(i).padStart(6, '0')}+00'`,
  ),
);
const KEY_COLUMNS = ['id'];

/** The engine an intake feeds: maxKeys 1000, no timer ever fires. */
function intakeEngine(): BatchEngine {
  return new BatchEngine({
    clock,
    debounceMs: 50,
    maxBatchWaitMs: 1000,
    maxPending: 10_000,
    maxKeys: 1000,
    failsafeMs: null,
    onReadable: () => undefined,
  });
}

/**
 * Times `decodeRow(i)` over ROWS rows (after 100,000 to warm up), a batch ending every BATCH_ROWS rows,
 * and checks that every row reached `intake`.
 */
function timeIntake(label: string, intake: BatchEngine, decodeRow: (i: number) => void): void {
  const run = (rows: number) => {
    for (let i = 0; i < rows; i++) {
      if (i % BATCH_ROWS === 0) intake.resync('failsafe');
      decodeRow(i % BATCH_ROWS);
    }
  };
  run(100_000);
  const before = intake.changesReceived;
  const begun = process.hrtime.bigint();
  run(ROWS);
  const took = Number(process.hrtime.bigint() - begun);
  if (intake.changesReceived - before !== ROWS) throw new Error(`${label}: changes went missing`);
  console.log(`${label.padEnd(52)} ${(took / ROWS).toFixed(1).padStart(7)} ns/row`);
}
function measureIntake(label: string, keyed: boolean): void {
  const intake = intakeEngine();
  const rowEvents = new RowEvents(intake);
  const decoder = createTestDecodingDecoder();
  const readMs = clock.now();
  const sink = keyed
    ? (_schema: string, _table: string, op: ChangeOp, rows?: RowImages) =>
        rowEvents.change('public.bulk', KEY_COLUMNS, op, rows, readMs)
    : () => intake.change('public.bulk', 1, undefined, readMs);
  timeIntake(label, intake, (i) => decoder.decode(bulkLines[i]!, sink));
}
measureIntake('intake, test_decoding bulk rows: table-level', false);
measureIntake('intake, test_decoding bulk rows: keys, maxKeys 1000', true);

// The same intake with pgoutput (issue 16's wiring as pgoutput-session.ts builds it): decoder, lineage
// resolver (placed once, up front) and engine, over the bulk table's Insert messages.
const BULK_OID = 16_500;
const bulkInserts = Array.from({ length: BATCH_ROWS }, (_, i) =>
  pgoutput.insert(BULK_OID, [String(1_000_000 + i), `2026-12-04 19:14:16.${String(i).padStart(6, '0')}+00`]),
);
async function measurePgoutputIntake(label: string, keyed: boolean): Promise<void> {
  // The session reads the clock once per socket read; the whole run is one read here.
  const readMs = clock.now();
  const intake = intakeEngine();
  const resolver = new LineageResolver({
    lookup: async (oids) => ({
      lineages: new Map(oids.map((oid) => [oid, [{ schema: 'public', table: 'bulk' }]])),
      keys: keyed ? new Map(oids.map((oid) => [oid, ['id']])) : null,
      running: new Set(),
    }),
    committedXid: () => 0,
    later: () => undefined,
    emit: (payload, count, firstSeenMs) =>
      firstSeenMs === undefined
        ? intake.change(payload, count, undefined, readMs)
        : intake.change(payload, count, firstSeenMs),
    emitRow: (table, key, count, firstSeenMs) =>
      firstSeenMs === undefined
        ? intake.changeRow(table, key, count, undefined, readMs)
        : intake.changeRow(table, key, count, firstSeenMs),
    rowsFolded: (table) => intake.rowsFolded(table),
    maxKeys: keyed ? 1000 : null,
    resync: (why) => {
      throw new Error(`${label}: ${why}`);
    },
    fail: (error) => {
      throw error;
    },
    filter: null,
    naming: 'root',
    now: () => clock.now(),
    maxParked: 100,
  });
  const decoder = createPgoutputDecoder({ maxHeldKeysPerRelation: 1000 });
  const sink: PgoutputSink = {
    change: (relation, _op, count) => resolver.change(relation, count),
    overflow: () => {
      throw new Error(`${label}: overflow`);
    },
  };
  if (keyed) {
    sink.keyColumns = (relation) => resolver.keyColumns(relation);
    sink.rowsFolded = (relation) => resolver.rowsFolded(relation);
    sink.row = (relation, key, count) => resolver.changeRow(relation, key, count);
  }
  decoder.decode(pgoutput.begin(1), sink);
  decoder.decode(
    pgoutput.relation({
      oid: BULK_OID,
      schema: 'public',
      table: 'bulk',
      columns: [
        { name: 'id', key: true },
        { name: 'updated_at', key: false },
      ],
    }),
    sink,
  );
  decoder.decode(bulkInserts[0]!, sink);
  // The look-up answers on a later turn: then the relation is placed.
  await new Promise((resolve) => setImmediate(resolve));
  timeIntake(label, intake, (i) => decoder.decode(bulkInserts[i]!, sink));
}
await measurePgoutputIntake('intake, pgoutput bulk rows: table-level', false);
await measurePgoutputIntake('intake, pgoutput bulk rows: keys, maxKeys 1000', true);

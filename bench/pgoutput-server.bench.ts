// What pgoutput's options cost the server: one N-row transaction into a 10-column table, decoded
// through pg_logical_slot_peek_binary_changes (the plugin code a walsender runs, minus the socket)
// with text or binary values, through a full publication or a key-only column list, test_decoding
// and (where the server has it, PostgreSQL 15 here) wal2json with pgnudge's options for scale. Reports the median wall time of the decoding backend and the bytes it produced per row.
// Prints figures; asserts nothing.
//   PGNUDGE_BENCH_PG=17          the major to boot (default: the newest installed)
//   PGNUDGE_BENCH_ROWS=200000    rows in the transaction
//   PGNUDGE_BENCH_REPS=5         decodes per variant, interleaved across variants (medians reported)
import { Cluster, SUPPORTED_MAJORS, scratchDatabase, serverInstall } from '../test/support/cluster.js';

const ROWS = Number(process.env.PGNUDGE_BENCH_ROWS ?? 200_000);
const REPS = Number(process.env.PGNUDGE_BENCH_REPS ?? 5);
const major = Number(
  process.env.PGNUDGE_BENCH_PG ?? [...SUPPORTED_MAJORS].reverse().find((m) => serverInstall(m) !== null),
);

const VARIANTS: { label: string; slot: string; plugin: string; options: string[] }[] = [
  { label: 'test_decoding', slot: 'b_td', plugin: 'test_decoding', options: ['skip-empty-xacts', '1'] },
  {
    label: 'pgoutput, full row, text',
    slot: 'b_text',
    plugin: 'pgoutput',
    options: ['publication_names', 'full'],
  },
  {
    label: 'pgoutput, full row, binary',
    slot: 'b_bin',
    plugin: 'pgoutput',
    options: ['publication_names', 'full', 'binary', 'true'],
  },
  {
    label: 'pgoutput, key-only, text',
    slot: 'b_keys',
    plugin: 'pgoutput',
    options: ['publication_names', 'keys'],
  },
  {
    label: 'pgoutput, key-only, binary',
    slot: 'b_keys_bin',
    plugin: 'pgoutput',
    options: ['publication_names', 'keys', 'binary', 'true'],
  },
];

const cluster = await Cluster.start({ major });
if (cluster.info.plugins.includes('wal2json')) {
  VARIANTS.unshift({
    label: 'wal2json',
    slot: 'b_w2j',
    plugin: 'wal2json',
    options: ['format-version', '2', 'include-transaction', 'false', 'include-types', 'false'],
  });
}
try {
  const db = await scratchDatabase(cluster.info, 'bench');
  await cluster.sql(
    `CREATE TABLE public.orders (id bigint PRIMARY KEY, customer_id int, status text, total numeric(12,2),
       currency char(3), note text, paid boolean, created_at timestamptz, updated_at timestamptz, payload jsonb);
     CREATE PUBLICATION full_pub FOR TABLE public.orders;
     CREATE PUBLICATION keys_pub FOR TABLE public.orders (id);`,
    db.name,
  );
  const client = cluster.client(db.name);
  await client.connect();
  try {
    for (const variant of VARIANTS) {
      await client.query('SELECT pg_create_logical_replication_slot($1, $2, true)', [
        variant.slot,
        variant.plugin,
      ]);
    }
    await client.query(
      `INSERT INTO public.orders SELECT g, g % 5000, 'shipped', 199.95, 'EUR', 'leave at the door, ring twice', true,
         '2024-05-01 10:00:00.123456+00', '2024-05-01 10:05:00.654321+00', '{"sku": "A-1", "qty": 2}'
       FROM generate_series(1, ${ROWS}) g`,
    );
    const times = new Map<string, number[]>();
    const bytes = new Map<string, number>();
    for (let rep = 0; rep < REPS; rep++) {
      for (const variant of VARIANTS) {
        const options =
          variant.plugin === 'pgoutput'
            ? ['proto_version', major >= 16 ? '4' : '3', ...variant.options]
            : variant.options;
        const named = options.map((o) => (o === 'full' ? 'full_pub' : o === 'keys' ? 'keys_pub' : o));
        const start = process.hrtime.bigint();
        const { rows } = await client.query<{ n: string; b: string }>(
          'SELECT count(*) AS n, sum(length(data)) AS b FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, VARIADIC $2::text[])',
          [variant.slot, named],
        );
        const ms = Number(process.hrtime.bigint() - start) / 1e6;
        times.set(variant.label, [...(times.get(variant.label) ?? []), ms]);
        bytes.set(variant.label, Number(rows[0]!.b));
      }
    }
    console.log(
      `PostgreSQL ${cluster.info.version}: one ${ROWS.toLocaleString('en-US')}-row transaction, ${REPS} decodes each`,
    );
    for (const variant of VARIANTS) {
      const sorted = [...times.get(variant.label)!].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)]!;
      console.log(
        `${variant.label.padEnd(30)} ${median.toFixed(0).padStart(7)} ms  ${((median * 1e6) / ROWS).toFixed(0).padStart(6)} ns/row  ${(bytes.get(variant.label)! / ROWS).toFixed(1).padStart(6)} B/row`,
      );
    }
  } finally {
    await client.end();
  }
} finally {
  cluster.stop();
}

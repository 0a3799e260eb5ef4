// Records pgoutput's bytes for the workload (test/support/pgoutput-workload.ts) on one major: boots a
// cluster of its own (max_prepared_transactions for PREPARE, logical_decoding_work_mem = 64kB so
// large transactions stream), creates one temporary slot per capture before the workload, runs it,
// then reads each slot with pg_logical_slot_peek_binary_changes: the same messages a walsender sends
// as XLogData payloads, one row each. Used by scripts/capture-pgoutput.mjs; the files it writes are
// described in test/fixtures/pgoutput/README.md.
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Cluster, repoPath, scratchDatabase } from './cluster.js';
import { PUBLICATIONS, type PublicationKind, runSteps, SETUP_SQL } from './pgoutput-workload.js';

/** One way of reading the workload: which publication, and which pgoutput options. */
export interface Capture {
  readonly name: string;
  readonly publication: PublicationKind;
  /** `max`: the highest the server speaks (3 on 15, 4 on 16+). */
  readonly protoVersion: 1 | 4 | 'max';
  readonly streaming: 'off' | 'on' | 'parallel';
  readonly binary: boolean;
  readonly messages: boolean;
  /** Slot created with two_phase, and pgoutput started with two_phase 'on'. */
  readonly twoPhase: boolean;
  /** Oldest major that has it. */
  readonly since: number;
}

export const CAPTURES: readonly Capture[] = [
  {
    name: 'stream',
    publication: 'all',
    protoVersion: 'max',
    streaming: 'on',
    binary: false,
    messages: true,
    twoPhase: false,
    since: 15,
  },
  {
    name: 'root',
    publication: 'root',
    protoVersion: 'max',
    streaming: 'on',
    binary: false,
    messages: false,
    twoPhase: false,
    since: 15,
  },
  {
    name: 'keys',
    publication: 'keys',
    protoVersion: 'max',
    streaming: 'on',
    binary: true,
    messages: false,
    twoPhase: false,
    since: 15,
  },
  {
    name: 'twophase',
    publication: 'all',
    protoVersion: 'max',
    streaming: 'on',
    binary: false,
    messages: false,
    twoPhase: true,
    since: 15,
  },
  {
    name: 'v1',
    publication: 'all',
    protoVersion: 1,
    streaming: 'off',
    binary: false,
    messages: false,
    twoPhase: false,
    since: 15,
  },
  {
    name: 'parallel',
    publication: 'all',
    protoVersion: 4,
    streaming: 'parallel',
    binary: false,
    messages: false,
    twoPhase: false,
    since: 16,
  },
];

/** The protocol version a capture used on `major`. */
export function protoVersionOf(capture: Capture, major: number): number {
  return capture.protoVersion === 'max' ? (major >= 16 ? 4 : 3) : capture.protoVersion;
}

/** pgoutput's options for `capture` on `major`, as the (name, value) list the SQL functions take. */
export function captureOptions(capture: Capture, major: number): string[] {
  const name = PUBLICATIONS[capture.publication];
  const options = [
    'proto_version',
    String(protoVersionOf(capture, major)),
    'publication_names',
    `"${name.replaceAll('"', '""')}"`,
    'messages',
    String(capture.messages),
    'binary',
    String(capture.binary),
  ];
  if (capture.streaming !== 'off') options.push('streaming', capture.streaming);
  if (capture.twoPhase) options.push('two_phase', 'on');
  return options;
}

/** Where a major's fixtures live. */
export function fixtureDir(major: number): string {
  return repoPath('test', 'fixtures', 'pgoutput', String(major));
}

/** One fixture file: each message as a big-endian Int32 length and its bytes, gzipped. */
export function encodeMessages(messages: readonly Uint8Array[]): Buffer {
  const parts: Buffer[] = [];
  for (const message of messages) {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(message.byteLength);
    parts.push(length, Buffer.from(message));
  }
  return gzipSync(Buffer.concat(parts), { level: 9 });
}

/** The messages of a fixture file. */
export function decodeMessages(file: Uint8Array): Uint8Array[] {
  const messages: Uint8Array[] = [];
  const view = gunzipSync(file);
  for (let i = 0; i < view.length; ) {
    const length = view.readUInt32BE(i);
    messages.push(view.subarray(i + 4, i + 4 + length));
    i += 4 + length;
  }
  return messages;
}

/** The manifest of a major's fixtures. */
export interface Manifest {
  server_version: string;
  captures: Record<string, { options: string[]; slot_two_phase: boolean; messages: number; bytes: number }>;
}

/** The captures recorded for `major`, with their messages. */
export function loadFixtures(major: number): { manifest: Manifest; messages: Map<string, Uint8Array[]> } {
  const dir = fixtureDir(major);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  const messages = new Map<string, Uint8Array[]>();
  for (const name of Object.keys(manifest.captures)) {
    messages.set(name, decodeMessages(readFileSync(join(dir, `${name}.bin.gz`))));
  }
  return { manifest, messages };
}

/** The majors that have fixtures. */
export function fixtureMajors(): number[] {
  return readdirSync(repoPath('test', 'fixtures', 'pgoutput'), { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && /^\d+$/.test(entry.name))
    .map((entry) => Number(entry.name))
    .sort((a, b) => a - b);
}

/** Boots `major`, runs the workload, and writes its fixtures (replacing any). Returns the manifest. */
export async function captureMajor(major: number): Promise<Manifest> {
  const cluster = await Cluster.start({
    major,
    settings: { max_prepared_transactions: 8, logical_decoding_work_mem: "'64kB'" },
  });
  try {
    const db = await scratchDatabase(cluster.info, 'capture');
    await cluster.sql(SETUP_SQL, db.name);
    const captures = CAPTURES.filter((capture) => major >= capture.since);
    const reader = cluster.client(db.name);
    await reader.connect();
    try {
      // Temporary slots belong to this session, which must also be the one that reads them.
      for (const capture of captures) {
        await reader.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput', true, $2)", [
          `capture_${capture.name}`,
          capture.twoPhase,
        ]);
      }
      await runSteps(() => cluster.client(db.name));
      const dir = fixtureDir(major);
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      const manifest: Manifest = { server_version: cluster.info.version, captures: {} };
      for (const capture of captures) {
        const options = captureOptions(capture, major);
        const { rows } = await reader.query<{ data: Buffer }>(
          'SELECT data FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, VARIADIC $2::text[])',
          [`capture_${capture.name}`, options],
        );
        writeFileSync(join(dir, `${capture.name}.bin.gz`), encodeMessages(rows.map((row) => row.data)));
        manifest.captures[capture.name] = {
          options,
          slot_two_phase: capture.twoPhase,
          messages: rows.length,
          bytes: rows.reduce((sum, row) => sum + row.data.length, 0),
        };
      }
      writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
      return manifest;
    } finally {
      await reader.end();
    }
  } finally {
    cluster.stop();
  }
}

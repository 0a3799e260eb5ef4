// The fuzz targets as plain functions from input bytes to a JSON-able outcome, shared by the
// regression-fixture replay (test/fuzz/fixtures.test.ts) and the script that records a fixture
// (scripts/fuzz-fixture.mjs). An outcome is what a fixture pins: frames, changes, or a typed error.
import type { ChangeOp, Decoder } from '../../src/decode/change.js';
import { createPgoutputDecoder, type PgoutputDecoder } from '../../src/decode/pgoutput.js';
import { createTestDecodingDecoder } from '../../src/decode/test-decoding.js';
import { createWal2jsonDecoder } from '../../src/decode/wal2json.js';
import { PgnudgeError } from '../../src/errors.js';
import { parseBackendMessage } from '../../src/protocol/backend.js';
import { FrameDecoder } from '../../src/protocol/frame-decoder.js';
import { parseReplicationMessage } from '../../src/protocol/replication.js';

/** A typed error, by class name and the byte offset it reported (when it has one). */
export interface ErrorOutcome {
  error: string;
  offset?: number;
}

/** What one input did. `leak` marks a throw that is not a PgnudgeError: always a bug. */
export type Outcome =
  | ErrorOutcome
  | { frames: [number, string][]; buffered: number; error?: ErrorOutcome }
  | { changes: [string, string, ChangeOp][] }
  | { nudges: [string, ChangeOp, number][]; overflows: number }
  | { message: unknown }
  | { leak: string };

/** The targets fixtures can name (the directory under test/fixtures/fuzz/). */
export const TARGETS = [
  'frame-decoder',
  'backend-message',
  'replication-message',
  'wal2json',
  'test_decoding',
  'pgoutput',
] as const;
export type Target = (typeof TARGETS)[number];

function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function errorOutcome(error: unknown): ErrorOutcome | { leak: string } {
  if (!(error instanceof PgnudgeError)) {
    return { leak: `${(error as Error)?.name}: ${(error as Error)?.message ?? String(error)}` };
  }
  const offset = (error as { offset?: unknown }).offset;
  return typeof offset === 'number' ? { error: error.name, offset } : { error: error.name };
}

/** Uint8Array fields become hex, bigints decimal strings, so a parsed message compares as JSON. */
function plain(value: unknown): unknown {
  if (value instanceof Uint8Array) return hexOf(value);
  if (typeof value === 'bigint') return value.toString();
  if (Array.isArray(value)) return value.map(plain);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, plain(v)]));
  }
  return value;
}

/** Pushes `chunks` in order and drains frames after each; one outcome for the whole stream. */
function runFrameDecoder(chunks: Uint8Array[], maxFrameLength?: number): Outcome {
  const frames: [number, string][] = [];
  let decoder: FrameDecoder | undefined;
  try {
    decoder = new FrameDecoder(maxFrameLength === undefined ? {} : { maxFrameLength });
    for (const chunk of chunks) {
      decoder.push(chunk);
      for (let frame = decoder.next(); frame !== undefined; frame = decoder.next()) {
        frames.push([frame.code, hexOf(frame.body)]);
      }
    }
  } catch (error) {
    const outcome = errorOutcome(error);
    if ('leak' in outcome) return outcome;
    return { frames, buffered: decoder?.buffered ?? 0, error: outcome };
  }
  return { frames, buffered: decoder.buffered };
}

function runOne(fn: () => Outcome): Outcome {
  try {
    return fn();
  } catch (error) {
    return errorOutcome(error);
  }
}

function decodeWith(decoder: Decoder, data: Uint8Array): Outcome {
  return runOne(() => {
    const changes: [string, string, ChangeOp][] = [];
    decoder.decode(data, (schema, table, op) => changes.push([schema, table, op]));
    return { changes };
  });
}

function decodePgoutput(decoder: PgoutputDecoder, data: Uint8Array): Outcome {
  return runOne(() => {
    const nudges: [string, ChangeOp, number][] = [];
    let overflows = 0;
    decoder.decode(data, {
      change: (relation, op, count) => nudges.push([`${relation.schema}.${relation.table}`, op, count]),
      overflow: () => {
        overflows += 1;
      },
    });
    return { nudges, overflows };
  });
}

/**
 * Runs `inputs` through a fresh instance of `target`. Decoders see every input in turn (one instance,
 * so later inputs exercise the name caches the earlier ones filled); the frame decoder gets them as
 * the chunks of one stream. Returns one outcome per input (one in all for the frame decoder).
 */
export function runTarget(
  target: Target,
  inputs: Uint8Array[],
  options: { maxFrameLength?: number } = {},
): Outcome[] {
  switch (target) {
    case 'frame-decoder':
      return [runFrameDecoder(inputs, options.maxFrameLength)];
    case 'backend-message':
      // The first byte is the message code, the rest its body.
      return inputs.map((input) =>
        runOne(() => {
          if (input.byteLength === 0) throw new Error('a backend-message input needs its code byte');
          return { message: plain(parseBackendMessage(input[0]!, input.subarray(1))) };
        }),
      );
    case 'replication-message':
      return inputs.map((input) => runOne(() => ({ message: plain(parseReplicationMessage(input)) })));
    case 'wal2json': {
      const decoder = createWal2jsonDecoder();
      return inputs.map((input) => decodeWith(decoder, input));
    }
    case 'test_decoding': {
      const decoder = createTestDecodingDecoder();
      return inputs.map((input) => decodeWith(decoder, input));
    }
    case 'pgoutput': {
      // One session: each input is the next message, and what one did shapes the next.
      const decoder = createPgoutputDecoder();
      return inputs.map((input) => decodePgoutput(decoder, input));
    }
  }
}

/** A fixture file: test/fixtures/fuzz/<target>/<name>.json. */
export interface Fixture {
  /** One line: what this input once broke, or which edge it pins. */
  description: string;
  /** The inputs, as UTF-8 text or hex. */
  inputs: ({ text: string } | { hex: string })[];
  maxFrameLength?: number;
  /** The recorded outcomes (see runTarget); absent means "only typed errors", for a bug not fixed yet. */
  expect?: Outcome[];
}

/** The bytes of a fixture input. */
export function inputBytes(input: Fixture['inputs'][number]): Uint8Array {
  return 'text' in input ? Buffer.from(input.text, 'utf8') : Buffer.from(input.hex, 'hex');
}

/** How a fixture stores `bytes`: text when it is printable UTF-8 that round-trips, else hex. */
export function fixtureInput(bytes: Uint8Array): { text: string } | { hex: string } {
  const text = Buffer.from(bytes).toString('utf8');
  const printable = !/[\u0000-\u0008\u000b-\u001f\u007f\ufffd]/.test(text);
  return printable && Buffer.from(text, 'utf8').equals(Buffer.from(bytes)) ? { text } : { hex: hexOf(bytes) };
}

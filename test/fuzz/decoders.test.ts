// Seeded properties for both decoders: identifiers quoted as each plugin prints them come back
// byte-identical from both (contract R13), and arbitrary or mutated bytes raise only DecodeError.
// PGNUDGE_FUZZ_RUNS / PGNUDGE_FUZZ_SEED as in test/support/fuzz.ts; a failure prints how to keep it.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { ChangeOp, Decoder } from '../../src/decode/change.js';
import { createTestDecodingDecoder } from '../../src/decode/test-decoding.js';
import { createWal2jsonDecoder } from '../../src/decode/wal2json.js';
import { DecodeError } from '../../src/errors.js';
import { assertProperty, fuzzParams } from '../support/fuzz.js';

const settings = fuzzParams(10_000);
console.log(
  `# decoder fuzz seed ${settings.seed}, ${settings.numRuns} runs per property (replay with PGNUDGE_FUZZ_SEED=${settings.seed})`,
);

// A sample of keywords that quote_identifier quotes although they are lowercase.
const KEYWORDS = new Set([
  'user',
  'table',
  'select',
  'order',
  'from',
  'where',
  'group',
  'all',
  'end',
  'check',
]);

const tricky = fc.constantFrom(
  '"',
  '""',
  '.',
  ',',
  ', ',
  ':',
  ': ',
  ' ',
  '\\',
  '/',
  '\n',
  '\t',
  '\u0001',
  '\u001f',
  '\u007f',
  'a',
  'z',
  '_',
  '0',
  '9',
  'A',
  'Z',
  'é',
  '✓',
  '😀',
  '\ufeff',
  '\u00a0',
  'INSERT',
  'TRUNCATE',
  'table ',
);
const identifier = fc
  .oneof(
    fc.string({
      unit: fc.oneof(tricky, fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })),
      minLength: 1,
      maxLength: 10,
    }),
    fc.stringMatching(/^[a-z_][a-z0-9_]{0,10}$/),
    fc.constantFrom(...KEYWORDS),
  )
  .filter((s) => s.length > 0 && !s.includes('\0'));

const op = fc.constantFrom<ChangeOp>('insert', 'update', 'delete', 'truncate');

/** PostgreSQL's escape_json: the short escapes, \u00xx for other controls, everything else raw. */
function escapeJsonLikePg(text: string): string {
  let out = '"';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\b') out += '\\b';
    else if (ch === '\f') out += '\\f';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

/** Another valid JSON spelling: every non-ASCII unit and '/' escaped (surrogate pairs for astral). */
function escapeJsonAlternative(text: string): string {
  return JSON.stringify(text).replace(/[\u0080-\uffff/]/g, (ch) =>
    ch === '/' ? '\\/' : `\\u${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`,
  );
}

/** quote_identifier, or quote everything as with quote_all_identifiers. */
function quoteIdentifier(text: string, all: boolean): string {
  if (!all && /^[a-z_][a-z0-9_]*$/.test(text) && !KEYWORDS.has(text)) return text;
  return `"${text.replaceAll('"', '""')}"`;
}

const LETTER: Record<ChangeOp, string> = { insert: 'I', update: 'U', delete: 'D', truncate: 'T' };

function wal2jsonRecord(schema: string, table: string, change: ChangeOp, alternative: boolean): string {
  const quote = alternative ? escapeJsonAlternative : escapeJsonLikePg;
  const rest = change === 'truncate' ? '' : ',"columns":[{"name":"id","type":"integer","value":1}]';
  return `{"action":"${LETTER[change]}","schema":${quote(schema)},"table":${quote(table)}${rest}}`;
}

function testDecodingLine(relations: [string, string][], change: ChangeOp, all: boolean): string {
  const names = relations.map(([s, t]) => `${quoteIdentifier(s, all)}.${quoteIdentifier(t, all)}`).join(', ');
  const tail = change === 'truncate' ? ' (no-flags)' : " id[integer]:1 note[text]:'x: y'";
  return `table ${names}: ${change.toUpperCase()}:${tail}`;
}

type Row = [string, string, ChangeOp];
const encoder = new TextEncoder();

function decodeRows(decoder: Decoder, text: string | Uint8Array): Row[] {
  const rows: Row[] = [];
  decoder.decode(typeof text === 'string' ? encoder.encode(text) : text, (s, t, o) => rows.push([s, t, o]));
  return rows;
}

/** What `data` decodes to: its rows, or the name of the typed error (anything else is thrown). */
function outcome(decoder: Decoder, data: Uint8Array): Row[] | string {
  try {
    return decodeRows(decoder, data);
  } catch (error) {
    if (!(error instanceof DecodeError)) throw error;
    return `${error.name} at ${error.offset}`;
  }
}

function onlyDecodeErrors(decoder: Decoder, data: Uint8Array): void {
  try {
    decoder.decode(data, (schema, table) => {
      assert.equal(typeof schema, 'string');
      assert.equal(typeof table, 'string');
    });
  } catch (error) {
    if (!(error instanceof DecodeError)) throw error;
  }
}

describe('decoder properties', () => {
  test('both plugins give back the same (schema, table) for any identifiers', () => {
    // One decoder of each kind for the whole run, so the name caches see every case.
    const wal2json = createWal2jsonDecoder();
    const testDecoding = createTestDecodingDecoder();
    assertProperty(
      fc.property(
        fc.array(fc.tuple(identifier, identifier, op, fc.boolean(), fc.boolean()), {
          minLength: 1,
          maxLength: 6,
        }),
        (changes) => {
          for (const [schema, table, change, quoteAll, alternative] of changes) {
            const expected: Row[] = [[schema, table, change]];
            assert.deepEqual(
              decodeRows(wal2json, wal2jsonRecord(schema, table, change, alternative)),
              expected,
            );
            assert.deepEqual(
              decodeRows(testDecoding, testDecodingLine([[schema, table]], change, quoteAll)),
              expected,
            );
          }
        },
      ),
      settings,
      ([changes]) => [
        {
          target: 'wal2json',
          inputs: changes.map(([s, t, o, , alt]) => encoder.encode(wal2jsonRecord(s, t, o, alt))),
        },
        {
          target: 'test_decoding',
          inputs: changes.map(([s, t, o, all]) => encoder.encode(testDecodingLine([[s, t]], o, all))),
        },
      ],
    );
  });

  test('a multi-table TRUNCATE names every table in order', () => {
    const testDecoding = createTestDecodingDecoder();
    assertProperty(
      fc.property(
        fc.array(fc.tuple(identifier, identifier), { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        (rels, all) => {
          const rows = decodeRows(testDecoding, testDecodingLine(rels, 'truncate', all));
          assert.deepEqual(
            rows,
            rels.map(([s, t]) => [s, t, 'truncate']),
          );
        },
      ),
      settings,
      ([rels, all]) => ({
        target: 'test_decoding',
        inputs: [encoder.encode(testDecodingLine(rels, 'truncate', all))],
      }),
    );
  });

  test('arbitrary bytes raise only DecodeError', () => {
    const decoders = [createWal2jsonDecoder(), createTestDecodingDecoder()];
    assertProperty(
      fc.property(fc.uint8Array({ maxLength: 256 }), (data) => {
        for (const decoder of decoders) onlyDecodeErrors(decoder, data);
      }),
      settings,
      ([data]) => [
        { target: 'wal2json', inputs: [data] },
        { target: 'test_decoding', inputs: [data] },
      ],
    );
  });

  test('mutated valid messages raise only DecodeError, and a warm cache decodes them as a cold one', () => {
    // One decoder of each kind for the whole run: its name caches hold earlier cases' relations, and
    // must never change what a message decodes to (compared with a fresh decoder on every case).
    const warm = { wal2json: createWal2jsonDecoder(), test_decoding: createTestDecodingDecoder() };
    const cold = { wal2json: createWal2jsonDecoder, test_decoding: createTestDecodingDecoder };
    const mutation = fc.record({
      at: fc.nat(),
      kind: fc.constantFrom('replace', 'insert', 'delete', 'cut'),
      byte: fc.constantFrom(0x22, 0x5c, 0x2e, 0x2c, 0x3a, 0x20, 0x7b, 0x7d, 0x00, 0xff, 0xc3, 0x75, 0x61),
    });
    type Mutation = { at: number; kind: string; byte: number };
    const originals = (s: string, t: string, o: ChangeOp) =>
      [
        ['wal2json', wal2jsonRecord(s, t, o, false)],
        ['test_decoding', testDecodingLine([[s, t]], o, false)],
      ] as const;
    const mutate = (text: string, mutations: Mutation[]) => {
      let bytes = Array.from(encoder.encode(text));
      for (const { at, kind, byte } of mutations) {
        const i = bytes.length === 0 ? 0 : at % bytes.length;
        if (kind === 'replace') bytes[i] = byte;
        else if (kind === 'insert') bytes.splice(i, 0, byte);
        else if (kind === 'delete') bytes.splice(i, 1);
        else bytes = bytes.slice(0, i);
      }
      return Uint8Array.from(bytes);
    };
    assertProperty(
      fc.property(
        identifier,
        identifier,
        op,
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        (s, t, o, mutations) => {
          for (const [plugin, original] of originals(s, t, o)) {
            const bytes = mutate(original, mutations);
            const decoder = warm[plugin];
            assert.deepEqual(outcome(decoder, bytes), outcome(cold[plugin](), bytes));
            // The decoder still works after the failure (its cache was not poisoned).
            assert.deepEqual(decodeRows(decoder, original), [[s, t, o]]);
          }
        },
      ),
      settings,
      ([s, t, o, mutations]) =>
        originals(s, t, o).map(([plugin, original]) => ({
          target: plugin,
          inputs: [mutate(original, mutations), encoder.encode(original)],
        })),
    );
  });
});

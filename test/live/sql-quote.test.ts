// The quoting module against the server's own lexer and quote_ident() (contract R18): every keyword of this major
// comes back as the column name it was quoted from, pgnudge never leaves bare what the server would quote,
// and random literals read back unchanged whatever standard_conforming_strings says.
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import fc from 'fast-check';
import { quoteIdentifier, quoteIdentifierIfNeeded, quoteLiteral } from '../../src/protocol/quote.js';
import { type ClusterInfo, liveCluster } from '../support/cluster.js';
import { FUZZ_SEED } from '../support/fuzz.js';
import { DEADLINE, openConnection, settingsFor } from '../support/live-connection.js';

let info: ClusterInfo;
before(async () => {
  info = await liveCluster();
});

// Names the server keeps whole: at most 63 bytes (NAMEDATALEN - 1), no NUL.
const names = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 20 })
  .filter((s) => !s.includes('\0') && Buffer.byteLength(s) <= 63);
const texts = fc.string({ unit: 'binary', maxLength: 60 }).filter((s) => !s.includes('\0'));

describe('quoting against the server', () => {
  test('every keyword, quoted as a person would paste it, is read back as itself', DEADLINE, async (t) => {
    const connection = await openConnection(t, settingsFor(info, info.roles.replication));
    const [keywords] = await connection.query(
      'SELECT word, quote_ident(word) FROM pg_get_keywords() ORDER BY word',
    );
    const words = keywords!.rows.map(([word]) => word!);
    assert.ok(words.length > 400, `pg_get_keywords() listed ${words.length} words`);
    for (const [word, serverQuoted] of keywords!.rows) {
      if (serverQuoted !== word)
        assert.notEqual(quoteIdentifierIfNeeded(word!), word, `${word} needs quotes`);
    }
    const [aliases] = await connection.query(
      `SELECT ${words.map((word) => `1 AS ${quoteIdentifierIfNeeded(word)}`).join(', ')}`,
    );
    assert.deepEqual(aliases!.fields, words);
  });

  test('random names, quoted both ways, name exactly themselves', DEADLINE, async (t) => {
    const connection = await openConnection(t, settingsFor(info, info.roles.replication));
    const sample = fc.sample(names, { seed: FUZZ_SEED, numRuns: 200 });
    const [exact] = await connection.query(
      `SELECT ${sample.map((name) => `1 AS ${quoteIdentifier(name)}`).join(', ')}`,
    );
    assert.deepEqual(exact!.fields, sample);
    const [readable] = await connection.query(
      `SELECT ${sample.map((name) => `1 AS ${quoteIdentifierIfNeeded(name)}`).join(', ')}`,
    );
    assert.deepEqual(readable!.fields, sample);
  });

  for (const conforming of ['on', 'off']) {
    test(
      `random literals read back unchanged (standard_conforming_strings = ${conforming})`,
      DEADLINE,
      async (t) => {
        const connection = await openConnection(t, settingsFor(info, info.roles.replication));
        await connection.query(
          `SET standard_conforming_strings = ${conforming}; SET escape_string_warning = off`,
        );
        const sample = [...fc.sample(texts, { seed: FUZZ_SEED, numRuns: 200 }), "it's", '\\', "\\'", "'\\"];
        const [row] = await connection.query(`SELECT ${sample.map((text) => quoteLiteral(text)).join(', ')}`);
        assert.deepEqual(row!.rows, [sample]);
      },
    );
  }
});

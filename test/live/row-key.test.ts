// formatKey against the server (contract R22): PostgreSQL's own `ROW(...)::text`, on every major, for
// the golden cases of test/fixtures/row-key/record-out.json (so the fixture stays what the server
// prints) and for random keys of 1 to 32 values of any text a column can hold.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { before, describe, test } from 'node:test';
import fc from 'fast-check';
import { formatKey, parseKey } from '../../src/feed/row-key.js';
import { quoteLiteral } from '../../src/protocol/quote.js';
import type { PgConnection } from '../../src/transport/connection.js';
import { type ClusterInfo, liveCluster } from '../support/cluster.js';
import { FUZZ_SEED } from '../support/fuzz.js';
import { DEADLINE, openConnection, settingsFor } from '../support/live-connection.js';
import { repoPath } from '../support/repo.js';

let info: ClusterInfo;
before(async () => {
  info = await liveCluster();
});

const golden: { key: string[]; text: string }[] = JSON.parse(
  readFileSync(repoPath('test', 'fixtures', 'row-key', 'record-out.json'), 'utf8'),
).cases;

/** Text a column can hold: any code points but NUL. */
const value = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }).filter((s) => !s.includes('\0')),
  fc
    .array(fc.constantFrom('"', '\\', ',', '(', ')', ' ', '\t', '\n', '\v', '\f', '\r', 'a', '\u00a0'), {
      maxLength: 6,
    })
    .map((parts) => parts.join('')),
);

/** What the server prints for each key: `ROW(k1, ...)::text` without the parentheses. */
async function serverTexts(
  connection: PgConnection,
  keys: readonly (readonly string[])[],
): Promise<string[]> {
  const columns = keys.map((key) => `ROW(${key.map((v) => `${quoteLiteral(v)}::text`).join(', ')})::text`);
  const [result] = await connection.query(`SELECT ${columns.join(', ')}`);
  return result!.rows[0]!.map((text) => {
    assert.ok(text?.startsWith('(') && text.endsWith(')'), String(text));
    return (text as string).slice(1, -1);
  });
}

describe('row keys against the server', () => {
  test('the golden cases are what this major prints', DEADLINE, async (t) => {
    const connection = await openConnection(t, settingsFor(info, info.roles.replication));
    const keys = golden.map((c) => c.key);
    assert.deepEqual(
      await serverTexts(connection, keys),
      golden.map((c) => c.text),
    );
  });

  test(
    'formatKey writes random keys as the server does, and parseKey reads them back',
    DEADLINE,
    async (t) => {
      const connection = await openConnection(t, settingsFor(info, info.roles.replication));
      const keys = fc.sample(fc.array(value, { minLength: 1, maxLength: 32 }), {
        seed: FUZZ_SEED,
        numRuns: 300,
      });
      const texts = await serverTexts(connection, keys);
      keys.forEach((key, i) => {
        assert.equal(formatKey(key), texts[i], JSON.stringify(key));
        assert.deepEqual(parseKey(texts[i]!), key);
      });
    },
  );
});

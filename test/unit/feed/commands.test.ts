import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resolvePgoutputOptions } from '../../../src/decode/pgoutput-options.js';
import { ConfigError } from '../../../src/errors.js';
import {
  formatCreateSlot,
  formatDropSlot,
  formatStartPgoutput,
  formatStartReplication,
  generateSlotName,
} from '../../../src/feed/commands.js';
import { parseTableName } from '../../../src/feed/tables.js';

const SLOT = 'pgnudge_0123456789abcdef';

describe('generateSlotName', () => {
  test('hex-encodes random bytes after the pgnudge_ prefix', () => {
    const name = generateSlotName(() => Uint8Array.from([0x00, 0x0f, 0xa0, 0xff, 0x12, 0x34, 0x56, 0x78]));
    assert.equal(name, 'pgnudge_000fa0ff12345678');
  });

  test('accepts a hex string, lowercased', () => {
    assert.equal(
      generateSlotName(() => 'DEADBEEFcafe'),
      'pgnudge_deadbeefcafe',
    );
  });

  test('never exceeds 63 characters', () => {
    const name = generateSlotName(() => new Uint8Array(64).fill(0xab));
    assert.equal(name.length, 63);
    assert.match(name, /^pgnudge_[0-9a-f]{55}$/);
  });

  test('refuses too little or non-hex randomness', () => {
    assert.throws(() => generateSlotName(() => new Uint8Array(3)), RangeError);
    assert.throws(() => generateSlotName(() => 'abc'), RangeError);
    assert.throws(() => generateSlotName(() => "0123456789'; DROP"), RangeError);
  });
});

describe('formatCreateSlot', () => {
  test('golden: temporary logical slot without a snapshot', () => {
    assert.equal(
      formatCreateSlot(SLOT, 'wal2json'),
      "CREATE_REPLICATION_SLOT pgnudge_0123456789abcdef TEMPORARY LOGICAL wal2json (SNAPSHOT 'nothing')",
    );
    assert.equal(
      formatCreateSlot(SLOT, 'test_decoding'),
      "CREATE_REPLICATION_SLOT pgnudge_0123456789abcdef TEMPORARY LOGICAL test_decoding (SNAPSHOT 'nothing')",
    );
    assert.equal(
      formatCreateSlot(SLOT, 'pgoutput'),
      "CREATE_REPLICATION_SLOT pgnudge_0123456789abcdef TEMPORARY LOGICAL pgoutput (SNAPSHOT 'nothing')",
    );
  });

  test('refuses a slot name outside [a-z0-9_]{1,63}', () => {
    for (const slot of ['', 'Pgnudge', 'a b', 'a;DROP', 'x'.repeat(64), 'slot"', 'é']) {
      assert.throws(
        () => formatCreateSlot(slot, 'wal2json'),
        (error: unknown) => error instanceof ConfigError && error.option === 'slot',
        slot,
      );
    }
    assert.equal(formatCreateSlot('x'.repeat(63), 'wal2json').includes('x'.repeat(63)), true);
  });

  test('refuses an unknown plugin', () => {
    assert.throws(
      () => formatCreateSlot(SLOT, 'decoderbufs' as 'wal2json'),
      (error: unknown) => error instanceof ConfigError && error.option === 'plugin',
    );
  });
});

describe('formatDropSlot', () => {
  test('names a valid slot and refuses any other', () => {
    assert.equal(formatDropSlot(SLOT), 'DROP_REPLICATION_SLOT pgnudge_0123456789abcdef');
    assert.throws(
      () => formatDropSlot('a;DROP'),
      (error: unknown) => error instanceof ConfigError && error.option === 'slot',
    );
  });
});

describe('formatStartReplication', () => {
  test('golden: wal2json, every table', () => {
    assert.equal(
      formatStartReplication(SLOT, 'wal2json', null),
      'START_REPLICATION SLOT pgnudge_0123456789abcdef LOGICAL 0/0 ("format-version" \'2\', "include-transaction" \'false\', "include-types" \'false\')',
    );
  });

  test('golden: wal2json with add-tables escaped for wal2json, then for SQL', () => {
    const tables = [parseTableName('public.orders'), parseTableName('"It\'s"."a.b, c\\d"')];
    assert.equal(
      formatStartReplication(SLOT, 'wal2json', tables),
      "START_REPLICATION SLOT pgnudge_0123456789abcdef LOGICAL 0/0 (\"format-version\" '2', \"include-transaction\" 'false', \"include-types\" 'false', \"add-tables\" 'public.orders,It''s.a\\.b\\,\\ c\\\\d')",
    );
  });

  test('golden: test_decoding ignores tables (it filters in the client)', () => {
    const expected =
      'START_REPLICATION SLOT pgnudge_0123456789abcdef LOGICAL 0/0 ("skip-empty-xacts" \'1\', "include-xids" \'0\')';
    assert.equal(formatStartReplication(SLOT, 'test_decoding', null), expected);
    assert.equal(formatStartReplication(SLOT, 'test_decoding', [parseTableName('public.orders')]), expected);
  });

  test('no table name can close the literal', () => {
    const tables = [{ schema: "x') ; DROP", table: "'''" }];
    const command = formatStartReplication(SLOT, 'wal2json', tables);
    const literal = command.slice(command.indexOf('"add-tables" ') + 13, -1);
    assert.match(literal, /^'(?:[^']|'')*'$/);
  });

  test('refuses an empty table list, a NUL and a bad slot', () => {
    assert.throws(
      () => formatStartReplication(SLOT, 'wal2json', []),
      (error: unknown) => error instanceof ConfigError && error.option === 'tables',
    );
    assert.throws(
      () => formatStartReplication(SLOT, 'wal2json', [{ schema: 'a\0', table: 'b' }]),
      (error: unknown) => error instanceof ConfigError,
    );
    assert.throws(() => formatStartReplication('bad slot', 'wal2json', null), ConfigError);
    assert.throws(
      () => formatStartReplication(SLOT, 'pgoutput' as 'wal2json', null),
      (error: unknown) => error instanceof ConfigError && /formatStartPgoutput/.test(error.message),
    );
  });
});

describe('formatStartPgoutput', () => {
  test('golden: the highest protocol, the publication as one identifier, streaming, no messages', () => {
    assert.equal(
      formatStartPgoutput(SLOT, resolvePgoutputOptions(170_010, 'app')),
      `START_REPLICATION SLOT pgnudge_0123456789abcdef LOGICAL 0/0 ("proto_version" '4', "publication_names" '"app"', "streaming" 'on', "messages" 'false')`,
    );
    assert.equal(
      formatStartPgoutput(SLOT, resolvePgoutputOptions(150_020, 'app', { binary: true, streaming: 'off' })),
      `START_REPLICATION SLOT pgnudge_0123456789abcdef LOGICAL 0/0 ("proto_version" '3', "publication_names" '"app"', "binary" 'true', "messages" 'false')`,
    );
  });

  test('no publication name can close the literal or split the list', () => {
    const command = formatStartPgoutput(SLOT, resolvePgoutputOptions(160_000, `pub "keys", 'odd' \\ Ünï`));
    assert.ok(command.includes(`"publication_names" '"pub ""keys"", ''odd'' \\ Ünï"'`), command);
    const hostile = formatStartPgoutput(SLOT, resolvePgoutputOptions(160_000, "x') ; DROP"));
    const literal = hostile.slice(
      hostile.indexOf('"publication_names" ') + 20,
      hostile.indexOf(', "streaming"'),
    );
    assert.match(literal, /^'(?:[^']|'')*'$/);
  });
});

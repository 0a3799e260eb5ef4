// The bridge election's pure pieces (contract R29): the slot name, the command, what its errors mean.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { ConnectionError, ServerError } from '../../../src/errors.js';
import { ChannelKey } from '../../../src/fanout/auth.js';
import {
  classifyElectionError,
  ELECTION_SLOT_PREFIX,
  electionSlotName,
  formatCreateElectionSlot,
  MAX_SLOT_NAME_BYTES,
} from '../../../src/fanout/election.js';

const key = ChannelKey.derive('correct horse battery staple 42', 'pgnudge');

describe('electionSlotName', () => {
  test('with a secret: the prefix and the HMAC tag of the database under the channel key', () => {
    const name = electionSlotName({ channel: 'pgnudge', database: 'shop', key });
    assert.equal(name, 'pgnudge_bridge_b9be68610a9c297aaafc2e557b69416b');
    assert.ok(name.length <= MAX_SLOT_NAME_BYTES);
  });

  test('insecure: a SHA-256 of database and channel that anyone can compute', () => {
    const expected = createHash('sha256')
      .update('pgnudge bridge election\0shop\0pgnudge')
      .digest('hex')
      .slice(0, 32);
    assert.equal(
      electionSlotName({ channel: 'pgnudge', database: 'shop', key: null }),
      `${ELECTION_SLOT_PREFIX}${expected}`,
    );
  });

  test('one election per channel, database and secret', () => {
    const names = new Set([
      electionSlotName({ channel: 'pgnudge', database: 'shop', key }),
      electionSlotName({ channel: 'pgnudge', database: 'shop', key: null }),
      electionSlotName({ channel: 'pgnudge', database: 'shop2', key }),
      electionSlotName({ channel: 'pgnudge', database: 'shop2', key: null }),
      electionSlotName({
        channel: 'other',
        database: 'shop',
        key: ChannelKey.derive('correct horse battery staple 42', 'other'),
      }),
      electionSlotName({ channel: 'other', database: 'shop', key: null }),
      electionSlotName({
        channel: 'pgnudge',
        database: 'shop',
        key: ChannelKey.derive('another secret, same channel', 'pgnudge'),
      }),
    ]);
    assert.equal(names.size, 7);
  });

  test('any channel or database name gives a valid slot name ([a-z0-9_], at most 63)', () => {
    for (const [channel, database] of [
      ['Orders.v1 "x"', 'My DB'],
      ['ч'.repeat(31), 'd'.repeat(63)],
      ["'; DROP", '\u202e'],
    ] as const) {
      for (const k of [null, ChannelKey.derive('correct horse battery staple 42', channel)]) {
        assert.match(electionSlotName({ channel, database, key: k }), /^pgnudge_bridge_[0-9a-f]{32}$/);
      }
    }
  });
});

describe('formatCreateElectionSlot', () => {
  test('a TEMPORARY PHYSICAL slot, no RESERVE_WAL', () => {
    assert.equal(
      formatCreateElectionSlot('pgnudge_bridge_b9be68610a9c297aaafc2e557b69416b'),
      'CREATE_REPLICATION_SLOT pgnudge_bridge_b9be68610a9c297aaafc2e557b69416b TEMPORARY PHYSICAL',
    );
  });

  test('refuses a name that is not [a-z0-9_]{1,63}', () => {
    for (const name of ['', 'Pgnudge', 'a"b', 'a b', 'x'.repeat(64), 'pgnudge;DROP']) {
      assert.throws(() => formatCreateElectionSlot(name), RangeError, name);
    }
    assert.doesNotThrow(() => formatCreateElectionSlot('x'.repeat(63)));
  });
});

describe('classifyElectionError', () => {
  const server = (sqlState: string, message: string) =>
    new ServerError({ severity: 'ERROR', sqlState, message });

  test('"already exists" (42710) means another bridge is active', () => {
    assert.equal(
      classifyElectionError(server('42710', 'replication slot "pgnudge_bridge_x" already exists')),
      'taken',
    );
  });

  test('anything else is an error of the connection', () => {
    for (const error of [
      server('42501', 'permission denied to use replication slots'),
      server('53400', 'all replication slots are in use'),
      server('55000', 'replication slots can only be used if max_replication_slots > 0'),
      new ConnectionError('PGNUDGE_ERR_CONNECTION', 'connection reset'),
      new Error('42710'),
      '42710',
      undefined,
    ]) {
      assert.equal(classifyElectionError(error), 'error', String(error));
    }
  });
});

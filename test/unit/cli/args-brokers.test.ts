// parseCommandLine for the broker transports (contract R30): `bridge --to` (repeatable), `listen --from`
// and `serve --from`, which read a broker with no database connection.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseCommandLine } from '../../../src/cli/args.js';
import { BRIDGE_HELP, LISTEN_HELP, SERVE_HELP } from '../../../src/cli/help.js';
import { ConfigError } from '../../../src/errors.js';

const TEST = { timeout: 10_000 } as const;

function usageError(argv: string[], rule: RegExp): void {
  assert.throws(
    () => parseCommandLine(argv),
    (error: unknown) => error instanceof ConfigError && rule.test(error.message),
    JSON.stringify(argv),
  );
}

describe('--to and --from', TEST, () => {
  test('bridge --to is repeatable and kept in order; without it there is none (NOTIFY)', TEST, () => {
    const parsed = parseCommandLine([
      'bridge',
      '--channel',
      'c',
      '--to',
      'notify',
      '--to',
      'redis://h/c',
      '--to',
      'nats://h/c',
    ]);
    assert.deepEqual(parsed.to, ['notify', 'redis://h/c', 'nats://h/c']);
    assert.equal(parsed.channel, 'c');
    assert.equal(parseCommandLine(['bridge', '--channel', 'c']).to, undefined);
    usageError(['bridge', '--to', 'redis://h/c'], /needs --channel/);
  });

  test('listen --from reads a broker: no channel, no dsn; the batching flags still apply', TEST, () => {
    const parsed = parseCommandLine([
      'listen',
      '--from',
      'nats://h/s',
      '--debounce',
      '7',
      '--json',
      '--insecure',
    ]);
    assert.equal(parsed.from, 'nats://h/s');
    assert.equal(parsed.channel, undefined);
    assert.equal(parsed.feed.debounce, 7);
    assert.equal(parsed.insecure, true);
    usageError(['listen', '--from', 'nats://h/s', '--channel', 'c'], /drop --channel/);
    usageError(['listen', '--from', 'nats://h/s', '--dsn', 'host=db'], /drop --dsn/);
  });

  test('serve --from serves a broker stream and takes the secret flags', TEST, () => {
    const parsed = parseCommandLine(['serve', '--from', 'redis://h/c', '--heartbeat-timeout', '900']);
    assert.equal(parsed.from, 'redis://h/c');
    assert.equal(parsed.heartbeatTimeout, 900);
    usageError(
      ['serve', '--from', 'redis://h/c', '--table', 'public.t'],
      /--table, --plugin, .* the bridge decides them/,
    );
    usageError(['serve', '--from', 'redis://h/c', '--dsn', 'host=db'], /drop --dsn/);
    usageError(['serve', '--insecure'], /belongs to --channel or --from/);
  });

  test('the help of each command names its broker flag', TEST, () => {
    assert.match(BRIDGE_HELP, /--to notify\|URL/);
    assert.match(LISTEN_HELP, /--from URL/);
    assert.match(SERVE_HELP, /--from URL/);
  });
});

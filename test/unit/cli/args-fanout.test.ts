// parseCommandLine for the fan-out commands (contract §5, §6): `bridge` takes watch's options plus a
// required --channel; `listen` takes --channel, --json, --debounce, --max-batch-wait, --max-keys and --dsn.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseCommandLine } from '../../../src/cli/args.js';
import { BRIDGE_HELP, COMMAND_HELP, LISTEN_HELP, MAIN_HELP } from '../../../src/cli/help.js';
import { ConfigError } from '../../../src/errors.js';

function usageError(argv: string[], rule: RegExp): void {
  assert.throws(
    () => parseCommandLine(argv),
    (error: unknown) =>
      error instanceof ConfigError && rule.test(error.message) && !error.message.includes('\n'),
    JSON.stringify(argv),
  );
}

describe('bridge and listen', () => {
  test('bridge takes the channel and every watch option', () => {
    assert.deepEqual(
      parseCommandLine([
        'bridge',
        '--channel',
        'My Channel',
        '--dsn',
        'host=db',
        '--table',
        'public.orders',
        '--partitions',
        'leaf',
        '--debounce',
        '10',
        '-vv',
      ]),
      {
        command: 'bridge',
        json: false,
        verbosity: 2,
        channel: 'My Channel',
        feed: { connectionString: 'host=db', tables: ['public.orders'], partitions: 'leaf', debounce: 10 },
      },
    );
  });

  test('listen takes the channel, --json and the batch flags', () => {
    assert.deepEqual(
      parseCommandLine(['listen', '--channel', 'c', '--json', '--debounce', '0', '--max-batch-wait', '5']),
      { command: 'listen', json: true, verbosity: 0, channel: 'c', feed: { debounce: 0, maxBatchWait: 5 } },
    );
    // A listener coalesces the bridge's row events again, within its own bound (contract R24).
    assert.deepEqual(parseCommandLine(['listen', '--channel', 'c', '--max-keys', '10']).feed, {
      maxKeys: 10,
    });
    assert.match(LISTEN_HELP, /--max-keys N/);
  });

  test('--channel is required by both, and belongs to neither watch nor listen-only flags', () => {
    usageError(['bridge'], /pgnudge bridge needs --channel/);
    usageError(['listen', '--json'], /pgnudge listen needs --channel/);
    usageError(['listen', '--channel', ''], /needs --channel/);
    usageError(['watch', '--channel', 'c'], /--channel belongs to pgnudge bridge and pgnudge listen/);
    usageError(['listen', '--channel', 'c', '--table', 'public.t'], /table.*see pgnudge listen --help/);
    usageError(['listen', '--channel', 'c', '--debounce', 'soon'], /--debounce takes a whole number/);
  });

  test('--secret-file and --insecure on bridge and listen; --heartbeat-timeout on listen', () => {
    assert.deepEqual(parseCommandLine(['bridge', '--channel', 'c', '--secret-file', '/etc/pgnudge/secret']), {
      command: 'bridge',
      json: false,
      verbosity: 0,
      channel: 'c',
      feed: {},
      secretFile: '/etc/pgnudge/secret',
    });
    assert.deepEqual(
      parseCommandLine(['listen', '--channel', 'c', '--insecure', '--heartbeat-timeout', '5000']),
      {
        command: 'listen',
        json: false,
        verbosity: 0,
        channel: 'c',
        feed: {},
        insecure: true,
        heartbeatTimeout: 5000,
      },
    );
    usageError(
      ['bridge', '--channel', 'c', '--heartbeat-timeout', '5'],
      /Unknown option '--heartbeat-timeout'/,
    );
    usageError(['watch', '--secret-file', 'f'], /Unknown option '--secret-file'/);
    usageError(['watch', '--insecure'], /Unknown option '--insecure'/);
    usageError(
      ['listen', '--channel', 'c', '--heartbeat-timeout', '0'],
      /--heartbeat-timeout must be a whole number of milliseconds from 1/,
    );
    usageError(
      ['listen', '--channel', 'c', '--heartbeat-timeout', 'x'],
      /--heartbeat-timeout takes a whole number/,
    );
  });

  test('a secret as an argument is refused by name, without echoing it', () => {
    for (const command of ['bridge', 'listen', 'serve']) {
      for (const argv of [
        [command, '--channel', 'c', '--secret', 'S3CRET-S3CRET-S3CRET'],
        [command, '--channel', 'c', '--secret=S3CRET-S3CRET-S3CRET'],
      ]) {
        assert.throws(
          () => parseCommandLine(argv),
          (error: unknown) =>
            error instanceof ConfigError &&
            error.option === '--secret' &&
            /^pgnudge \w+ takes no --secret: arguments are visible to every user of the machine \(ps\); set PGNUDGE_SECRET or use --secret-file PATH$/.test(
              error.message,
            ) &&
            !error.message.includes('S3CRET'),
          JSON.stringify(argv),
        );
      }
    }
  });

  test('help lists both, and each has its own page', () => {
    assert.match(MAIN_HELP, /^ {2}bridge /m);
    assert.match(MAIN_HELP, /^ {2}listen /m);
    assert.equal(COMMAND_HELP.bridge, BRIDGE_HELP);
    assert.equal(COMMAND_HELP.listen, LISTEN_HELP);
    assert.deepEqual(parseCommandLine(['bridge', '--help']), {
      command: 'help',
      topic: 'bridge',
      json: false,
      verbosity: 0,
      feed: {},
    });
    assert.equal(parseCommandLine(['help', 'listen']).topic, 'listen');
    for (const help of [BRIDGE_HELP, LISTEN_HELP]) {
      for (const flag of ['--secret-file PATH', '--insecure', 'PGNUDGE_SECRET'])
        assert.ok(help.includes(flag), flag);
    }
    assert.ok(LISTEN_HELP.includes('--heartbeat-timeout MS'));
  });
});

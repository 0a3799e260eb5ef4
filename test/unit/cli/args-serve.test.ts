// parseCommandLine for `pgnudge serve` (contract R31, §5): --port, --host, --token-file, the watch options or
// --channel, and the usage errors (exit 2), including a refused --token.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseCommandLine } from '../../../src/cli/args.js';
import { COMMAND_HELP, MAIN_HELP, SERVE_HELP } from '../../../src/cli/help.js';
import { isLoopbackHost } from '../../../src/cli/serve.js';
import { ConfigError } from '../../../src/errors.js';

function usageError(argv: string[], rule: RegExp): void {
  assert.throws(
    () => parseCommandLine(argv),
    (error: unknown) =>
      error instanceof ConfigError && rule.test(error.message) && !error.message.includes('\n'),
    JSON.stringify(argv),
  );
}

describe('serve', () => {
  test('defaults: port 8080 on 127.0.0.1, no token file, a feed of its own', () => {
    assert.deepEqual(parseCommandLine(['serve']), {
      command: 'serve',
      json: false,
      verbosity: 0,
      feed: {},
      serve: { port: 8080, host: '127.0.0.1' },
    });
  });

  test('--port, --host, --token-file and every watch option', () => {
    assert.deepEqual(
      parseCommandLine([
        'serve',
        '--port=0',
        '--host',
        '0.0.0.0',
        '--token-file',
        '/run/token',
        '--dsn',
        'host=db',
        '--table',
        'public.orders',
        '--plugin',
        'test_decoding',
        '--partitions',
        'root',
        '--debounce',
        '10',
        '--liveness-timeout',
        '0',
        '-vv',
      ]),
      {
        command: 'serve',
        json: false,
        verbosity: 2,
        feed: {
          connectionString: 'host=db',
          tables: ['public.orders'],
          plugin: 'test_decoding',
          partitions: 'root',
          debounce: 10,
          livenessTimeout: null,
        },
        serve: { port: 0, host: '0.0.0.0', tokenFile: '/run/token' },
      },
    );
  });

  test('--channel serves a bridge’s stream; the bridge decides tables and plugin', () => {
    assert.deepEqual(parseCommandLine(['serve', '--channel', 'c', '--debounce', '5', '--max-keys', '7']), {
      command: 'serve',
      json: false,
      verbosity: 0,
      feed: { debounce: 5, maxKeys: 7 },
      channel: 'c',
      serve: { port: 8080, host: '127.0.0.1' },
    });
    usageError(
      ['serve', '--channel', 'c', '--table', 'public.t'],
      /with --channel or --from, the bridge decides/,
    );
    usageError(
      ['serve', '--channel', 'c', '--plugin', 'wal2json'],
      /with --channel or --from, the bridge decides/,
    );
    usageError(
      ['serve', '--channel', 'c', '--partitions', 'leaf'],
      /with --channel or --from, the bridge decides/,
    );
    usageError(['serve', '--channel', 'c', '--keys'], /with --channel or --from, the bridge decides/);
    usageError(
      ['serve', '--channel', 'c', '--publication', 'app'],
      /with --channel or --from, the bridge decides/,
    );
    assert.equal(parseCommandLine(['serve', '--publication', 'app']).feed.publication, 'app');
    usageError(['serve', '--channel', 'c', '--read-pacing', '2'], /with --channel, serve reads NOTIFY/);
    usageError(['serve', '--channel', ''], /needs --channel NAME/);
    assert.deepEqual(
      parseCommandLine(['serve', '--channel', 'c', '--secret-file', 'f', '--heartbeat-timeout', '9000']),
      {
        command: 'serve',
        json: false,
        verbosity: 0,
        feed: {},
        channel: 'c',
        serve: { port: 8080, host: '127.0.0.1' },
        secretFile: 'f',
        heartbeatTimeout: 9000,
      },
    );
    assert.equal(parseCommandLine(['serve', '--channel', 'c', '--insecure']).insecure, true);
    for (const flag of [['--secret-file', 'f'], ['--insecure'], ['--heartbeat-timeout', '5']]) {
      usageError(['serve', ...flag], /belongs to --channel or --from \(serving a bridge's stream\)/);
    }
  });

  test('usage errors: a token as an argument, bad ports, unknown flags, --json', () => {
    usageError(['serve', '--token', 'secretsecretsecret'], /takes no --token: arguments are visible/);
    usageError(['serve', '--token=secretsecretsecret'], /takes no --token/);
    for (const port of ['-1', '65536', 'http', '1.5', '']) usageError(['serve', `--port=${port}`], /--port/);
    usageError(['serve', '--host', ''], /--host needs an address/);
    usageError(['serve', '--json'], /Unknown option '--json'.*pgnudge serve --help/);
    usageError(['serve', '--plugin', 'decoderbufs'], /--plugin must be/);
  });

  test('help: listed in pgnudge --help; serve --help and help serve', () => {
    assert.match(MAIN_HELP, /^ {2}serve {4}serve one feed to browsers/m);
    assert.equal(COMMAND_HELP.serve, SERVE_HELP);
    assert.deepEqual(parseCommandLine(['serve', '--help']), {
      command: 'help',
      topic: 'serve',
      json: false,
      verbosity: 0,
      feed: {},
    });
    assert.equal(parseCommandLine(['help', 'serve']).topic, 'serve');
    for (const text of ['/events', '/metrics', '/healthz', 'PGNUDGE_TOKEN', '--token-file', 'loopback']) {
      assert.ok(SERVE_HELP.includes(text), text);
    }
  });

  test('loopback hosts: 127.0.0.0/8, ::1, localhost; nothing else', () => {
    for (const host of [
      '127.0.0.1',
      '127.1.2.3',
      '::1',
      '[::1]',
      '0:0:0:0:0:0:0:1',
      'localhost',
      'LOCALHOST',
      '::ffff:127.0.0.1',
    ]) {
      assert.equal(isLoopbackHost(host), true, host);
    }
    for (const host of [
      '0.0.0.0',
      '::',
      '10.0.0.1',
      '128.0.0.1',
      'example.com',
      'localhost.example.com',
      '::2',
    ]) {
      assert.equal(isLoopbackHost(host), false, host);
    }
  });
});

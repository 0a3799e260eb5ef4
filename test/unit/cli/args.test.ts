// parseCommandLine (contract §5): every `watch` flag, verbosity, help and version, and a ConfigError
// (exit status 2) with one plain line for every usage error.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import { parseCommandLine } from '../../../src/cli/args.js';
import { MAIN_HELP, WATCH_HELP } from '../../../src/cli/help.js';
import { ConfigError } from '../../../src/errors.js';

const watch = (...flags: string[]) => parseCommandLine(['watch', ...flags]);

/** Asserts a usage error: a ConfigError with a one-line message matching `rule`. */
function usageError(argv: string[], rule: RegExp, option?: string): void {
  assert.throws(
    () => parseCommandLine(argv),
    (error: unknown) => {
      assert.ok(
        error instanceof ConfigError,
        `${argv.join(' ')}: expected a ConfigError, got ${String(error)}`,
      );
      assert.match(error.message, rule);
      assert.ok(!error.message.includes('\n'), `one line: ${JSON.stringify(error.message)}`);
      if (option !== undefined) assert.equal(error.option, option);
      return true;
    },
    `${JSON.stringify(argv)} should be a usage error`,
  );
}

describe('watch flags', () => {
  test('no flags: defaults are left to the feed', () => {
    assert.deepEqual(watch(), { command: 'watch', json: false, verbosity: 0, feed: {} });
  });

  test('every flag maps to its feed option', () => {
    const parsed = watch(
      '--dsn',
      'postgres://app@db/shop',
      '--table',
      'public.orders',
      '--plugin',
      'test_decoding',
      '--partitions',
      'leaf',
      '--keys',
      '--debounce',
      '20',
      '--max-batch-wait',
      '400',
      '--max-keys',
      '50',
      '--failsafe',
      '60000',
      '--status-interval',
      '5000',
      '--liveness-timeout',
      '15000',
      '--read-pacing',
      '5',
      '--json',
    );
    assert.deepEqual(parsed, {
      command: 'watch',
      json: true,
      verbosity: 0,
      feed: {
        connectionString: 'postgres://app@db/shop',
        tables: ['public.orders'],
        plugin: 'test_decoding',
        partitions: 'leaf',
        keys: true,
        debounce: 20,
        maxBatchWait: 400,
        maxKeys: 50,
        failsafe: 60_000,
        statusInterval: 5000,
        livenessTimeout: 15_000,
        readPacing: 5,
      },
    });
  });

  test('--flag=value works as well as --flag value', () => {
    assert.deepEqual(watch('--debounce=5', '--dsn=host=x dbname=y').feed, {
      debounce: 5,
      connectionString: 'host=x dbname=y',
    });
  });

  test('--table repeats, keeping order and quoting', () => {
    assert.deepEqual(watch('--table', 'public.a', '--table', '"My Schema"."Orders"', '--table', 'b.c').feed, {
      tables: ['public.a', '"My Schema"."Orders"', 'b.c'],
    });
  });

  test('every --plugin choice', () => {
    for (const plugin of ['auto', 'wal2json', 'test_decoding', 'pgoutput']) {
      assert.equal(watch('--plugin', plugin).feed.plugin, plugin);
    }
  });

  test('--publication names the publication (the feed decides the plugin rule)', () => {
    assert.deepEqual(watch('--publication', 'App Pub', '--table', 'public.orders').feed, {
      publication: 'App Pub',
      tables: ['public.orders'],
    });
    assert.equal(
      parseCommandLine(['bridge', '--channel', 'c', '--publication', 'app']).feed.publication,
      'app',
    );
  });

  test('every --partitions choice (contract R20)', () => {
    for (const partitions of ['root', 'leaf']) {
      assert.equal(watch('--partitions', partitions).feed.partitions, partitions);
    }
  });

  test('--debounce 0 is a real zero, not "off"', () => {
    assert.equal(watch('--debounce', '0').feed.debounce, 0);
    assert.equal(watch('--max-batch-wait', '0').feed.maxBatchWait, 0);
  });

  test('--liveness-timeout 0 disables the check (null)', () => {
    assert.equal(watch('--liveness-timeout', '0').feed.livenessTimeout, null);
  });

  test('--read-pacing 0 turns pacing off: a real zero', () => {
    assert.equal(watch('--read-pacing', '0').feed.readPacing, 0);
  });

  test('--failsafe 0 is off (null)', () => {
    assert.equal(watch('--failsafe', '0').feed.failsafe, null);
  });

  test('options may follow in any order, -v anywhere among them', () => {
    const parsed = watch('--json', '-v', '--table', 'public.t', '-v');
    assert.equal(parsed.verbosity, 2);
    assert.equal(parsed.json, true);
    assert.deepEqual(parsed.feed.tables, ['public.t']);
  });
});

describe('verbosity', () => {
  const cases: [string[], number][] = [
    [[], 0],
    [['-v'], 1],
    [['-vv'], 2],
    [['-vvv'], 3],
    [['-v', '-v'], 2],
    [['-vv', '-v'], 3],
    [['-vvvv'], 3],
    [['-v', '-vv', '-vvv'], 3],
  ];
  for (const [flags, level] of cases) {
    test(`${flags.join(' ') || '(none)'} → ${level}`, () => {
      assert.equal(watch(...flags).verbosity, level);
    });
  }
});

describe('help and version', () => {
  test('-h, --help and help print the main help', () => {
    for (const argv of [['-h'], ['--help'], ['help']]) {
      assert.deepEqual(parseCommandLine(argv), { command: 'help', json: false, verbosity: 0, feed: {} });
    }
  });

  test('no command at all is a usage error: the main help, marked as misuse (stderr, exit 2; issue 21)', () => {
    assert.deepEqual(parseCommandLine([]), {
      command: 'help',
      json: false,
      verbosity: 0,
      feed: {},
      misuse: true,
    });
  });

  test('help watch, watch --help and watch -h ask for watch', () => {
    for (const argv of [
      ['help', 'watch'],
      ['watch', '--help'],
      ['watch', '-h'],
      ['watch', '--json', '-h'],
    ]) {
      const parsed = parseCommandLine(argv);
      assert.equal(parsed.command, 'help', argv.join(' '));
      assert.equal(parsed.topic, 'watch', argv.join(' '));
    }
  });

  test('help for an unknown command', () => {
    usageError(['help', 'frobnicate'], /unknown command "frobnicate"/, 'command');
    usageError(['help', 'constructor'], /unknown command "constructor"/, 'command');
  });

  test('--version and -V', () => {
    assert.equal(parseCommandLine(['--version']).command, 'version');
    assert.equal(parseCommandLine(['-V']).command, 'version');
  });

  test('the help texts name every watch flag and the exit statuses', () => {
    for (const flag of [
      '--table',
      '--plugin',
      '--partitions',
      '--keys',
      '--debounce',
      '--max-batch-wait',
      '--max-keys',
      '--failsafe',
      '--status-interval',
      '--liveness-timeout',
      '--json',
      '--dsn',
      '-v',
    ]) {
      assert.ok(WATCH_HELP.includes(flag), `watch --help mentions ${flag}`);
    }
    assert.match(MAIN_HELP, /watch/);
    assert.match(MAIN_HELP, /0 on a clean end.*1 on a fatal error.*2 on a usage error/s);
  });
});

describe('usage errors', () => {
  test('unknown command, including names every object inherits', () => {
    usageError(['frobnicate'], /unknown command "frobnicate"; commands: watch/, 'command');
    usageError(['toString'], /unknown command "toString"/, 'command');
    usageError(['__proto__'], /unknown command "__proto__"/, 'command');
  });

  test('an option before the command', () => {
    usageError(['--json', 'watch'], /"--json" comes before a command/, 'command');
  });

  test('did you mean: the nearest command or flag, by the nearest-name rule of the library (issue 21)', () => {
    usageError(['wacth'], /^unknown command "wacth"; did you mean "watch"\?; commands: watch, /, 'command');
    usageError(['Doctor'], /unknown command "Doctor"; did you mean "doctor"\?/, 'command');
    usageError(['help', 'serv'], /unknown command "serv"; did you mean "serve"\?; run pgnudge --help/);
    usageError(
      ['watch', '--tabel', 'public.t'],
      /^Unknown option '--tabel'; did you mean "--table"\?; see pgnudge watch --help$/,
    );
    usageError(
      ['watch', '--max-batch-wiat=5'],
      /Unknown option '--max-batch-wiat'; did you mean "--max-batch-wait"\?/,
    );
    usageError(
      ['doctor', '--jsno'],
      /Unknown option '--jsno'; did you mean "--json"\?; see pgnudge doctor --help/,
    );
    usageError(['listen', '--chanel', 'x'], /did you mean "--channel"\?/);
    usageError(['watch', '--log-fromat', 'json'], /did you mean "--log-format"\?/);
    // Far from every flag: no guess.
    usageError(['watch', '--frobnicate'], /^Unknown option '--frobnicate'; see pgnudge watch --help$/);
    usageError(['frobnicate'], /^unknown command "frobnicate"; commands: /, 'command');
  });

  test('unknown flags', () => {
    usageError(['watch', '--bogus'], /Unknown option '--bogus'; see pgnudge watch --help/);
    usageError(['watch', '-x'], /Unknown option '-x'/);
    usageError(['watch', '--version'], /Unknown option '--version'/);
  });

  test('a positional argument', () => {
    usageError(['watch', 'public.orders'], /Unexpected argument 'public\.orders'/);
  });

  test('a connection string cut apart by the shell, or a forgotten --dsn, is shown without its password', () => {
    for (const argv of [
      ['watch', '--dsn', 'host=127.0.0.1', 'password=S3CRET'],
      ['watch', '--dsn', 'host=127.0.0.1', "password='S3CRET'", 'sslmode=require'],
      ['watch', 'postgres://app:S3CRET@db/shop'],
      ['watch', 'postgresql://app@db/shop?password=S3CRET'],
      ['bridge', '--channel', 'c', 'host=db password=S3CRET'],
      ['postgres://app:S3CRET@db/shop'],
      ['--dsn=postgres://app:S3CRET@db/shop', 'watch'],
      ['help', 'postgres://app:S3CRET@db/shop'],
    ]) {
      assert.throws(
        () => parseCommandLine(argv),
        // inspect: the cause and anything else a logger might print with the error.
        (error: unknown) =>
          error instanceof ConfigError && !inspect(error).includes('S3CRET') && !error.message.includes('\n'),
        JSON.stringify(argv),
      );
    }
    usageError(
      ['watch', '--dsn', 'host=127.0.0.1', 'password=S3CRET'],
      /^Unexpected argument 'password=\*\*\*': a --dsn with spaces needs quotes: --dsn 'host=\.\.\. password=\.\.\.'; see pgnudge watch --help$/,
    );
    usageError(
      ['watch', 'postgres://app:S3CRET@db/shop'],
      /Unexpected argument 'postgres:\/\/app:\*\*\*@db\/shop'/,
    );
  });

  test('a flag without its value', () => {
    usageError(['watch', '--debounce'], /'--debounce <value>' argument missing/);
    usageError(['watch', '--table'], /'--table <value>' argument missing/);
  });

  test('--json takes no value', () => {
    usageError(['watch', '--json=yes'], /'--json' does not take an argument/);
  });

  test('a negative number reads as a missing value, in one line', () => {
    usageError(
      ['watch', '--debounce', '-1'],
      /--debounce needs a value, but the next argument "-1" looks like an option/,
    );
  });

  const numberFlags = [
    'debounce',
    'max-batch-wait',
    'failsafe',
    'status-interval',
    'liveness-timeout',
    'read-pacing',
  ];
  for (const flag of numberFlags) {
    test(`--${flag} takes a whole number of milliseconds`, () => {
      for (const bad of ['abc', '1.5', '1e3', '', ' 5', '0x10', '=-1']) {
        const argv = bad.startsWith('=') ? ['watch', `--${flag}${bad}`] : ['watch', `--${flag}`, bad];
        usageError(argv, new RegExp(`--${flag} takes a whole number of milliseconds; got "`), `--${flag}`);
      }
      usageError(
        ['watch', `--${flag}`, '99999999999'],
        new RegExp(`--${flag} must be a whole number of milliseconds from 0 to 2147483647; got 99999999999$`),
        `--${flag}`,
      );
    });
  }

  test('--partitions outside its choices', () => {
    usageError(
      ['watch', '--partitions', 'leaves'],
      /--partitions must be root or leaf; got "leaves"/,
      '--partitions',
    );
  });

  test('--max-keys takes a whole number of keys, at least 1', () => {
    for (const bad of ['abc', '1.5', '1e3', '', ' 5', '0x10']) {
      usageError(
        ['watch', '--max-keys', bad],
        /--max-keys takes a whole number of keys per table; got "/,
        '--max-keys',
      );
    }
    usageError(
      ['watch', '--max-keys', '0'],
      /--max-keys must be a whole number of keys per table, at least 1; got 0$/,
      '--max-keys',
    );
    usageError(
      ['watch', '--max-keys', '99999999999999999'],
      /at least 1; got 100000000000000000$/,
      '--max-keys',
    );
  });

  test('--plugin outside its choices', () => {
    usageError(
      ['watch', '--plugin', 'decoderbufs'],
      /--plugin must be auto, wal2json, test_decoding or pgoutput; got "decoderbufs"/,
      '--plugin',
    );
  });
});

describe('issue 21 flags', () => {
  test('--first-connect-timeout maps to firstConnectTimeout; 0 retries for ever (null), as the library reads 0', () => {
    assert.equal(watch('--first-connect-timeout', '5000').feed.firstConnectTimeout, 5000);
    assert.equal(watch('--first-connect-timeout', '0').feed.firstConnectTimeout, null);
    assert.equal(
      parseCommandLine(['listen', '--channel', 'c', '--first-connect-timeout', '100']).feed
        .firstConnectTimeout,
      100,
    );
    assert.equal(
      parseCommandLine(['bridge', '--channel', 'c', '--first-connect-timeout', '0']).feed.firstConnectTimeout,
      null,
    );
    usageError(
      ['watch', '--first-connect-timeout', '-1'],
      /--first-connect-timeout needs a value|takes a whole number/,
    );
  });

  test('--log-format text|json on every command', () => {
    assert.equal(watch('--log-format', 'json').logFormat, 'json');
    assert.equal(watch('--log-format=text').logFormat, 'text');
    assert.equal(watch().logFormat, undefined);
    for (const argv of [
      ['doctor', '--log-format', 'json'],
      ['demo', '--log-format', 'json'],
      ['listen', '--channel', 'c', '--log-format', 'json'],
      ['bridge', '--channel', 'c', '--log-format', 'json'],
      ['serve', '--log-format', 'json'],
    ]) {
      assert.equal(parseCommandLine(argv).logFormat, 'json', argv.join(' '));
    }
    usageError(
      ['watch', '--log-format', 'xml'],
      /^--log-format must be text or json; got "xml"$/,
      '--log-format',
    );
  });

  test('doctor --table repeats, and a malformed name is a usage error', () => {
    assert.deepEqual(parseCommandLine(['doctor', '--table', 'public.a', '--table', '"S"."T"']).feed, {
      tables: ['public.a', '"S"."T"'],
    });
    usageError(['doctor', '--table', 'orders'], /invalid table "orders": it needs a schema/, 'tables');
  });
});

describe('watch --physical (contract R27)', () => {
  test('asks for a RawFeed, with every watch option but --plugin', () => {
    assert.deepEqual(watch('--physical', '--table', 'public.a', '--debounce', '5', '--json'), {
      command: 'watch',
      json: true,
      verbosity: 0,
      feed: { tables: ['public.a'], debounce: 5 },
      physical: true,
    });
    assert.equal(watch().physical, undefined, 'a WalFeed unless asked');
  });

  test('--plugin with --physical is a usage error naming why', () => {
    usageError(['watch', '--physical', '--plugin', 'wal2json'], /decodes physical WAL itself/, '--plugin');
    usageError(
      ['watch', '--physical', '--publication', 'app'],
      /decodes physical WAL itself/,
      '--publication',
    );
  });

  test('bridge takes no --physical: it runs a WalFeed', () => {
    usageError(['bridge', '--channel', 'c', '--physical'], /--physical/);
  });

  test('the watch help names it', () => {
    assert.match(WATCH_HELP, /--physical/);
    assert.match(WATCH_HELP, /wal_level = replica/);
  });
});

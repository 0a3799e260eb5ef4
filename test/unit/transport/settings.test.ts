// Resolution of options, connection strings, PG* variables and the password file into ConnectionSettings.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../../../src/errors.js';
import {
  type ConnectionOptions,
  type ConnectionSettings,
  describeHost,
  describeTarget,
  resolveConnectionSettings,
  type SettingsIo,
  unixSocketPath,
} from '../../../src/transport/settings.js';

type Env = Record<string, string | undefined>;

function fakeIo(files: Record<string, string> = {}, extra: Partial<SettingsIo> = {}): SettingsIo {
  return { readPasswordFile: (path) => files[path], homedir: '/home/me', username: 'me', ...extra };
}

function resolve(
  options: ConnectionOptions = {},
  env: Env = {},
  io: SettingsIo = fakeIo(),
): ConnectionSettings {
  return resolveConnectionSettings(options, env, io);
}

function throwsConfig(fn: () => unknown, option: string | undefined, messagePart: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
    assert.equal(error.option, option);
    assert.match(error.message, messagePart);
    return true;
  });
}

describe('defaults', () => {
  test('with nothing given', () => {
    assert.deepEqual(resolve(), {
      hosts: [{ host: 'localhost', port: 5432 }],
      user: 'me',
      database: 'me',
      password: undefined,
      sslmode: 'prefer',
      sslrootcert: undefined,
      sslcert: undefined,
      sslkey: undefined,
      sslnegotiation: 'postgres',
      channelBinding: 'prefer',
      connectTimeoutMs: 10000,
      applicationName: 'pgnudge',
      options: {},
    });
  });
  test('no user anywhere is an error', () => {
    throwsConfig(
      () => resolve({}, {}, { readPasswordFile: () => undefined, homedir: '' }),
      'user',
      /no user name/,
    );
  });
  test('dbname defaults to the resolved user, not the OS user', () => {
    assert.equal(resolve({}, { PGUSER: 'alice' }).database, 'alice');
  });
  test('verify-full without sslrootcert points at ~/.postgresql/root.crt', () => {
    assert.equal(resolve({ sslmode: 'verify-full' }).sslrootcert, '/home/me/.postgresql/root.crt');
    assert.equal(resolve({ sslmode: 'verify-ca' }).sslrootcert, '/home/me/.postgresql/root.crt');
    assert.equal(resolve({ sslmode: 'require' }).sslrootcert, undefined);
  });
  test('verify-full without sslrootcert or home directory is an error', () => {
    throwsConfig(
      () => resolve({ sslmode: 'verify-full' }, {}, fakeIo({}, { homedir: '' })),
      'sslrootcert',
      /needs sslrootcert/,
    );
  });
  test('fallback_application_name applies only when no application_name is given', () => {
    assert.equal(resolve({ connectionString: 'fallback_application_name=fb' }).applicationName, 'fb');
    assert.equal(
      resolve({ connectionString: 'fallback_application_name=fb' }, { PGAPPNAME: 'env' }).applicationName,
      'env',
    );
  });
});

// Each row: the same keyword from the four sources; the expected winner, by precedence.
describe('precedence: options > connection string > environment > defaults', () => {
  const rows: [
    name: string,
    options: ConnectionOptions,
    env: Env,
    pick: (s: ConnectionSettings) => unknown,
    expected: unknown,
  ][] = [
    [
      'option beats string and env',
      { host: 'opt', connectionString: 'host=str' },
      { PGHOST: 'env' },
      (s) => s.hosts[0]!.host,
      'opt',
    ],
    ['string beats env', { connectionString: 'host=str' }, { PGHOST: 'env' }, (s) => s.hosts[0]!.host, 'str'],
    ['env beats default', {}, { PGHOST: 'env' }, (s) => s.hosts[0]!.host, 'env'],
    ['URL user beats PGUSER', { connectionString: 'postgres://u@h' }, { PGUSER: 'env' }, (s) => s.user, 'u'],
    [
      'PGDATABASE fills what the URL leaves out',
      { connectionString: 'postgres://h' },
      { PGDATABASE: 'envdb' },
      (s) => s.database,
      'envdb',
    ],
    [
      'database option beats URL path',
      { database: 'o', connectionString: 'postgres://h/s' },
      { PGDATABASE: 'e' },
      (s) => s.database,
      'o',
    ],
    ['port option beats PGPORT', { port: 6000 }, { PGPORT: '7000' }, (s) => s.hosts[0]!.port, 6000],
    ['PGPORT used when nothing else', {}, { PGPORT: '7000' }, (s) => s.hosts[0]!.port, 7000],
    [
      'string port beats PGPORT',
      { connectionString: 'port=6500' },
      { PGPORT: '7000' },
      (s) => s.hosts[0]!.port,
      6500,
    ],
    [
      'sslmode option beats string',
      { sslmode: 'disable', connectionString: 'sslmode=require' },
      { PGSSLMODE: 'allow' },
      (s) => s.sslmode,
      'disable',
    ],
    ['PGSSLMODE used', {}, { PGSSLMODE: 'require' }, (s) => s.sslmode, 'require'],
    [
      'password option beats all',
      { password: 'o', connectionString: 'password=s' },
      { PGPASSWORD: 'e' },
      (s) => s.password,
      'o',
    ],
    [
      'string password beats PGPASSWORD',
      { connectionString: 'password=s' },
      { PGPASSWORD: 'e' },
      (s) => s.password,
      's',
    ],
    ['PGPASSWORD used', {}, { PGPASSWORD: 'e' }, (s) => s.password, 'e'],
    ['applicationName option', { applicationName: 'o' }, { PGAPPNAME: 'e' }, (s) => s.applicationName, 'o'],
    ['PGAPPNAME', {}, { PGAPPNAME: 'e' }, (s) => s.applicationName, 'e'],
    ['PGCHANNELBINDING', {}, { PGCHANNELBINDING: 'disable' }, (s) => s.channelBinding, 'disable'],
    [
      'channelBinding option beats PGCHANNELBINDING',
      { channelBinding: 'require' },
      { PGCHANNELBINDING: 'disable' },
      (s) => s.channelBinding,
      'require',
    ],
    [
      'PGSSLROOTCERT/PGSSLCERT/PGSSLKEY',
      {},
      { PGSSLROOTCERT: '/ca', PGSSLCERT: '/c', PGSSLKEY: '/k' },
      (s) => [s.sslrootcert, s.sslcert, s.sslkey],
      ['/ca', '/c', '/k'],
    ],
    [
      'PGSSLNEGOTIATION',
      {},
      { PGSSLNEGOTIATION: 'direct', PGSSLMODE: 'require' },
      (s) => s.sslnegotiation,
      'direct',
    ],
    ['PGCONNECT_TIMEOUT seconds to ms', {}, { PGCONNECT_TIMEOUT: '7' }, (s) => s.connectTimeoutMs, 7000],
    [
      'connectTimeout option is ms',
      { connectTimeout: 1500 },
      { PGCONNECT_TIMEOUT: '7' },
      (s) => s.connectTimeoutMs,
      1500,
    ],
    ['empty option falls through', { host: '' }, { PGHOST: 'env' }, (s) => s.hosts[0]!.host, 'env'],
    [
      'empty string value falls through',
      { connectionString: "host=''" },
      { PGHOST: 'env' },
      (s) => s.hosts[0]!.host,
      'env',
    ],
    ['empty env var is unset', {}, { PGSSLMODE: '' }, (s) => s.sslmode, 'prefer'],
    [
      'hostaddr when no host',
      { connectionString: 'hostaddr=10.0.0.1' },
      {},
      (s) => s.hosts[0]!.host,
      '10.0.0.1',
    ],
    ['PGHOSTADDR when no host', {}, { PGHOSTADDR: '::1' }, (s) => s.hosts[0]!.host, '::1'],
    [
      'URL socket dir',
      { connectionString: 'postgres://%2Ftmp/db' },
      {},
      (s) => s.hosts,
      [{ host: '/tmp', port: 5432 }],
    ],
  ];
  for (const [name, options, env, pick, expected] of rows) {
    test(name, () => assert.deepEqual(pick(resolve(options, env)), expected));
  }
  test('password function is passed through untouched', () => {
    const token = async () => 'iam';
    assert.equal(resolve({ password: token }, { PGPASSWORD: 'e' }).password, token);
  });
});

describe('hosts and ports', () => {
  const rows: [
    name: string,
    options: ConnectionOptions,
    env: Env,
    expected: { host: string; port: number }[],
  ][] = [
    [
      'one port for many hosts',
      { connectionString: 'host=a,b port=6000' },
      {},
      [
        { host: 'a', port: 6000 },
        { host: 'b', port: 6000 },
      ],
    ],
    [
      'one port per host',
      { connectionString: 'host=a,b port=1,2' },
      {},
      [
        { host: 'a', port: 1 },
        { host: 'b', port: 2 },
      ],
    ],
    [
      'empty host entry is the default',
      { connectionString: 'host=a,,b' },
      {},
      [
        { host: 'a', port: 5432 },
        { host: 'localhost', port: 5432 },
        { host: 'b', port: 5432 },
      ],
    ],
    [
      'empty port entry is the default',
      { connectionString: 'host=a,b port=1,' },
      {},
      [
        { host: 'a', port: 1 },
        { host: 'b', port: 5432 },
      ],
    ],
    [
      'host list from option, port from env',
      { host: 'a,b' },
      { PGPORT: '6' },
      [
        { host: 'a', port: 6 },
        { host: 'b', port: 6 },
      ],
    ],
    [
      'URL host list',
      { connectionString: 'postgres://a:1,[::1]:2/db' },
      {},
      [
        { host: 'a', port: 1 },
        { host: '::1', port: 2 },
      ],
    ],
    [
      'port with surrounding spaces',
      { connectionString: "port=' 6000 '" },
      {},
      [{ host: 'localhost', port: 6000 }],
    ],
    [
      'socket dir via query',
      { connectionString: 'postgres:///db?host=/var/run/postgresql' },
      {},
      [{ host: '/var/run/postgresql', port: 5432 }],
    ],
  ];
  for (const [name, options, env, expected] of rows) {
    test(name, () => assert.deepEqual(resolve(options, env).hosts, expected));
  }
});

describe('validation', () => {
  const rows: [name: string, options: ConnectionOptions, env: Env, option: string, message: RegExp][] = [
    [
      'bad sslmode option',
      { sslmode: 'requir' as never },
      {},
      'sslmode',
      /^sslmode "requir" is not one of disable, allow, prefer, require, verify-ca, verify-full$/,
    ],
    [
      'bad PGSSLMODE names the variable',
      {},
      { PGSSLMODE: 'on' },
      'PGSSLMODE',
      /sslmode "on" \(from PGSSLMODE\) is not one of/,
    ],
    ['bad sslmode in string', { connectionString: 'sslmode=x' }, {}, 'sslmode', /sslmode "x" is not one of/],
    [
      'bad channel_binding',
      { connectionString: 'channel_binding=yes' },
      {},
      'channel_binding',
      /channel_binding "yes" is not one of disable, prefer, require/,
    ],
    [
      'bad channelBinding option',
      { channelBinding: 'yes' as never },
      {},
      'channelBinding',
      /is not one of disable, prefer, require/,
    ],
    [
      'bad sslnegotiation',
      {},
      { PGSSLNEGOTIATION: 'tls' },
      'PGSSLNEGOTIATION',
      /not one of postgres, direct/,
    ],
    [
      'direct needs sslmode require',
      { sslnegotiation: 'direct' },
      {},
      'sslnegotiation',
      /needs sslmode "require", "verify-ca" or "verify-full", not "prefer"/,
    ],
    [
      'direct with allow',
      { sslnegotiation: 'direct', sslmode: 'allow' },
      {},
      'sslnegotiation',
      /not "allow"/,
    ],
    [
      'channel_binding require with sslmode disable',
      { channelBinding: 'require', sslmode: 'disable' },
      {},
      'channel_binding',
      /needs TLS/,
    ],
    [
      'sslrootcert=system with weak sslmode',
      { sslrootcert: 'system', sslmode: 'require' },
      {},
      'sslmode',
      /too weak for sslrootcert=system/,
    ],
    ['port 0', { port: 0 }, {}, 'port', /port 0 is not a port number \(an integer from 1 to 65535\)/],
    ['port 65536', { port: 65536 }, {}, 'port', /not a port number/],
    ['port 1.5', { port: 1.5 }, {}, 'port', /not a port number/],
    ['port as string option', { port: '5432' as never }, {}, 'port', /port must be a number/],
    ['non-numeric PGPORT', {}, { PGPORT: 'abc' }, 'PGPORT', /PGPORT "abc" is not a port number/],
    [
      'non-numeric port in string',
      { connectionString: 'port=5x' },
      {},
      'port',
      /port "5x" \(in the connection string\)/,
    ],
    ['negative port', { connectionString: 'port=-1' }, {}, 'port', /not a port number/],
    [
      'port count mismatch',
      { connectionString: 'host=a,b,c port=1,2' },
      {},
      'port',
      /lists 2 ports for 3 hosts/,
    ],
    [
      'host and hostaddr together',
      { host: 'h' },
      { PGHOSTADDR: '10.0.0.1' },
      'PGHOSTADDR',
      /both host .* and hostaddr/,
    ],
    [
      'hostaddr not numeric',
      { connectionString: 'hostaddr=db.example' },
      {},
      'hostaddr',
      /not a numeric IP address/,
    ],
    ['host with a space', { host: 'a b' }, {}, 'host', /not a host name/],
    ['abstract socket refused', { host: '@pg' }, {}, 'host', /not a host name/],
    [
      'negative connect_timeout',
      { connectionString: 'connect_timeout=-1' },
      {},
      'connect_timeout',
      /not a non-negative whole number of seconds/,
    ],
    [
      'fractional PGCONNECT_TIMEOUT',
      {},
      { PGCONNECT_TIMEOUT: '1.5' },
      'PGCONNECT_TIMEOUT',
      /whole number of seconds/,
    ],
    [
      'negative connectTimeout option',
      { connectTimeout: -1 },
      {},
      'connectTimeout',
      /connectTimeout must be a whole number of milliseconds from 0 to 2147483647; got -1/,
    ],
    ['NaN connectTimeout option', { connectTimeout: Number.NaN }, {}, 'connectTimeout', /got NaN/],
    [
      'fractional connectTimeout option (the rule every duration follows)',
      { connectTimeout: 1.5 },
      {},
      'connectTimeout',
      /whole number of milliseconds/,
    ],
    [
      'connectTimeout option past what a timer can wait',
      { connectTimeout: 2 ** 31 },
      {},
      'connectTimeout',
      /from 0 to 2147483647/,
    ],
    [
      'gssencmode require',
      { connectionString: 'gssencmode=require' },
      {},
      'gssencmode',
      /does not support GSSAPI/,
    ],
    ['PGGSSENCMODE require', {}, { PGGSSENCMODE: 'require' }, 'PGGSSENCMODE', /GSSAPI/],
    [
      'gssencmode bad value',
      { connectionString: 'gssencmode=x' },
      {},
      'gssencmode',
      /not one of disable, prefer, require/,
    ],
    [
      'target_session_attrs read-write',
      { connectionString: 'target_session_attrs=read-write' },
      {},
      'target_session_attrs',
      /only "any"/,
    ],
    [
      'target_session_attrs bad value',
      {},
      { PGTARGETSESSIONATTRS: 'x' },
      'PGTARGETSESSIONATTRS',
      /not one of any, read-write/,
    ],
    [
      'keepalives not a number',
      { connectionString: 'keepalives_idle=soon' },
      {},
      'keepalives_idle',
      /non-negative integer/,
    ],
    [
      'PGOPTIONS set',
      {},
      { PGOPTIONS: '-c x=1' },
      'PGOPTIONS',
      /PGOPTIONS is set, but startup options are not supported/,
    ],
    ['PGSERVICE set', {}, { PGSERVICE: 'x' }, 'PGSERVICE', /service files are not supported/],
    ['password of a wrong type', { password: 42 as never }, {}, 'password', /must be a string or a function/],
    ['host of a wrong type', { host: 42 as never }, {}, 'host', /host must be a string/],
    [
      'connectionString of a wrong type',
      { connectionString: 1 as never },
      {},
      'connectionString',
      /must be a string/,
    ],
    // Refused at construction: in the startup message a NUL would end the value early.
    ['NUL in user', { user: 'a\0b' }, {}, 'user', /^user contains a NUL character/],
    ['NUL in database', { database: 'a\0b' }, {}, 'database', /^database contains a NUL character/],
    [
      'NUL in applicationName',
      { applicationName: 'dash\0board' },
      {},
      'applicationName',
      /^applicationName contains a NUL character/,
    ],
    ['NUL in sslrootcert', { sslrootcert: '/ca\0.pem' }, {}, 'sslrootcert', /NUL character/],
    [
      'NUL in password, which is not shown',
      { password: 's3cret\0pw' },
      {},
      'password',
      /^password contains a NUL character, which PostgreSQL cannot accept$/,
    ],
    ['URL port not a number', { connectionString: 'postgres://h:5x/db' }, {}, 'port', /port "5x"/],
    ['URL port 65536', { connectionString: 'postgresql://h:65536/db' }, {}, 'port', /not a port number/],
    [
      'URL query ports for fewer hosts',
      { connectionString: 'postgres://a,b,c/db?port=1,2' },
      {},
      'port',
      /lists 2 ports for 3 hosts/,
    ],
    ['two ports for one host', { connectionString: 'port=1,2' }, {}, 'port', /lists 2 ports for 1 hosts/],
    ['quoted host with a space', { connectionString: "host='a b'" }, {}, 'host', /"a b" is not a host name/],
    [
      'URL connect_timeout not a number',
      { connectionString: 'postgres://h?connect_timeout=abc' },
      {},
      'connect_timeout',
      /not a non-negative whole number of seconds/,
    ],
    [
      'unknown keyword via resolve',
      { connectionString: 'colour=blue' },
      {},
      'connectionString',
      /unknown connection parameter "colour"/,
    ],
  ];
  for (const [name, options, env, option, message] of rows) {
    test(name, () => throwsConfig(() => resolve(options, env), option, message));
  }

  test('accepted and ignored: gssencmode disable/prefer, target_session_attrs any, keepalives', () => {
    const s = resolve({
      connectionString:
        'gssencmode=prefer target_session_attrs=any keepalives=1 keepalives_idle=30 keepalives_interval=5 keepalives_count=3',
    });
    assert.equal(s.hosts[0]!.host, 'localhost');
  });
  test('sslrootcert=system implies verify-full', () => {
    const s = resolve({ sslrootcert: 'system' });
    assert.equal(s.sslmode, 'verify-full');
    assert.equal(s.sslrootcert, 'system');
  });
  test('ssl=true in a URL means require', () =>
    assert.equal(resolve({ connectionString: 'postgres://h?ssl=true' }).sslmode, 'require'));
});

describe('no error from a bad connection string shows its password', () => {
  const secret = 'S3cr3tPw';
  const texts = [
    `postgres://u:${secret}@h:badport/db`,
    `postgres://u:${secret}@h/db?sslmode=bogus`,
    `postgres://u:${secret}@a,b,c/db?port=1,2`,
    `postgres://u:${secret}@h/db?target_session_attrs=read-write`,
    `password=${secret} sslmode=bogus`,
    `password=${secret} host='a b'`,
    `password='${secret}' hostaddr=db.example`,
    `password=${secret} channel_binding=require sslmode=disable`,
    `password=${secret} connect_timeout=-1`,
  ];
  for (const text of texts) {
    test(text, () => {
      assert.throws(
        () => resolve({ connectionString: text }),
        (error: unknown) => error instanceof ConfigError && !error.message.includes(secret),
      );
    });
  }
});

describe('no error from a host entry, or another value, shows a password in it', () => {
  const secret = 'S3cr3tPw';
  /** The error names `option`, tells what to do (`advice`), and shows no part of the password anywhere. */
  const refusedWithoutSecret =
    (option: string, advice: RegExp, secrets: readonly string[] = [secret]) =>
    (error: unknown) => {
      assert.ok(error instanceof ConfigError, `expected ConfigError, got ${String(error)}`);
      assert.equal(error.option, option);
      const shown = [error.message, String(error.stack), String(error.cause ?? ''), JSON.stringify(error)];
      for (const part of secrets) {
        for (const text of shown)
          assert.ok(!text.includes(part), `${JSON.stringify(part)} leaked in ${text}`);
      }
      assert.match(error.message, advice);
      return true;
    };
  const userInfoAdvice = /not a host name.*connectionString/s;
  const rows: [name: string, options: ConnectionOptions, env: Env, option: string, advice: RegExp][] = [
    ['a URL as the host option', { host: `postgres://app:${secret}@db` }, {}, 'host', userInfoAdvice],
    ['a URL in PGHOST', {}, { PGHOST: `postgres://app:${secret}@db` }, 'PGHOST', userInfoAdvice],
    ['user:password@host as the host option', { host: `app:${secret}@db` }, {}, 'host', userInfoAdvice],
    ['user:password@host in PGHOST', {}, { PGHOST: `app:${secret}@db` }, 'PGHOST', userInfoAdvice],
    ['a URL as the second host', { host: `db,postgres://app:${secret}@other` }, {}, 'host', userInfoAdvice],
    [
      'user:password@host as host= in a key=value string',
      { connectionString: `host='app:${secret}@db'` },
      {},
      'host',
      userInfoAdvice,
    ],
    [
      'user:password@address as hostaddr',
      { connectionString: `hostaddr='app:${secret}@10.0.0.1'` },
      {},
      'hostaddr',
      userInfoAdvice,
    ],
    [
      'key=value text in PGHOST',
      {},
      { PGHOST: `db password=${secret}` },
      'PGHOST',
      /not a host name.*connectionString/s,
    ],
    [
      'a misquoted sslmode',
      { connectionString: `sslmode='require password=${secret}'` },
      {},
      'sslmode',
      /is not one of/,
    ],
    [
      'a misquoted port',
      { connectionString: `port='5432 password=${secret}'` },
      {},
      'port',
      /not a port number/,
    ],
    [
      'a misquoted connect_timeout',
      { connectionString: `connect_timeout='5 password=${secret}'` },
      {},
      'connect_timeout',
      /non-negative whole number of seconds/,
    ],
    [
      'a misquoted keepalives',
      { connectionString: `keepalives='1 password=${secret}'` },
      {},
      'keepalives',
      /non-negative integer/,
    ],
  ];
  for (const [name, options, env, option, advice] of rows) {
    test(name, () => assert.throws(() => resolve(options, env), refusedWithoutSecret(option, advice)));
  }
  test('a password with a comma in a host URL leaks neither half (the host list is split on commas)', () => {
    assert.throws(
      () => resolve({ host: 'postgres://app:pa55,w0rd@db' }),
      refusedWithoutSecret('host', userInfoAdvice, ['pa55', 'w0rd']),
    );
  });
  test('the user info is hidden but the host part is still shown, to find the entry', () => {
    assert.throws(
      () => resolve({ host: `app:${secret}@db.example` }),
      (error: unknown) => error instanceof ConfigError && /db\.example/.test(error.message),
    );
    assert.throws(
      () => resolve({}, { PGHOST: `postgres://app:${secret}@db.example` }),
      (error: unknown) =>
        error instanceof ConfigError && /postgres:\/\/app:\*\*\*@db\.example/.test(error.message),
    );
  });
});

describe('connect timeout', () => {
  const rows: [given: string, ms: number][] = [
    ['0', 0],
    ['1', 2000],
    ['2', 2000],
    ['30', 30000],
    [' 5 ', 5000],
  ];
  for (const [given, ms] of rows) {
    test(`connect_timeout=${JSON.stringify(given)} -> ${ms} ms`, () => {
      assert.equal(resolve({ connectionString: `connect_timeout='${given}'` }).connectTimeoutMs, ms);
      assert.equal(resolve({}, { PGCONNECT_TIMEOUT: given }).connectTimeoutMs, ms);
    });
  }
  test('option of 0 means no timeout, small values kept', () => {
    assert.equal(resolve({ connectTimeout: 0 }).connectTimeoutMs, 0);
    assert.equal(resolve({ connectTimeout: 250 }).connectTimeoutMs, 250);
  });
});

describe('password file', () => {
  const pgpass = '/home/me/.pgpass';
  const file = [
    '# comment',
    '',
    'db1:5432:app:alice:one',
    'db2:*:*:alice:two',
    'localhost:5432:*:alice:local',
    '/tmp/sock:5432:*:alice:sockpw',
    '*:*:*:*:fallback',
  ].join('\n');

  test('used when no password is given', () => {
    const s = resolve({ host: 'db1', user: 'alice', database: 'app' }, {}, fakeIo({ [pgpass]: file }));
    assert.equal(s.password, 'one');
    assert.equal(s.hosts[0]!.password, 'one');
  });
  test('not used when a password came from elsewhere', () => {
    for (const [options, env] of [
      [{ password: 'x' }, {}],
      [{ connectionString: 'password=x' }, {}],
      [{}, { PGPASSWORD: 'x' }],
    ] as [ConnectionOptions, Env][]) {
      const s = resolve(
        { host: 'db1', user: 'alice', database: 'app', ...options },
        env,
        fakeIo({ [pgpass]: file }),
      );
      assert.equal(s.password, 'x');
      assert.equal(s.hosts[0]!.password, undefined);
    }
  });
  test('default socket directory matches localhost', () => {
    const s = resolve({ host: '/var/run/postgresql', user: 'alice' }, {}, fakeIo({ [pgpass]: file }));
    assert.equal(s.password, 'local');
  });
  test('other socket directories match their path', () => {
    assert.equal(
      resolve({ host: '/tmp/sock', user: 'alice' }, {}, fakeIo({ [pgpass]: file })).password,
      'sockpw',
    );
  });
  test('default host localhost matches localhost', () => {
    assert.equal(resolve({ user: 'alice' }, {}, fakeIo({ [pgpass]: file })).password, 'local');
  });
  test('per-host lookup: differing passwords stay on their host', () => {
    const s = resolve(
      { connectionString: 'host=db1,db2 user=alice dbname=app' },
      {},
      fakeIo({ [pgpass]: file }),
    );
    assert.equal(s.password, undefined);
    assert.deepEqual(
      s.hosts.map((h) => h.password),
      ['one', 'two'],
    );
  });
  test('per-host lookup: a shared password is exposed on settings too', () => {
    const s = resolve({ connectionString: 'host=x,y user=bob' }, {}, fakeIo({ [pgpass]: file }));
    assert.equal(s.password, 'fallback');
  });
  test('a host with no match gets no password, never another host’s', () => {
    const s = resolve(
      { connectionString: 'host=db1,db9 user=alice dbname=app' },
      {},
      fakeIo({ [pgpass]: 'db1:*:*:*:one\n' }),
    );
    assert.equal(s.password, undefined);
    assert.deepEqual(
      s.hosts.map((h) => h.password),
      ['one', undefined],
    );
  });
  test('passfile precedence: option > string > PGPASSFILE > ~/.pgpass', () => {
    const io = fakeIo({ '/o': '*:*:*:*:o', '/s': '*:*:*:*:s', '/e': '*:*:*:*:e', [pgpass]: '*:*:*:*:home' });
    assert.equal(
      resolve({ passfile: '/o', connectionString: 'passfile=/s' }, { PGPASSFILE: '/e' }, io).password,
      'o',
    );
    assert.equal(resolve({ connectionString: 'passfile=/s' }, { PGPASSFILE: '/e' }, io).password, 's');
    assert.equal(resolve({}, { PGPASSFILE: '/e' }, io).password, 'e');
    assert.equal(resolve({}, {}, io).password, 'home');
  });
  test('a missing or unreadable file is ignored', () => {
    assert.equal(resolve({}, {}, fakeIo()).password, undefined);
    const throwing = fakeIo(
      {},
      {
        readPasswordFile: () => {
          throw new Error('EACCES');
        },
      },
    );
    assert.equal(resolve({}, {}, throwing).password, undefined);
  });
  test('a file that is not private is ignored with a warning, never its contents', () => {
    const warnings: string[] = [];
    const io = fakeIo(
      {},
      {
        readPasswordFile: () => ({
          ignored: 'has group or world access; permissions should be u=rw (0600) or less',
        }),
        warn: (m) => warnings.push(m),
      },
    );
    assert.equal(resolve({}, {}, io).password, undefined);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /password file ".*\.pgpass" is ignored: it has group or world access.*0600/);
  });
  test('a missing file is silent (the usual case)', () => {
    const warnings: string[] = [];
    const io = fakeIo({}, { warn: (m) => warnings.push(m) });
    assert.equal(resolve({}, {}, io).password, undefined);
    assert.deepEqual(warnings, []);
  });
  test('a private file is used', () => {
    const io = fakeIo({ [pgpass]: '*:*:*:*:pw' });
    assert.equal(resolve({}, {}, io).password, 'pw');
  });
  test('matches against the resolved port, database and user', () => {
    const io = fakeIo({ [pgpass]: 'h:6000:d:u:pw\n' });
    assert.equal(resolve({ connectionString: 'postgres://u@h:6000/d' }, {}, io).password, 'pw');
    assert.equal(resolve({ connectionString: 'postgres://u@h:6001/d' }, {}, io).password, undefined);
    assert.equal(resolve({ connectionString: 'postgres://u@h:6000/x' }, {}, io).password, undefined);
  });
});

describe('describeTarget / describeHost / unixSocketPath', () => {
  const rows: [options: ConnectionOptions, expected: string][] = [
    [{ host: '127.0.0.1', user: 'postgres', database: 'app' }, 'postgres@127.0.0.1:5432/app'],
    [{ host: '::1', port: 6000, user: 'u', database: 'd' }, 'u@[::1]:6000/d'],
    [{ host: '/var/run/postgresql/', user: 'u', database: 'd' }, 'u@/var/run/postgresql/.s.PGSQL.5432/d'],
    [{ connectionString: 'host=a,b port=1,2 user=u dbname=d' }, 'u@a:1,b:2/d'],
  ];
  for (const [options, expected] of rows) {
    test(expected, () => assert.equal(describeTarget(resolve(options)), expected));
  }
  test('never includes the password', () => {
    const s = resolve({ connectionString: 'postgres://u:hunter2@h/d' });
    assert.equal(s.password, 'hunter2');
    assert.ok(!describeTarget(s).includes('hunter2'));
  });
  test('socket paths', () => {
    assert.equal(unixSocketPath({ host: '/tmp', port: 5433 }), '/tmp/.s.PGSQL.5433');
    assert.equal(unixSocketPath({ host: '/', port: 1 }), '/.s.PGSQL.1');
    assert.equal(unixSocketPath({ host: 'localhost', port: 1 }), undefined);
    assert.equal(describeHost({ host: 'db', port: 2 }), 'db:2');
  });
});

// contract R17, R19 against a hostile server, up to ReadyForQuery: the SSLRequest answer, authentication
// (SCRAM spoiled one part at a time, cleartext and MD5 over plaintext, out-of-order messages) and the
// messages after it. Every case ends with its typed error, fast, without the password anywhere, with the
// socket closed and nothing thrown into the process. The controls first show the same fake works.
import assert from 'node:assert/strict';
import { pbkdf2 } from 'node:crypto';
import { type NetConnectOpts, connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import {
  AuthenticationError,
  ConfigError,
  ConnectionError,
  ProtocolError,
  ServerError,
  TlsError,
} from '../../../src/errors.js';
import { type ConnectOptions, PgConnection } from '../../../src/transport/connection.js';
import type { ConnectionOptions } from '../../../src/transport/settings.js';
import { cstr, frame, i32 } from '../../support/bytes.js';
import {
  assertTyped,
  CASE_DEADLINE_MS,
  type Expected,
  fakeSettings,
  PASSWORD,
  ProcessLeakGuard,
  rejection,
  socketsClosed,
  tlsMaterial,
} from '../../support/hostile-run.js';
import {
  afterAuth,
  auth,
  authOk,
  authSasl,
  backendKeyData,
  errorResponse,
  type HostileScript,
  HostileServer,
  type HostileSession,
  parameterStatus,
  type Reply,
  readyForQuery,
  ScramServer,
  saslContinue,
  saslFinal,
} from '../../support/hostile-server.js';
import { withDeadline } from '../../support/wait.js';

const TEST = { timeout: 15_000 } as const;
const guard = new ProcessLeakGuard();
let tls: ReturnType<typeof tlsMaterial>;

before(() => {
  guard.install();
  tls = tlsMaterial();
});
after(() => {
  guard.uninstall();
  tls?.remove();
});

/** A SCRAM script: real up to the stage `spoil` replaces (server-first text, or the SASLFinal reply). */
function scram(spoil: {
  first?: (nonce: string) => string;
  final?: (server: ScramServer, body: Buffer) => Reply;
  offer?: string[];
}): HostileScript {
  return {
    startup: () => authSasl(...(spoil.offer ?? ['SCRAM-SHA-256'])),
    password(session: HostileSession, body: Buffer, index: number): Reply {
      session.state.scram ??= new ScramServer(PASSWORD);
      const server = session.state.scram as ScramServer;
      if (index === 0) {
        const first = server.first(body);
        return saslContinue(spoil.first ? spoil.first(server.clientNonce) : first);
      }
      if (spoil.final) return spoil.final(server, body);
      const verdict = server.final(body);
      return verdict === null
        ? errorResponse({ S: 'FATAL', C: '28P01', M: 'password authentication failed for user "hostile"' })
        : [saslFinal(verdict), authOk(), ...afterAuth()];
    },
  };
}

interface Case {
  name: string;
  script: () => HostileScript;
  options?: ConnectionOptions;
  expect: Expected;
  /** Extra checks on what the fake saw. */
  check?: (fake: HostileServer) => void;
}

const protocol = (message: RegExp): Expected => ({
  type: ProtocolError,
  code: 'PGNUDGE_ERR_PROTOCOL',
  message,
});
const scramFailure = (message: RegExp): Expected => ({
  type: AuthenticationError,
  code: 'PGNUDGE_ERR_AUTH_SCRAM',
  message,
});
const timeout: Expected = {
  type: ConnectionError,
  code: 'PGNUDGE_ERR_CONNECT_TIMEOUT',
  message: /took longer than \d+ ms/,
};
const lost: Expected = { type: ConnectionError, code: 'PGNUDGE_ERR_CONNECTION', message: /lost/ };
const REQUIRE_TLS: ConnectionOptions = { sslmode: 'require' };
const handshakeLost: Expected = {
  type: ConnectionError,
  code: 'PGNUDGE_ERR_CONNECTION',
  message: /lost during the TLS handshake: ECONNRESET/,
};

/** The fake never saw a password message, nor the password's bytes in any form we could send. */
function passwordNeverSent(fake: HostileServer): void {
  for (const session of fake.sessions) {
    assert.deepEqual(
      session.messages.filter((m) => m.type === 'p'),
      [],
      'a PasswordMessage was sent',
    );
  }
  assert.equal(fake.received().indexOf(PASSWORD), -1, 'the password crossed the link');
}

const SSL_CASES: Case[] = [
  {
    name: 'SSLRequest answered with a garbage byte',
    script: () => ({ sslRequest: () => Buffer.from('X') }),
    options: REQUIRE_TLS,
    expect: protocol(/answered SSLRequest with byte 0x58/),
  },
  {
    name: "SSLRequest answered with 'S' and plaintext bytes in the same packet (CVE-2021-23222)",
    script: () => ({ sslRequest: () => Buffer.concat([Buffer.from('S'), authOk()]) }),
    options: REQUIRE_TLS,
    expect: protocol(/unexpected bytes after its answer to SSLRequest/),
  },
  {
    name: "SSLRequest answered with 'S', then plaintext instead of a TLS handshake",
    script: () => ({
      sslRequest: (session) => {
        session.intercept = () => errorResponse({ S: 'FATAL', C: 'XX000', M: 'not TLS' });
        return Buffer.from('S');
      },
    }),
    options: REQUIRE_TLS,
    expect: { type: TlsError, code: 'PGNUDGE_ERR_TLS', message: /TLS handshake with 127\.0\.0\.1 failed/ },
  },
  {
    // A lost link, not a TLS failure: a restarting server does this, and retrying heals it (contract R11). It was
    // a TlsError (fatal, and multi-host never tried the next host) until the handshake errors were split.
    name: "SSLRequest answered with 'S', then the link closes mid-handshake",
    script: () => ({
      sslRequest: (session) => {
        session.intercept = () => 'close';
        return Buffer.from('S');
      },
    }),
    options: REQUIRE_TLS,
    expect: handshakeLost,
  },
  {
    name: "SSLRequest answered with 'S', then a reset mid-handshake",
    script: () => ({
      sslRequest: (session) => {
        session.intercept = () => 'reset';
        return Buffer.from('S');
      },
    }),
    options: REQUIRE_TLS,
    expect: handshakeLost,
  },
  {
    name: 'SSLRequest answered by closing the connection',
    script: () => ({ sslRequest: () => 'close' }),
    options: REQUIRE_TLS,
    expect: lost,
  },
  {
    name: 'SSLRequest answered by a reset',
    script: () => ({ sslRequest: () => 'reset' }),
    options: REQUIRE_TLS,
    expect: lost,
  },
  {
    name: "SSLRequest answered with 'N' although sslmode=require",
    script: () => ({}),
    options: REQUIRE_TLS,
    expect: { type: TlsError, code: 'PGNUDGE_ERR_TLS', message: /does not accept TLS/ },
  },
  {
    name: 'silence after accepting (no answer to SSLRequest)',
    script: () => ({ sslRequest: () => 'silence' }),
    options: REQUIRE_TLS,
    expect: timeout,
  },
  {
    name: 'silence after accepting (no answer to the StartupMessage)',
    script: () => ({ startup: () => 'silence' }),
    expect: timeout,
  },
];

const AUTH_CASES: Case[] = [
  {
    name: 'unknown authentication code',
    script: () => ({ startup: () => auth(99) }),
    expect: protocol(/unknown authentication request 99/),
  },
  {
    name: 'authentication request with no code at all',
    script: () => ({ startup: () => frame('R') }),
    expect: protocol(/truncated Int32/),
  },
  {
    name: 'unsupported method (GSS)',
    script: () => ({ startup: () => auth(7) }),
    expect: { type: AuthenticationError, code: 'PGNUDGE_ERR_AUTH_UNSUPPORTED', message: /GSS/ },
    check: passwordNeverSent,
  },
  {
    name: 'SASL with no mechanisms',
    script: () => ({ startup: () => authSasl() }),
    expect: { type: AuthenticationError, code: 'PGNUDGE_ERR_AUTH_UNSUPPORTED', message: /none of which/ },
    check: passwordNeverSent,
  },
  {
    name: 'SASL with unknown mechanisms only',
    script: () => ({ startup: () => authSasl('SCRAM-SHA-1', 'X-UNKNOWN') }),
    expect: { type: AuthenticationError, code: 'PGNUDGE_ERR_AUTH_UNSUPPORTED', message: /SCRAM-SHA-1/ },
    check: passwordNeverSent,
  },
  {
    name: 'SASL mechanism list without its terminator',
    script: () => ({ startup: () => auth(10, Buffer.from('SCRAM-SHA-256')) }),
    expect: protocol(/not NUL-terminated/),
  },
  {
    name: 'SCRAM-SHA-256-PLUS offered over plaintext',
    script: () => scram({ offer: ['SCRAM-SHA-256-PLUS'] }),
    expect: protocol(/SCRAM-SHA-256-PLUS over a connection without TLS/),
    check: passwordNeverSent,
  },
  {
    name: 'SCRAM server-first that is not attribute=value text',
    script: () => scram({ first: () => '\u0000garbage\u00ff' }),
    expect: scramFailure(/malformed server-first attribute/),
  },
  {
    name: 'SCRAM server-first with the attributes out of order',
    script: () => scram({ first: (nonce) => `s=QUJD,r=${nonce}x,i=4096` }),
    expect: scramFailure(/must start with r=, s= and i=/),
  },
  {
    name: 'SCRAM server nonce that does not extend ours',
    script: () => scram({ first: () => 'r=someoneElsesNonce123,s=QUJD,i=4096' }),
    expect: scramFailure(/does not extend the client nonce/),
  },
  {
    name: 'SCRAM server nonce equal to ours (not extended)',
    script: () => scram({ first: (nonce) => `r=${nonce},s=QUJD,i=4096` }),
    expect: scramFailure(/does not extend the client nonce/),
  },
  {
    name: 'SCRAM iteration count 0',
    script: () => scram({ first: (nonce) => `r=${nonce}x,s=QUJD,i=0` }),
    expect: scramFailure(/iteration count "0"/),
  },
  {
    name: 'SCRAM iteration count 4 billion (refused before any PBKDF2 work)',
    script: () => scram({ first: (nonce) => `r=${nonce}x,s=QUJD,i=4000000000` }),
    expect: scramFailure(/iteration count "4000000000"/),
  },
  {
    name: 'SCRAM iteration count just over the cap',
    script: () => scram({ first: (nonce) => `r=${nonce}x,s=QUJD,i=1000001` }),
    expect: scramFailure(/iteration count "1000001"/),
  },
  {
    name: 'SCRAM iteration count with 30 digits',
    script: () => scram({ first: (nonce) => `r=${nonce}x,s=QUJD,i=${'9'.repeat(30)}` }),
    expect: scramFailure(/iteration count/),
  },
  {
    name: 'SCRAM iteration count that is not a number',
    script: () => scram({ first: (nonce) => `r=${nonce}x,s=QUJD,i=-1e3` }),
    expect: scramFailure(/iteration count "-1e3"/),
  },
  {
    name: 'SCRAM salt that is not base64',
    script: () => scram({ first: (nonce) => `r=${nonce}x,s=not*base64!,i=4096` }),
    expect: scramFailure(/salt is missing or not valid base64/),
  },
  {
    name: 'SCRAM server-first asking for a mandatory extension',
    script: () => scram({ first: () => 'm=ext,r=x,s=QUJD,i=4096' }),
    expect: scramFailure(/unsupported SCRAM extension/),
  },
  {
    name: 'SCRAM server-first as invalid UTF-8',
    script: () => ({
      startup: () => authSasl('SCRAM-SHA-256'),
      password: () => saslContinue(Buffer.from([0x72, 0x3d, 0xff, 0xfe, 0x2c])),
    }),
    expect: scramFailure(/SCRAM authentication failed/),
  },
  {
    name: 'SASLFinal with a wrong server signature',
    script: () =>
      scram({
        final: (server, body) => {
          server.final(body);
          return [saslFinal(`v=${Buffer.alloc(32, 7).toString('base64')}`), authOk(), ...afterAuth()];
        },
      }),
    expect: scramFailure(/server signature does not match/),
  },
  {
    name: 'SASLFinal with a signature of the wrong length',
    script: () => scram({ final: () => [saslFinal('v=QUJD'), authOk()] }),
    expect: scramFailure(/server signature does not match/),
  },
  {
    name: 'SASLFinal with e=invalid-proof',
    script: () => scram({ final: () => saslFinal('e=invalid-proof') }),
    expect: scramFailure(/the server reported "invalid-proof"/),
  },
  {
    name: 'SASLFinal that is empty',
    script: () => scram({ final: () => saslFinal('') }),
    expect: scramFailure(/malformed server-final attribute/),
  },
  {
    name: 'AuthenticationOk right after the SASL offer (skipping the whole exchange)',
    script: () => ({ startup: () => authSasl('SCRAM-SHA-256'), password: () => [authOk(), ...afterAuth()] }),
    expect: scramFailure(/AuthenticationOk before proving it knows the password/),
  },
  {
    name: 'AuthenticationOk instead of SASLFinal (skipping the server proof)',
    script: () => scram({ final: () => [authOk(), ...afterAuth()] }),
    expect: scramFailure(/AuthenticationOk before proving it knows the password/),
  },
  {
    name: 'SASLFinal before SASLContinue',
    script: () => ({ startup: () => authSasl('SCRAM-SHA-256'), password: () => saslFinal('v=QUJD') }),
    expect: protocol(/unexpected AuthenticationSASLFinal during startup/),
  },
  {
    name: 'SASLContinue without a SASL offer',
    script: () => ({ startup: () => saslContinue('r=x,s=QUJD,i=1') }),
    expect: protocol(/unexpected AuthenticationSASLContinue during startup/),
    check: passwordNeverSent,
  },
  {
    name: 'a second SASL offer in the middle of the exchange',
    script: () => ({ startup: () => authSasl('SCRAM-SHA-256'), password: () => authSasl('SCRAM-SHA-256') }),
    expect: protocol(/unexpected AuthenticationSASL during startup/),
  },
  {
    name: 'cleartext password request over plaintext (refused, never sent)',
    script: () => ({ startup: () => auth(3), password: () => [authOk(), ...afterAuth()] }),
    expect: { type: AuthenticationError, code: 'PGNUDGE_ERR_AUTH_INSECURE', message: /cleartext password/ },
    check: passwordNeverSent,
  },
  {
    name: 'MD5 password request over plaintext (refused, never sent)',
    script: () => ({
      startup: () => auth(5, Buffer.from('salt')),
      password: () => [authOk(), ...afterAuth()],
    }),
    expect: { type: AuthenticationError, code: 'PGNUDGE_ERR_AUTH_INSECURE', message: /MD5 password/ },
    check: passwordNeverSent,
  },
  {
    name: 'MD5 request with a truncated salt',
    script: () => ({ startup: () => auth(5, Buffer.from('sa')) }),
    expect: protocol(/truncated Byte4/),
    check: passwordNeverSent,
  },
  {
    name: 'a password request after AuthenticationOk',
    script: () => ({ startup: () => [authOk(), auth(3)] }),
    expect: protocol(/unexpected AuthenticationCleartextPassword during startup/),
    check: passwordNeverSent,
  },
  {
    name: 'ErrorResponse during authentication (typed, server text only)',
    script: () => ({
      startup: () =>
        errorResponse({ S: 'FATAL', C: '28P01', M: 'password authentication failed for user "hostile"' }),
    }),
    expect: { type: ServerError, code: 'PGNUDGE_ERR_AUTH_FAILED', message: /password authentication failed/ },
  },
];

const AFTER_AUTH_CASES: Case[] = [
  {
    name: 'ParameterStatus without its terminating NUL',
    script: () => ({ startup: () => [authOk(), frame('S', cstr('server_version'), Buffer.from('17'))] }),
    expect: protocol(/ParameterStatus: string is not NUL-terminated/),
  },
  {
    name: 'ParameterStatus with one string only',
    script: () => ({ startup: () => [authOk(), frame('S', cstr('server_version'))] }),
    expect: protocol(/ParameterStatus: string is not NUL-terminated/),
  },
  {
    name: 'BackendKeyData truncated',
    script: () => ({ startup: () => [authOk(), frame('K', Buffer.of(0, 1))] }),
    expect: protocol(/BackendKeyData: truncated Int32/),
  },
  {
    name: 'BackendKeyData with a 300-byte secret',
    script: () => ({ startup: () => [authOk(), frame('K', i32(1), Buffer.alloc(300))] }),
    expect: protocol(/secret key must be 4 to 256 bytes/),
  },
  {
    name: 'BackendKeyData before AuthenticationOk',
    script: () => ({ startup: () => [backendKeyData(1, 2), authOk(), ...afterAuth()] }),
    expect: protocol(/unexpected BackendKeyData during startup/),
  },
  {
    name: 'ReadyForQuery before AuthenticationOk',
    script: () => ({ startup: () => readyForQuery() }),
    expect: protocol(/unexpected ReadyForQuery during startup/),
  },
  {
    name: 'ReadyForQuery with a bad status byte',
    script: () => ({ startup: () => [authOk(), readyForQuery('X')] }),
    expect: protocol(/unknown transaction status 'X'/),
  },
  {
    name: 'ReadyForQuery with no status byte',
    script: () => ({ startup: () => [authOk(), frame('Z')] }),
    expect: protocol(/ReadyForQuery: truncated Int8/),
  },
  {
    name: 'ReadyForQuery with trailing bytes',
    script: () => ({ startup: () => [authOk(), frame('Z', Buffer.from('II'))] }),
    expect: protocol(/1 unexpected trailing bytes/),
  },
  {
    name: 'ErrorResponse without fields',
    script: () => ({ startup: () => [authOk(), frame('E', Buffer.of(0))] }),
    expect: protocol(/missing required field severity \(S\), SQLSTATE \(C\), message \(M\)/),
  },
  {
    name: 'ErrorResponse with an unterminated field list',
    script: () => ({ startup: () => [authOk(), frame('E', Buffer.from('SFATAL'))] }),
    expect: protocol(/ErrorResponse: string is not NUL-terminated/),
  },
  {
    name: 'an unknown message type',
    script: () => ({ startup: () => [authOk(), frame('q', Buffer.from('??'))] }),
    expect: protocol(/unexpected backend message code 0x71/),
  },
  {
    name: 'NegotiateProtocolVersion with an absurd option count',
    script: () => ({ startup: () => [frame('v', i32(0), i32(0x7fffffff)), authOk(), ...afterAuth()] }),
    expect: protocol(/invalid option count/),
  },
  {
    name: 'a message with length 3 (less than its own length field)',
    script: () => ({
      startup: () => [authOk(), Buffer.concat([Buffer.from('Z'), i32(3), Buffer.from('I')])],
    }),
    expect: protocol(/invalid length 3 \(less than 4\)/),
  },
  {
    name: 'a message with a negative length',
    script: () => ({ startup: () => [authOk(), Buffer.concat([Buffer.from('S'), i32(-1)])] }),
    expect: protocol(/declares 4294967295 bytes, more than the limit/),
  },
  {
    name: 'a truncated message, then close',
    script: () => ({
      startup: () => [authOk(), parameterStatus('server_version', '17').subarray(0, 9), 'close'],
    }),
    expect: lost,
  },
  {
    name: 'close right after AuthenticationOk',
    script: () => ({ startup: () => [authOk(), 'close'] }),
    expect: lost,
  },
  {
    name: 'a reset right after AuthenticationOk',
    script: () => ({ startup: () => [authOk(), 'reset'] }),
    // Whether the RST surfaces as ECONNRESET or as a plain close depends on timing; both are "lost".
    expect: lost,
  },
  {
    name: 'silence after AuthenticationOk (no ReadyForQuery)',
    script: () => ({ startup: () => [authOk(), parameterStatus('server_version', '17'), 'silence'] }),
    expect: timeout,
  },
  {
    name: 'silence after a correct SCRAM exchange',
    script: () => scram({ final: (server, body) => [saslFinal(server.final(body) ?? ''), 'silence'] }),
    expect: timeout,
  },
];

async function runCase(c: Case): Promise<void> {
  const fake = await HostileServer.start(c.script(), tls);
  try {
    const settings = fakeSettings(fake, c.options);
    const error = await rejection(PgConnection.connect(settings, { replication: 'database' }), c.name);
    assertTyped(error, c.expect);
    await socketsClosed(fake);
    c.check?.(fake);
    await guard.assertNone(c.name);
  } finally {
    await fake.close();
  }
}

describe('hostile server: controls (the fake is a server the client accepts)', () => {
  async function connects(script: HostileScript, options: ConnectionOptions = {}) {
    const fake = await HostileServer.start(script, tls);
    const connection = await withDeadline(
      PgConnection.connect(fakeSettings(fake, options), { replication: 'database' }),
      CASE_DEADLINE_MS,
      'control connect',
    );
    return { fake, connection };
  }

  test('trust: connects and runs a query', TEST, async () => {
    const { fake, connection } = await connects({});
    try {
      assert.equal(connection.authMethod, 'trust');
      assert.deepEqual(await connection.query('SELECT 1'), [{ tag: 'SELECT 0', fields: [], rows: [] }]);
    } finally {
      connection.abort();
      await fake.close();
    }
  });

  test('SCRAM-SHA-256: the fake checks our proof and we check its signature', TEST, async () => {
    const { fake, connection } = await connects(scram({}));
    try {
      assert.equal(connection.authMethod, 'SCRAM-SHA-256');
      assert.equal(connection.processId, 4242);
    } finally {
      connection.abort();
      await fake.close();
    }
  });

  test('SCRAM with a wrong password is refused by the fake (so it really checks)', TEST, async () => {
    const fake = await HostileServer.start(scram({}), tls);
    try {
      const error = await rejection(
        PgConnection.connect(fakeSettings(fake, { password: 'not-the-password' }), { replication: 'off' }),
        'wrong password',
      );
      assertTyped(error, { type: ServerError, code: 'PGNUDGE_ERR_AUTH_FAILED', message: /28P01/ });
    } finally {
      await fake.close();
    }
  });

  test(
    'TLS: a cleartext password is sent over TLS, and the fake sees it (so the refusals above mean something)',
    TEST,
    async () => {
      const script: HostileScript = {
        sslRequest: () => 'tls',
        startup: () => auth(3),
        password: () => [authOk(), ...afterAuth()],
      };
      const { fake, connection } = await connects(script, REQUIRE_TLS);
      try {
        assert.equal(connection.tls, true);
        assert.equal(connection.authMethod, 'password');
        assert.notEqual(fake.received().indexOf(PASSWORD), -1);
      } finally {
        connection.abort();
        await fake.close();
      }
    },
  );

  test('TLS: SCRAM-SHA-256-PLUS binds to the fake certificate', TEST, async () => {
    const { fake, connection } = await connects(
      { ...scram({ offer: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'] }), sslRequest: () => 'tls' },
      { ...REQUIRE_TLS, channelBinding: 'require' },
    );
    try {
      assert.equal(connection.authMethod, 'SCRAM-SHA-256-PLUS');
      const server = fake.sessions[0]!.state.scram as ScramServer;
      assert.equal(server.gs2Header, 'p=tls-server-end-point,,');
    } finally {
      connection.abort();
      await fake.close();
    }
  });
});

describe('hostile server: SSLRequest stage', () => {
  for (const c of SSL_CASES) test(c.name, TEST, () => runCase(c));
});

describe('hostile server: a TLS handshake cut by the network is retryable', () => {
  test('the error is a retryable ConnectionError', TEST, async () => {
    const fake = await HostileServer.start({
      sslRequest: (session) => {
        session.intercept = () => 'reset';
        return Buffer.from('S');
      },
    });
    try {
      const error = await rejection(
        PgConnection.connect(fakeSettings(fake, REQUIRE_TLS), { replication: 'database' }),
        'reset mid-handshake',
      );
      assertTyped(error, handshakeLost);
      assert.equal(error.retryable, true);
      await socketsClosed(fake);
      await guard.assertNone('reset mid-handshake');
    } finally {
      await fake.close();
    }
  });

  test('multi-host: a reset mid-handshake on the first host moves on to the next', TEST, async () => {
    const resetting = await HostileServer.start({
      sslRequest: (session) => {
        session.intercept = () => 'reset';
        return Buffer.from('S');
      },
    });
    const working = await HostileServer.start({ sslRequest: () => 'tls' }, tls);
    try {
      const settings = {
        ...fakeSettings(resetting, REQUIRE_TLS),
        hosts: [
          { host: resetting.host, port: resetting.port },
          { host: working.host, port: working.port },
        ],
      };
      const connection = await withDeadline(
        PgConnection.connect(settings, { replication: 'database' }),
        CASE_DEADLINE_MS,
        'multi-host connect',
      );
      assert.equal(connection.tls, true);
      assert.equal(resetting.sessions.length, 1);
      connection.abort();
      await guard.assertNone('multi-host');
    } finally {
      await resetting.close();
      await working.close();
    }
  });
});

describe('hostile server: authentication', () => {
  for (const c of AUTH_CASES) test(c.name, TEST, () => runCase(c));
});

describe('hostile server: after authentication', () => {
  for (const c of AFTER_AUTH_CASES) test(c.name, TEST, () => runCase(c));

  test('a declared length of 2 GiB fails at the header, without allocating it', TEST, async () => {
    const fake = await HostileServer.start({
      startup: () => [authOk(), Buffer.concat([Buffer.from('d'), i32(0x7fff_fff0)]), Buffer.alloc(64 * 1024)],
    });
    try {
      const before = process.memoryUsage();
      const error = await rejection(
        PgConnection.connect(fakeSettings(fake), { replication: 'database' }),
        '2 GiB length',
      );
      const after = process.memoryUsage();
      assertTyped(error, protocol(/declares 2147483632 bytes, more than the limit of 1073741823/));
      // Noise is a few MiB; allocating the frame would be 2 GiB (or a RangeError).
      assert.ok(after.arrayBuffers - before.arrayBuffers < 32 * 1024 * 1024, 'arrayBuffers jumped');
      assert.ok(after.rss - before.rss < 128 * 1024 * 1024, 'RSS jumped');
      await socketsClosed(fake);
      await guard.assertNone('2 GiB length');
    } finally {
      await fake.close();
    }
  });

  test('more than 256 distinct ParameterStatus names fail the connection', TEST, async () => {
    const names = Array.from({ length: 300 }, (_, i) => parameterStatus(`hostile_${i}`, 'x'));
    const fake = await HostileServer.start({ startup: () => [authOk(), ...names, ...afterAuth()] });
    try {
      const error = await rejection(
        PgConnection.connect(fakeSettings(fake), { replication: 'database' }),
        'many parameters',
      );
      assertTyped(error, protocol(/more than 256 distinct parameters/));
      await socketsClosed(fake);
      await guard.assertNone('many parameters');
    } finally {
      await fake.close();
    }
  });

  test('a parameter reported again and again is kept once (control)', TEST, async () => {
    const again = Array.from({ length: 1000 }, (_, i) => parameterStatus('TimeZone', `UTC${i % 3}`));
    const fake = await HostileServer.start({ startup: () => [authOk(), ...again, ...afterAuth()] });
    try {
      const connection = await withDeadline(
        PgConnection.connect(fakeSettings(fake), { replication: 'database' }),
        CASE_DEADLINE_MS,
        'repeated parameter',
      );
      assert.equal(connection.parameters.get('TimeZone'), 'UTC0');
      assert.equal(connection.parameters.size, 2);
      connection.abort();
    } finally {
      await fake.close();
    }
  });

  test(
    "a ParameterStatus declaring 1 GiB fails at the header (libpq's 30000-byte bound for 'S')",
    TEST,
    async () => {
      const fake = await HostileServer.start({
        startup: () => [authOk(), Buffer.concat([Buffer.from('S'), i32(0x3fff_ffff)]), Buffer.alloc(1 << 20)],
      });
      try {
        const before = process.memoryUsage();
        const error = await rejection(
          PgConnection.connect(fakeSettings(fake), { replication: 'database' }),
          'long ParameterStatus',
        );
        const after = process.memoryUsage();
        assertTyped(error, protocol(/message 'S' declares 1073741823 bytes, more than the limit of 30000/));
        assert.ok(after.arrayBuffers - before.arrayBuffers < 32 * 1024 * 1024, 'arrayBuffers jumped');
        await socketsClosed(fake);
        await guard.assertNone('long ParameterStatus');
      } finally {
        await fake.close();
      }
    },
  );

  test(
    'a legal 1 GiB length with 1 MiB of body, then close: nothing beyond the bytes received is held',
    TEST,
    async () => {
      const fake = await HostileServer.start({
        startup: () => [
          authOk(),
          Buffer.concat([Buffer.from('d'), i32(0x3fff_ffff)]),
          Buffer.alloc(1 << 20),
          'close',
        ],
      });
      try {
        const before = process.memoryUsage();
        const error = await rejection(
          PgConnection.connect(fakeSettings(fake), { replication: 'database' }),
          '1 GiB length',
        );
        const after = process.memoryUsage();
        assertTyped(error, lost);
        assert.ok(after.arrayBuffers - before.arrayBuffers < 32 * 1024 * 1024, 'arrayBuffers jumped');
        await socketsClosed(fake);
        await guard.assertNone('1 GiB length');
      } finally {
        await fake.close();
      }
    },
  );
});

/**
 * A socket that reports when server-first (AuthenticationSASLContinue) arrives and when the client writes
 * client-final (the SASLResponse after it), and runs `onServerFirst` then.
 */
function watchedSocket(events: string[], onServerFirst: () => void) {
  return (options: NetConnectOpts): Socket => {
    const watch = (chunk: Uint8Array) => {
      if (chunk[0] === 0x52 && chunk.byteLength >= 9 && Buffer.from(chunk).readInt32BE(5) === 11) {
        events.push('server-first');
        onServerFirst();
      }
    };
    // A plain connection reads through `onread` (slab-reads.ts): watch there, ahead of the session.
    const onread = options.onread;
    const socket = netConnect(
      onread === undefined
        ? options
        : {
            ...options,
            onread: {
              buffer: onread.buffer,
              callback: (bytesRead, buffer) => {
                watch(buffer.subarray(0, bytesRead));
                return onread.callback(bytesRead, buffer);
              },
            },
          },
    );
    if (onread === undefined) socket.prependListener('data', watch);
    const write = socket.write.bind(socket) as (data: Uint8Array) => boolean;
    socket.write = ((data: Uint8Array) => {
      if (data[0] === 0x70 && events.includes('server-first')) events.push('client-final');
      return write(data);
    }) as typeof socket.write;
    return socket;
  };
}

describe('hostile server: SCRAM key derivation runs off the event loop', () => {
  test('the event loop turns between server-first and client-final', TEST, async () => {
    const fake = await HostileServer.start(scram({}));
    try {
      const events: string[] = [];
      const createSocket = watchedSocket(events, () => setImmediate(() => events.push('event loop turned')));
      const connection = await withDeadline(
        PgConnection.connect(fakeSettings(fake), { replication: 'database', createSocket }),
        CASE_DEADLINE_MS,
        'SCRAM connect',
      );
      assert.equal(connection.authMethod, 'SCRAM-SHA-256');
      connection.abort();
      assert.deepEqual(events, ['server-first', 'event loop turned', 'client-final']);
      await guard.assertNone('SCRAM derivation');
    } finally {
      await fake.close();
    }
  });

  test(
    'a connect aborted while a million-iteration key is derived ends at once and sends nothing more',
    TEST,
    async () => {
      const fake = await HostileServer.start({
        startup: () => authSasl('SCRAM-SHA-256'),
        password: (session, body) => {
          session.state.scram ??= new ScramServer(PASSWORD, 1_000_000);
          return saslContinue((session.state.scram as ScramServer).first(body));
        },
      });
      try {
        const events: string[] = [];
        const controller = new AbortController();
        const createSocket = watchedSocket(events, () => setImmediate(() => controller.abort()));
        const error = await rejection(
          PgConnection.connect(fakeSettings(fake), {
            replication: 'database',
            createSocket,
            signal: controller.signal,
          }),
          'abort during derivation',
        );
        assertTyped(error, { type: ConnectionError, code: 'PGNUDGE_ERR_CONNECTION', message: /aborted/ });
        await socketsClosed(fake);
        assert.deepEqual(events, ['server-first']);
        assert.equal(fake.sessions[0]!.messages.filter((m) => m.type === 'p').length, 1, 'only client-first');
        // The derivation finishes later on the thread pool; it must find the session gone and do nothing.
        // One of the same cost queued after it ends no earlier than it does.
        await promisify(pbkdf2)('x', 'salt', 1_000_000, 32, 'sha256');
        assert.deepEqual(events, ['server-first']);
        await guard.assertNone('abort during derivation');
      } finally {
        await fake.close();
      }
    },
  );
});

describe('the startup packet pins what a session depends on (contract R21)', () => {
  async function startupParams(options: Partial<ConnectOptions>): Promise<ReadonlyMap<string, string>> {
    let seen: ReadonlyMap<string, string> | undefined;
    const fake = await HostileServer.start({
      startup: (_session, params) => {
        seen = params;
        return [authOk(), ...afterAuth()];
      },
    });
    try {
      const connection = await withDeadline(
        PgConnection.connect(fakeSettings(fake), { replication: 'off', ...options }),
        CASE_DEADLINE_MS,
        'startup',
      );
      connection.abort();
    } finally {
      await fake.close();
    }
    assert.ok(seen, 'the fake saw no StartupMessage');
    return seen;
  }

  test(
    'a walsender session sends client_min_messages=notice, so no role setting hides a WARNING',
    TEST,
    async () => {
      const params = await startupParams({ replication: 'database' });
      assert.equal(params.get('client_min_messages'), 'notice');
      assert.equal(params.get('client_encoding'), 'UTF8');
      assert.equal(params.get('replication'), 'database');
    },
  );

  test('an ordinary session pins only the encoding', TEST, async () => {
    const params = await startupParams({ replication: 'off' });
    assert.equal(params.get('client_min_messages'), undefined);
    assert.equal(params.get('client_encoding'), 'UTF8');
  });

  test('pinnedSettings add to the defaults and may override them', TEST, async () => {
    const params = await startupParams({
      replication: 'database',
      pinnedSettings: { client_min_messages: 'warning', 'pgnudge.test_flag': 'on' },
    });
    assert.equal(params.get('client_min_messages'), 'warning');
    assert.equal(params.get('pgnudge.test_flag'), 'on');
  });

  test(
    'pinnedSettings cannot replace what pgnudge sets itself; refused before connecting',
    TEST,
    async () => {
      const fake = await HostileServer.start({});
      try {
        for (const name of ['user', 'replication', 'client_encoding', 'options', 'bad name', '']) {
          const error = await rejection(
            PgConnection.connect(fakeSettings(fake), {
              replication: 'database',
              pinnedSettings: { [name]: 'x' },
            }),
            `pinnedSettings ${name}`,
          );
          assert.ok(error instanceof ConfigError && error.option === 'pinnedSettings', String(error));
        }
        assert.equal(fake.sessions.length, 0);
      } finally {
        await fake.close();
      }
    },
  );
});

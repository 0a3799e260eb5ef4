import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthenticationError, ProtocolError, ServerError } from '../../../src/errors.js';
import { type BackendMessage, parseBackendMessage } from '../../../src/protocol/backend.js';
import {
  type StartupAction,
  StartupMachine,
  type StartupMachineOptions,
} from '../../../src/protocol/startup.js';
import { cstr, errorFieldsBody, hex, i32, readFixture, toHex } from '../../support/bytes.js';
import { deriveNow } from '../../support/scram.js';

// Server side of the RFC 7677 §3 exchange, as PostgreSQL runs it (empty SCRAM user name). Proofs and
// signatures were computed independently with Python's hashlib/hmac for each gs2 header.
const NONCE = 'rOprNGfwEbeRWgbNEkqO';
const SERVER_NONCE = `${NONCE}%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0`;
const SERVER_FIRST = `r=${SERVER_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`;
const VECTORS = {
  'n,,': {
    clientFinal: `c=biws,r=${SERVER_NONCE},p=qvT2SWdEH5Q06albL+hjSYuUhCG7VndFyzIb7CK4n9k=`,
    serverFinal: 'v=3HO6Qt1M4MKJrmlKaoOqLAI0/0TV0HZe7J9H3MBtSOg=',
  },
  'y,,': {
    clientFinal: `c=eSws,r=${SERVER_NONCE},p=VpuC5DGQa5ro9tXE9MnKs69NH1nxnuregZZcclqIGfM=`,
    serverFinal: 'v=FOmOj9BpTGwvnzwBtWQjBaPmVxT9I8IeHBOhcIPu3us=',
  },
  'p=tls-server-end-point,,': {
    clientFinal: `c=cD10bHMtc2VydmVyLWVuZC1wb2ludCws3RLwCdns7sHg2Jii/2dQXEs8fSxuheYYJ6T39Q1yct0=,r=${SERVER_NONCE},p=GAqm1va18gleTjeX6At9nfChCiRjCOY46z9PCnpsBt0=`,
    serverFinal: 'v=iXfKX0oNTLigWWsTgWuFNePwMYPTH3F4b23URNuv0y4=',
  },
} as const;

const CERT = readFixture('tls-server-end-point/rsa-sha256.der');
const ED25519 = readFixture('tls-server-end-point/ed25519.der');
const RSA_PSS = readFixture('tls-server-end-point/rsa-pss.der');

function msg(code: string, ...body: Uint8Array[]): BackendMessage {
  return parseBackendMessage(code.charCodeAt(0), Buffer.concat(body));
}
const authOk = () => msg('R', i32(0));
const cleartext = () => msg('R', i32(3));
const md5 = () => msg('R', i32(5), hex('01020304'));
const sasl = (...mechanisms: string[]) => msg('R', i32(10), ...mechanisms.map(cstr), hex('00'));
const saslContinue = (data: string) => msg('R', i32(11), Buffer.from(data));
const saslFinal = (data: string) => msg('R', i32(12), Buffer.from(data));
const param = (name: string, value: string) => msg('S', cstr(name), cstr(value));
const keyData = () => msg('K', hex('00000007 0a0b0c0d'));
const ready = () => msg('Z', Buffer.from('I'));
const notice = () => msg('N', errorFieldsBody({ S: 'NOTICE', C: '00000', M: 'hi' }));
const errorResponse = (fields: Record<string, string>) => msg('E', errorFieldsBody(fields));

function machine(options: Partial<StartupMachineOptions> = {}): StartupMachine {
  return new StartupMachine({
    user: 'postgres',
    password: () => 'pencil',
    tls: false,
    channelBinding: 'prefer',
    certificateDer: null,
    nonce: NONCE,
    ...options,
  });
}

/** Runs every `derive` action at once, as the connection does on the thread pool, and takes what follows. */
function afterDerive(m: StartupMachine, actions: StartupAction[]): StartupAction[] {
  return actions.flatMap((a) => (a.type === 'derive' ? m.derived(deriveNow(a.request)) : [a]));
}

function sent(actions: StartupAction[]): Buffer[] {
  return actions.flatMap((a) => (a.type === 'send' ? [a.bytes] : []));
}

/** Password bytes of a 'p' message: everything between the length and the final NUL. */
function passwordText(bytes: Buffer): string {
  assert.equal(bytes[0], 0x70);
  return bytes.subarray(5, bytes.byteLength - 1).toString();
}

/** Decodes a SASLInitialResponse into mechanism and client-first. */
function saslInitial(bytes: Buffer): { mechanism: string; data: string } {
  const end = bytes.indexOf(0, 5);
  return { mechanism: bytes.subarray(5, end).toString(), data: bytes.subarray(end + 5).toString() };
}

function finishStartup(m: StartupMachine): StartupAction[] {
  const actions: StartupAction[] = [];
  for (const message of [
    param('server_version', '17.2'),
    notice(),
    keyData(),
    param('TimeZone', 'UTC'),
    ready(),
  ]) {
    actions.push(...m.receive(message));
  }
  return actions;
}

function scramExchange(m: StartupMachine, offered: string[], gs2: keyof typeof VECTORS, mechanism: string) {
  const [initial] = sent(m.receive(sasl(...offered)));
  const first = saslInitial(initial!);
  assert.equal(first.mechanism, mechanism);
  assert.equal(first.data, `${gs2}n=,r=${NONCE}`);
  const [final] = sent(afterDerive(m, m.receive(saslContinue(SERVER_FIRST))));
  assert.equal(final![0], 0x70);
  assert.equal(final!.subarray(5).toString(), VECTORS[gs2].clientFinal);
  assert.deepEqual(m.receive(saslFinal(VECTORS[gs2].serverFinal)), []);
  return m.receive(authOk());
}

function isAuth(code: string, pattern?: RegExp) {
  return (e: unknown) =>
    e instanceof AuthenticationError && e.code === code && (pattern === undefined || pattern.test(e.message));
}

describe('StartupMachine: trust', () => {
  it('reports authenticated, collects parameters and the key, then ready', () => {
    const m = machine();
    assert.deepEqual(m.receive(authOk()), [{ type: 'authenticated', method: 'trust' }]);
    const actions = finishStartup(m);
    assert.equal(actions.length, 1);
    const r = actions[0]!;
    assert.ok(r.type === 'ready');
    assert.equal(r.authMethod, 'trust');
    assert.deepEqual(
      [...r.parameters],
      [
        ['server_version', '17.2'],
        ['TimeZone', 'UTC'],
      ],
    );
    assert.equal(r.backendKey?.processId, 7);
    assert.equal(toHex(r.backendKey!.secretKey), '0a0b0c0d');
  });

  it('channel_binding=require refuses trust', () => {
    assert.throws(
      () => machine({ channelBinding: 'require', tls: true, certificateDer: CERT }).receive(authOk()),
      isAuth('PGNUDGE_ERR_CHANNEL_BINDING'),
    );
  });

  it('a message after ready, and a message after a failure, are ProtocolErrors', () => {
    const m = machine();
    m.receive(authOk());
    finishStartup(m);
    assert.throws(() => m.receive(ready()), ProtocolError);
    const failed = machine();
    assert.throws(() => failed.receive(ready()), ProtocolError);
    assert.throws(() => failed.receive(authOk()), ProtocolError);
  });
});

describe('StartupMachine: cleartext and MD5 (contract R17)', () => {
  it('cleartext over TLS sends the password', () => {
    const m = machine({ tls: true });
    const [bytes] = sent(m.receive(cleartext()));
    assert.equal(passwordText(bytes!), 'pencil');
    assert.deepEqual(m.receive(authOk()), [{ type: 'authenticated', method: 'password' }]);
    assert.equal((finishStartup(m)[0] as { authMethod: string }).authMethod, 'password');
  });

  it('MD5 over TLS sends the digest', () => {
    const m = machine({ tls: true, password: () => 'secret' });
    const [bytes] = sent(m.receive(md5()));
    assert.equal(passwordText(bytes!), 'md5bb41a296aab6baccb36ff243a562abff');
    assert.deepEqual(m.receive(authOk()), [{ type: 'authenticated', method: 'md5' }]);
  });

  for (const [name, request] of [
    ['cleartext', cleartext],
    ['MD5', md5],
  ] as const) {
    it(`${name} without TLS is refused before anything is sent, and the password is never read`, () => {
      let asked = false;
      const m = machine({
        password: () => {
          asked = true;
          return 'pencil';
        },
      });
      let actions: StartupAction[] | undefined;
      assert.throws(
        () => {
          actions = m.receive(request());
        },
        isAuth('PGNUDGE_ERR_AUTH_INSECURE', /sslmode=require.*SCRAM|SCRAM.*sslmode=require/s),
      );
      assert.equal(actions, undefined);
      assert.equal(asked, false);
    });

    it(`${name} with channel_binding=require is refused before anything is sent`, () => {
      assert.throws(
        () => machine({ tls: true, certificateDer: CERT, channelBinding: 'require' }).receive(request()),
        isAuth('PGNUDGE_ERR_CHANNEL_BINDING'),
      );
    });
  }

  it('a missing password is AUTH_FAILED mentioning PGPASSWORD and ~/.pgpass', () => {
    assert.throws(
      () => machine({ tls: true, password: () => undefined }).receive(cleartext()),
      isAuth('PGNUDGE_ERR_AUTH_FAILED', /PGPASSWORD.*~\/\.pgpass/),
    );
    assert.throws(
      () => machine({ password: () => undefined }).receive(sasl('SCRAM-SHA-256')),
      isAuth('PGNUDGE_ERR_AUTH_FAILED'),
    );
  });

  it('an error message never contains the password', () => {
    try {
      machine({ password: () => 'hunter2' }).receive(cleartext());
      assert.fail('expected a refusal');
    } catch (error) {
      assert.ok(!String((error as Error).message).includes('hunter2'));
    }
  });
});

describe('StartupMachine: SCRAM', () => {
  it('SCRAM-SHA-256 without TLS: full exchange (n,,)', () => {
    const m = machine();
    assert.deepEqual(scramExchange(m, ['SCRAM-SHA-256'], 'n,,', 'SCRAM-SHA-256'), [
      { type: 'authenticated', method: 'SCRAM-SHA-256' },
    ]);
    assert.equal((finishStartup(m)[0] as { authMethod: string }).authMethod, 'SCRAM-SHA-256');
  });

  it('prefer over TLS with a PLUS offer: SCRAM-SHA-256-PLUS bound to the certificate hash', () => {
    const m = machine({ tls: true, certificateDer: CERT });
    assert.deepEqual(
      scramExchange(
        m,
        ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'],
        'p=tls-server-end-point,,',
        'SCRAM-SHA-256-PLUS',
      ),
      [{ type: 'authenticated', method: 'SCRAM-SHA-256-PLUS' }],
    );
  });

  it('require over TLS with a PLUS offer succeeds', () => {
    const m = machine({ tls: true, certificateDer: CERT, channelBinding: 'require' });
    assert.deepEqual(
      scramExchange(
        m,
        ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'],
        'p=tls-server-end-point,,',
        'SCRAM-SHA-256-PLUS',
      ),
      [{ type: 'authenticated', method: 'SCRAM-SHA-256-PLUS' }],
    );
  });

  it('prefer over TLS without a PLUS offer: y,, so the server can detect a stripped offer', () => {
    const m = machine({ tls: true, certificateDer: CERT });
    scramExchange(m, ['SCRAM-SHA-256'], 'y,,', 'SCRAM-SHA-256');
  });

  it('disable over TLS: n,, and SCRAM-SHA-256 even when PLUS is offered', () => {
    const m = machine({ tls: true, certificateDer: CERT, channelBinding: 'disable' });
    scramExchange(m, ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'], 'n,,', 'SCRAM-SHA-256');
  });

  for (const [name, der] of [
    ['Ed25519', ED25519],
    ['RSA-PSS', RSA_PSS],
  ] as const) {
    it(`prefer with a PLUS offer and an ${name} certificate fails closed instead of downgrading to n,,`, () => {
      let passwordRead = false;
      const m = machine({
        tls: true,
        certificateDer: der,
        password: () => {
          passwordRead = true;
          return 'S3cret-pw';
        },
      });
      assert.throws(
        () => m.receive(sasl('SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256')),
        (e: unknown) =>
          isAuth('PGNUDGE_ERR_CHANNEL_BINDING')(e) &&
          e instanceof Error &&
          e.message.includes('SCRAM-SHA-256-PLUS') &&
          e.message.includes(name) &&
          /RSA or ECDSA and a SHA-2 hash/.test(e.message) &&
          e.message.includes("channelBinding: 'disable'") &&
          !e.message.includes('S3cret-pw'),
      );
      assert.equal(passwordRead, false);
    });
  }

  it('prefer with a PLUS offer but no certificate over TLS fails closed', () => {
    assert.throws(
      () => machine({ tls: true, certificateDer: null }).receive(sasl('SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256')),
      isAuth('PGNUDGE_ERR_CHANNEL_BINDING', /SCRAM-SHA-256-PLUS/),
    );
  });

  it('prefer over TLS without a PLUS offer sends y,, even when the certificate hash is unknown (never n,,)', () => {
    scramExchange(machine({ tls: true, certificateDer: ED25519 }), ['SCRAM-SHA-256'], 'y,,', 'SCRAM-SHA-256');
    scramExchange(machine({ tls: true, certificateDer: null }), ['SCRAM-SHA-256'], 'y,,', 'SCRAM-SHA-256');
  });

  it('require with an Ed25519 certificate fails closed', () => {
    assert.throws(
      () =>
        machine({ tls: true, certificateDer: ED25519, channelBinding: 'require' }).receive(
          sasl('SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'),
        ),
      isAuth('PGNUDGE_ERR_CHANNEL_BINDING'),
    );
  });

  it('require without a PLUS offer fails closed before sending', () => {
    assert.throws(
      () =>
        machine({ tls: true, certificateDer: CERT, channelBinding: 'require' }).receive(
          sasl('SCRAM-SHA-256'),
        ),
      isAuth('PGNUDGE_ERR_CHANNEL_BINDING'),
    );
  });

  it('require without TLS fails closed', () => {
    assert.throws(
      () => machine({ channelBinding: 'require' }).receive(sasl('SCRAM-SHA-256')),
      isAuth('PGNUDGE_ERR_CHANNEL_BINDING'),
    );
  });

  it('a PLUS offer without TLS is a ProtocolError (libpq refuses it too)', () => {
    assert.throws(() => machine().receive(sasl('SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256')), ProtocolError);
  });

  it('no supported mechanism is AUTH_UNSUPPORTED', () => {
    assert.throws(() => machine().receive(sasl('OAUTHBEARER')), isAuth('PGNUDGE_ERR_AUTH_UNSUPPORTED'));
  });

  it('AuthenticationOk before SASLFinal is refused (the server never proved itself)', () => {
    const deriving = machine();
    deriving.receive(sasl('SCRAM-SHA-256'));
    deriving.receive(saslContinue(SERVER_FIRST));
    assert.throws(() => deriving.receive(authOk()), isAuth('PGNUDGE_ERR_AUTH_SCRAM'));
    const answered = machine();
    answered.receive(sasl('SCRAM-SHA-256'));
    afterDerive(answered, answered.receive(saslContinue(SERVER_FIRST)));
    assert.throws(() => answered.receive(authOk()), isAuth('PGNUDGE_ERR_AUTH_SCRAM'));
  });

  it('a wrong server signature is refused', () => {
    const m = machine();
    m.receive(sasl('SCRAM-SHA-256'));
    afterDerive(m, m.receive(saslContinue(SERVER_FIRST)));
    assert.throws(() => m.receive(saslFinal(VECTORS['y,,'].serverFinal)), isAuth('PGNUDGE_ERR_AUTH_SCRAM'));
  });

  it('SASL messages out of order are ProtocolErrors', () => {
    assert.throws(() => machine().receive(saslContinue(SERVER_FIRST)), ProtocolError);
    const m = machine();
    m.receive(sasl('SCRAM-SHA-256'));
    assert.throws(() => m.receive(saslFinal(VECTORS['n,,'].serverFinal)), ProtocolError);
  });
});

describe('StartupMachine: the SCRAM key is derived by the shell', () => {
  it('server-first asks for the derivation and sends nothing until the key comes back', () => {
    const m = machine();
    m.receive(sasl('SCRAM-SHA-256'));
    const actions = m.receive(saslContinue(SERVER_FIRST));
    assert.equal(actions.length, 1);
    const [derive] = actions;
    assert.ok(derive?.type === 'derive');
    assert.equal(derive.request.iterations, 4096);
    assert.equal(derive.request.password, 'pencil');
    const [final] = sent(m.derived(deriveNow(derive.request)));
    assert.equal(final!.subarray(5).toString(), VECTORS['n,,'].clientFinal);
  });

  it('while the key is derived: notices and parameters are taken, an error ends startup, SASL is out of turn', () => {
    const waiting = () => {
      const m = machine();
      m.receive(sasl('SCRAM-SHA-256'));
      m.receive(saslContinue(SERVER_FIRST));
      return m;
    };
    const m = waiting();
    assert.deepEqual(m.receive(notice()), []);
    assert.deepEqual(m.receive(param('TimeZone', 'UTC')), []);
    assert.throws(
      () => waiting().receive(errorResponse({ S: 'FATAL', C: '28P01', M: 'password authentication failed' })),
      (e: unknown) => e instanceof ServerError && e.code === 'PGNUDGE_ERR_AUTH_FAILED',
    );
    const early = waiting();
    assert.throws(() => early.receive(saslFinal(VECTORS['n,,'].serverFinal)), ProtocolError);
    assert.throws(() => early.derived(new Uint8Array(32)), ProtocolError);
  });

  it('a key nobody asked for is a ProtocolError', () => {
    assert.throws(() => machine().derived(new Uint8Array(32)), ProtocolError);
    const m = machine();
    m.receive(sasl('SCRAM-SHA-256'));
    const [derive] = m.receive(saslContinue(SERVER_FIRST));
    assert.ok(derive?.type === 'derive');
    m.derived(deriveNow(derive.request));
    assert.throws(() => m.derived(deriveNow(derive.request)), ProtocolError);
  });
});

describe('StartupMachine: other messages', () => {
  it('tolerates NoticeResponse and ParameterStatus anywhere, and NegotiateProtocolVersion before auth', () => {
    const m = machine();
    assert.deepEqual(m.receive(notice()), []);
    assert.deepEqual(m.receive(msg('v', i32(0), i32(0))), []);
    assert.deepEqual(m.receive(param('a', 'b')), []);
    m.receive(authOk());
    assert.deepEqual(m.receive(notice()), []);
  });

  it('unsupported methods (GSS, SSPI, ...) are AUTH_UNSUPPORTED', () => {
    assert.throws(() => machine().receive(msg('R', i32(7))), isAuth('PGNUDGE_ERR_AUTH_UNSUPPORTED', /GSS/));
  });

  it('unexpected messages are ProtocolErrors', () => {
    assert.throws(() => machine().receive(msg('d', hex('00'))), ProtocolError);
    assert.throws(() => machine().receive(keyData()), ProtocolError);
    const m = machine();
    m.receive(authOk());
    assert.throws(() => m.receive(authOk()), ProtocolError);
  });

  it('an ErrorResponse becomes a classified ServerError', () => {
    const m = machine();
    assert.throws(
      () =>
        m.receive(
          errorResponse({
            S: 'FATAL',
            V: 'FATAL',
            C: '28P01',
            M: 'password authentication failed for user "x"',
          }),
        ),
      (e: unknown) =>
        e instanceof ServerError && e.code === 'PGNUDGE_ERR_AUTH_FAILED' && e.sqlState === '28P01',
    );
    assert.throws(
      () => machine().receive(errorResponse({ S: 'FATAL', C: '3D000', M: 'database "nope" does not exist' })),
      (e: unknown) => e instanceof ServerError && e.code === 'PGNUDGE_ERR_UNKNOWN_DATABASE',
    );
  });
});

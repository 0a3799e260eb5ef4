import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthenticationError } from '../../../src/errors.js';
import {
  chooseSaslMechanism,
  ScramClient,
  type ScramClientOptions,
  type ScramKeyRequest,
} from '../../../src/protocol/scram.js';
import { answerServerFirst, deriveNow } from '../../support/scram.js';

// RFC 7677 §3 test vector.
const NONCE = 'rOprNGfwEbeRWgbNEkqO';
const SERVER_NONCE = `${NONCE}%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0`;
const SERVER_FIRST = `r=${SERVER_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`;
const CLIENT_FINAL = `c=biws,r=${SERVER_NONCE},p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=`;
const SERVER_FINAL = 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=';

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');
const bytes = (s: string) => Buffer.from(s, 'utf8');

function rfcClient(overrides: Partial<ScramClientOptions> = {}): ScramClient {
  return new ScramClient({
    password: 'pencil',
    mechanism: 'SCRAM-SHA-256',
    nonce: NONCE,
    username: 'user',
    ...overrides,
  });
}

function isScramError(pattern: RegExp) {
  return (e: unknown) =>
    e instanceof AuthenticationError && e.code === 'PGNUDGE_ERR_AUTH_SCRAM' && pattern.test(e.message);
}

function afterFirst(serverFirst: string, options: Partial<ScramClientOptions> = {}): () => ScramKeyRequest {
  const client = rfcClient(options);
  client.clientFirstMessage();
  return () => client.receiveServerFirst(bytes(serverFirst));
}

describe('ScramClient: RFC 7677 known answer', () => {
  it('produces the exact client-first and client-final, and accepts the server signature', () => {
    const client = rfcClient();
    assert.equal(text(client.clientFirstMessage()), `n,,n=user,r=${NONCE}`);
    assert.equal(text(answerServerFirst(client, bytes(SERVER_FIRST))), CLIENT_FINAL);
    client.receiveServerFinal(bytes(SERVER_FINAL));
  });

  it('sends an empty user name by default, as libpq does (PostgreSQL uses the startup user)', () => {
    const client = new ScramClient({ password: 'x', mechanism: 'SCRAM-SHA-256', nonce: 'abc' });
    assert.equal(text(client.clientFirstMessage()), 'n,,n=,r=abc');
  });

  it('escapes = and , in a user name', () => {
    const client = rfcClient({ username: 'a=b,c' });
    assert.equal(text(client.clientFirstMessage()), `n,,n=a=3Db=2Cc,r=${NONCE}`);
  });

  it('generates an 18-byte base64 nonce by default', () => {
    const first = text(new ScramClient({ password: 'x', mechanism: 'SCRAM-SHA-256' }).clientFirstMessage());
    assert.match(first, /^n,,n=,r=[A-Za-z0-9+/]{24}$/);
  });
});

describe('ScramClient: the caller runs the key derivation', () => {
  it('server-first yields the PBKDF2 request, SASLprep applied, and no work is done until clientFinal', () => {
    const client = rfcClient({ password: 'I\u00ADX' }); // SASLprep maps the soft hyphen to nothing
    client.clientFirstMessage();
    const request = client.receiveServerFirst(bytes(SERVER_FIRST));
    assert.deepEqual(
      { ...request, salt: Buffer.from(request.salt).toString('base64') },
      { password: 'IX', salt: 'W22ZaJ0SNY7soEsUEjb6gQ==', iterations: 4096, keyLength: 32, digest: 'sha256' },
    );
  });

  it('clientFinal only once, only after server-first, and only with a 32-byte key', () => {
    const early = rfcClient();
    early.clientFirstMessage();
    assert.throws(() => early.clientFinal(new Uint8Array(32)), isScramError(/out of order/));
    const client = rfcClient();
    client.clientFirstMessage();
    const key = deriveNow(client.receiveServerFirst(bytes(SERVER_FIRST)));
    assert.equal(text(client.clientFinal(key)), CLIENT_FINAL);
    assert.throws(() => client.clientFinal(key), isScramError(/out of order/));
    const short = rfcClient();
    short.clientFirstMessage();
    short.receiveServerFirst(bytes(SERVER_FIRST));
    assert.throws(() => short.clientFinal(new Uint8Array(31)), isScramError(/31 bytes/));
  });

  it('a count over the cap says why it is refused', () => {
    assert.throws(
      afterFirst(`r=${SERVER_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000001`),
      isScramError(/\[1, 1000000\].*scram_iterations is 4096/),
    );
  });
});

describe('ScramClient: gs2 header and channel binding', () => {
  it('y,, when the client supports binding but the server did not offer PLUS', () => {
    const client = rfcClient({ clientSupportsBinding: true });
    assert.equal(text(client.clientFirstMessage()), `y,,n=user,r=${NONCE}`);
    const final = text(answerServerFirst(client, bytes(SERVER_FIRST)));
    assert.ok(final.startsWith(`c=${Buffer.from('y,,').toString('base64')},`));
  });

  it('PLUS: p=tls-server-end-point,, and c= carries the binding data', () => {
    const data = Uint8Array.from({ length: 32 }, (_, i) => i);
    const client = rfcClient({
      mechanism: 'SCRAM-SHA-256-PLUS',
      channelBinding: { type: 'tls-server-end-point', data },
    });
    assert.equal(text(client.clientFirstMessage()), `p=tls-server-end-point,,n=user,r=${NONCE}`);
    const final = text(answerServerFirst(client, bytes(SERVER_FIRST)));
    const c = /^c=([^,]+),/.exec(final)![1]!;
    assert.deepEqual(
      Buffer.from(c, 'base64'),
      Buffer.concat([Buffer.from('p=tls-server-end-point,,'), data]),
    );
  });

  it('PLUS without binding data is a caller error', () => {
    assert.throws(() => new ScramClient({ password: 'x', mechanism: 'SCRAM-SHA-256-PLUS' }), RangeError);
  });
});

describe('ScramClient: rejections', () => {
  it('a server nonce that does not extend ours', () => {
    assert.throws(afterFirst(`r=XXX${NONCE}abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`), isScramError(/nonce/));
  });
  it('a server nonce equal to ours', () => {
    assert.throws(afterFirst(`r=${NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`), isScramError(/nonce/));
  });
  it('iterations 0', () => {
    assert.throws(afterFirst(`r=${SERVER_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=0`), isScramError(/iteration/));
  });
  it('iterations 4e9 are refused at once, before any PBKDF2 work', () => {
    const started = performance.now();
    assert.throws(
      afterFirst(`r=${SERVER_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4000000000`),
      isScramError(/iteration/),
    );
    assert.ok(performance.now() - started < 1000);
  });
  it('iterations above a custom maxIterations, or not an integer', () => {
    assert.throws(afterFirst(SERVER_FIRST, { maxIterations: 4095 }), isScramError(/\[1, 4095\]/));
    assert.throws(
      afterFirst(`r=${SERVER_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1e3`),
      isScramError(/iteration/),
    );
    assert.throws(afterFirst(`r=${SERVER_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=-1`), isScramError(/iteration/));
  });
  it('maxIterations below 1 is refused', () => {
    assert.throws(() => rfcClient({ maxIterations: 0 }), RangeError);
  });
  it('a salt that is not valid base64, or missing', () => {
    assert.throws(afterFirst(`r=${SERVER_NONCE},s=not*base64!,i=4096`), isScramError(/salt/));
    assert.throws(afterFirst(`r=${SERVER_NONCE},s=,i=4096`), isScramError(/salt/));
    assert.throws(afterFirst(`r=${SERVER_NONCE},i=4096`), isScramError(/r=, s= and i=/));
  });
  it('a mandatory extension (m=)', () => {
    assert.throws(afterFirst(`m=ext,${SERVER_FIRST}`), isScramError(/extension/));
  });
  it('garbage server-first', () => {
    assert.throws(afterFirst('hello'), isScramError(/malformed/));
  });
  it('a wrong server signature', () => {
    const client = rfcClient();
    client.clientFirstMessage();
    answerServerFirst(client, bytes(SERVER_FIRST));
    assert.throws(
      () => client.receiveServerFinal(bytes('v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=')),
      isScramError(/server signature does not match/),
    );
  });
  it('a server signature of the wrong length', () => {
    const client = rfcClient();
    client.clientFirstMessage();
    answerServerFirst(client, bytes(SERVER_FIRST));
    assert.throws(() => client.receiveServerFinal(bytes('v=AAAA')), isScramError(/does not match/));
  });
  it('e= in server-final reports the server text', () => {
    const client = rfcClient();
    client.clientFirstMessage();
    answerServerFirst(client, bytes(SERVER_FIRST));
    assert.throws(() => client.receiveServerFinal(bytes('e=invalid-proof')), isScramError(/invalid-proof/));
  });
  it('out-of-order calls', () => {
    assert.throws(() => rfcClient().receiveServerFirst(bytes(SERVER_FIRST)), isScramError(/out of order/));
    assert.throws(() => rfcClient().receiveServerFinal(bytes(SERVER_FINAL)), isScramError(/out of order/));
    const client = rfcClient();
    client.clientFirstMessage();
    assert.throws(() => client.clientFirstMessage(), isScramError(/out of order/));
    assert.throws(() => client.receiveServerFinal(bytes(SERVER_FINAL)), isScramError(/out of order/));
  });
  it('a client that failed cannot continue', () => {
    const client = rfcClient();
    client.clientFirstMessage();
    assert.throws(() => client.receiveServerFirst(bytes('r=x,s=y,i=1')));
    assert.throws(() => client.receiveServerFirst(bytes(SERVER_FIRST)), isScramError(/out of order/));
  });
});

describe('chooseSaslMechanism (libpq rules)', () => {
  const both = ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'];
  const data = new Uint8Array(32);
  const isCode = (code: string) => (e: unknown) => e instanceof AuthenticationError && e.code === code;

  it('prefer: PLUS when offered and binding data exists', () => {
    assert.deepEqual(chooseSaslMechanism(both, { channelBinding: 'prefer', bindingData: data }), {
      mechanism: 'SCRAM-SHA-256-PLUS',
      useBinding: true,
    });
  });
  it('prefer: SCRAM-SHA-256 without a PLUS offer', () => {
    const plain = { mechanism: 'SCRAM-SHA-256', useBinding: false };
    assert.deepEqual(
      chooseSaslMechanism(['SCRAM-SHA-256'], { channelBinding: 'prefer', bindingData: data }),
      plain,
    );
    assert.deepEqual(
      chooseSaslMechanism(['SCRAM-SHA-256'], { channelBinding: 'prefer', bindingData: null }),
      plain,
    );
  });
  it('prefer: a PLUS offer without binding data fails closed instead of downgrading to plain SCRAM', () => {
    assert.throws(
      () => chooseSaslMechanism(both, { channelBinding: 'prefer', bindingData: null }),
      isCode('PGNUDGE_ERR_CHANNEL_BINDING'),
    );
  });
  it('disable: never PLUS', () => {
    assert.deepEqual(chooseSaslMechanism(both, { channelBinding: 'disable', bindingData: data }), {
      mechanism: 'SCRAM-SHA-256',
      useBinding: false,
    });
  });
  it('require: PLUS, or fail closed', () => {
    assert.equal(
      chooseSaslMechanism(both, { channelBinding: 'require', bindingData: data }).mechanism,
      'SCRAM-SHA-256-PLUS',
    );
    assert.throws(
      () => chooseSaslMechanism(['SCRAM-SHA-256'], { channelBinding: 'require', bindingData: data }),
      isCode('PGNUDGE_ERR_CHANNEL_BINDING'),
    );
    assert.throws(
      () => chooseSaslMechanism(both, { channelBinding: 'require', bindingData: null }),
      isCode('PGNUDGE_ERR_CHANNEL_BINDING'),
    );
  });
  it('no supported mechanism', () => {
    assert.throws(
      () => chooseSaslMechanism(['OAUTHBEARER'], { channelBinding: 'prefer', bindingData: null }),
      isCode('PGNUDGE_ERR_AUTH_UNSUPPORTED'),
    );
    assert.throws(
      () => chooseSaslMechanism(['SCRAM-SHA-256-PLUS'], { channelBinding: 'disable', bindingData: data }),
      isCode('PGNUDGE_ERR_AUTH_UNSUPPORTED'),
    );
  });
});

// The harness's RESP2 and NATS parsers (test/support/resp-client.ts, nats-client.ts) on recorded server
// bytes: a value is returned only once all of it has arrived, whatever the chunking, and a reply's end is
// where the next one starts.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseNatsOp } from '../../support/nats-client.js';
import { encodeCommand, parseResp, RespError } from '../../support/resp-client.js';

/** Parses everything in `bytes`, failing on trailing garbage; and checks every proper prefix is incomplete. */
function parseAll<T>(bytes: Buffer, parse: (b: Buffer, at: number) => { value: T; end: number } | undefined) {
  const values: T[] = [];
  let at = 0;
  while (at < bytes.length) {
    const parsed = parse(bytes, at);
    assert.ok(parsed, `incomplete at byte ${at}`);
    for (let cut = at; cut < parsed.end; cut++) {
      assert.equal(parse(bytes.subarray(0, cut), at), undefined, `a prefix ending at ${cut} parsed`);
    }
    values.push(parsed.value);
    at = parsed.end;
  }
  return values;
}

describe('RESP2', () => {
  test('replies a PUBLISH/SUBSCRIBE exchange produces, in order', () => {
    const bytes = Buffer.from(
      '+PONG\r\n:1\r\n$-1\r\n*3\r\n$9\r\nsubscribe\r\n$6\r\nnudges\r\n:1\r\n' +
        '*3\r\n$7\r\nmessage\r\n$6\r\nnudges\r\n$13\r\npublic.orders\r\n-NOAUTH Authentication required.\r\n' +
        '$0\r\n\r\n*0\r\n',
    );
    const values = parseAll(bytes, (b, at) => {
      const parsed = parseResp(b, at);
      return parsed && { value: parsed.value, end: parsed.end };
    });
    assert.deepEqual(values.slice(0, 5), [
      'PONG',
      1,
      null,
      ['subscribe', 'nudges', 1],
      ['message', 'nudges', 'public.orders'],
    ]);
    assert.ok(values[5] instanceof RespError);
    assert.equal(values[5].message, 'NOAUTH Authentication required.');
    assert.deepEqual(values.slice(6), ['', []]);
  });

  test('bulk strings are counted in bytes, not characters', () => {
    const parsed = parseResp(Buffer.from('$6\r\nsé\r\nx\r\n+OK\r\n'));
    assert.deepEqual(parsed, { value: 'sé\r\nx', end: 12 });
    assert.equal(encodeCommand(['PUBLISH', 'é']).toString(), '*2\r\n$7\r\nPUBLISH\r\n$2\r\né\r\n');
  });

  test('an unknown type byte is an error, not a guess', () => {
    assert.throws(() => parseResp(Buffer.from('?what\r\n')), /not a RESP2 value/);
  });
});

describe('NATS', () => {
  test('INFO, PING, MSG with and without reply subject, -ERR, in order', () => {
    const bytes = Buffer.from(
      'INFO {"server_id":"N1","max_payload":1048576}\r\nPING\r\nPONG\r\n+OK\r\n' +
        'MSG pgnudge.nudges 1 13\r\npublic.orders\r\nMSG a.b 22 _INBOX.x 4\r\n\r\n\r\n\r\n' +
        "-ERR 'Authorization Violation'\r\n",
    );
    const ops = parseAll(bytes, (b, at) => {
      const parsed = parseNatsOp(b, at);
      return parsed && { value: parsed.op, end: parsed.end };
    });
    assert.deepEqual(ops, [
      { op: 'INFO', info: { server_id: 'N1', max_payload: 1048576 } },
      { op: 'PING' },
      { op: 'PONG' },
      { op: 'OK' },
      {
        op: 'MSG',
        subject: 'pgnudge.nudges',
        sid: '1',
        replyTo: null,
        payload: Buffer.from('public.orders'),
      },
      { op: 'MSG', subject: 'a.b', sid: '22', replyTo: '_INBOX.x', payload: Buffer.from('\r\n\r\n') },
      { op: 'ERR', message: 'Authorization Violation' },
    ]);
  });

  test('an unknown operation or a malformed MSG line is an error', () => {
    assert.throws(() => parseNatsOp(Buffer.from('HMSG a 1 0 0\r\n')), /unknown NATS operation/);
    assert.throws(() => parseNatsOp(Buffer.from('MSG a\r\n')), /malformed NATS MSG/);
  });
});

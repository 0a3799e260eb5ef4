import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProtocolError } from '../../../src/errors.js';
import { BackendCode, backendMessageName, parseBackendMessage } from '../../../src/protocol/backend.js';
import { parseErrorFields } from '../../../src/protocol/error-fields.js';
import { cstr, errorFieldsBody, hex, i16, i32, toHex } from '../../support/bytes.js';

function parse(code: string, body: Uint8Array) {
  return parseBackendMessage(code.charCodeAt(0), body);
}

describe('parseBackendMessage: authentication', () => {
  it('AuthenticationOk', () => {
    assert.deepEqual(parse('R', hex('00000000')), { type: 'AuthenticationOk' });
  });
  it('AuthenticationCleartextPassword', () => {
    assert.deepEqual(parse('R', hex('00000003')), { type: 'AuthenticationCleartextPassword' });
  });
  it('AuthenticationMD5Password with its salt', () => {
    const m = parse('R', hex('00000005 01020304'));
    assert.equal(m.type, 'AuthenticationMD5Password');
    assert.equal(m.type === 'AuthenticationMD5Password' && toHex(m.salt), '01020304');
  });
  it('AuthenticationSASL lists the mechanisms', () => {
    const body = Buffer.concat([i32(10), cstr('SCRAM-SHA-256-PLUS'), cstr('SCRAM-SHA-256'), hex('00')]);
    assert.deepEqual(parse('R', body), {
      type: 'AuthenticationSASL',
      mechanisms: ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'],
    });
  });
  it('AuthenticationSASLContinue and SASLFinal keep their data as a view', () => {
    const body = Buffer.concat([i32(11), Buffer.from('r=abc')]);
    const m = parse('R', body);
    assert.ok(m.type === 'AuthenticationSASLContinue');
    assert.equal(Buffer.from(m.data).toString(), 'r=abc');
    assert.equal(m.data.buffer, body.buffer);
    const f = parse('R', Buffer.concat([i32(12), Buffer.from('v=xyz')]));
    assert.ok(f.type === 'AuthenticationSASLFinal');
    assert.equal(Buffer.from(f.data).toString(), 'v=xyz');
  });
  for (const [method, name] of [
    [2, 'KerberosV5'],
    [6, 'SCMCredential'],
    [7, 'GSS'],
    [9, 'SSPI'],
  ] as const) {
    it(`Authentication ${name} is AuthenticationUnsupported`, () => {
      assert.deepEqual(parse('R', i32(method)), { type: 'AuthenticationUnsupported', method, name });
    });
  }
  it('AuthenticationGSSContinue (with data) is AuthenticationUnsupported', () => {
    assert.deepEqual(parse('R', hex('00000008 aabb')), {
      type: 'AuthenticationUnsupported',
      method: 8,
      name: 'GSSContinue',
    });
  });
  it('an unknown authentication code is a ProtocolError', () => {
    assert.throws(() => parse('R', i32(4)), ProtocolError);
    assert.throws(() => parse('R', i32(99)), ProtocolError);
  });
  it('a truncated MD5 salt and trailing bytes are ProtocolErrors', () => {
    assert.throws(() => parse('R', hex('00000005 0102')), ProtocolError);
    assert.throws(() => parse('R', hex('00000000 00')), /trailing/);
  });
});

describe('parseBackendMessage: session messages', () => {
  it('ParameterStatus', () => {
    assert.deepEqual(parse('S', Buffer.concat([cstr('server_version'), cstr('17.2')])), {
      type: 'ParameterStatus',
      name: 'server_version',
      value: '17.2',
    });
  });
  it('BackendKeyData with a 4-byte key (protocol 3.0)', () => {
    const m = parse('K', hex('00003039 deadbeef'));
    assert.ok(m.type === 'BackendKeyData');
    assert.equal(m.processId, 12345);
    assert.equal(toHex(m.secretKey), 'deadbeef');
  });
  it('BackendKeyData with a 32-byte key (protocol 3.2, PG 18)', () => {
    const m = parse('K', Buffer.concat([i32(7), Buffer.alloc(32, 9)]));
    assert.ok(m.type === 'BackendKeyData' && m.secretKey.byteLength === 32);
  });
  it('BackendKeyData with a key shorter than 4 or longer than 256 bytes is refused', () => {
    assert.throws(() => parse('K', hex('00000001 0102')), ProtocolError);
    assert.throws(() => parse('K', Buffer.concat([i32(1), Buffer.alloc(257)])), ProtocolError);
  });
  it('ReadyForQuery', () => {
    for (const status of ['I', 'T', 'E'] as const) {
      assert.deepEqual(parse('Z', Buffer.from(status)), { type: 'ReadyForQuery', status });
    }
    assert.throws(() => parse('Z', Buffer.from('X')), ProtocolError);
  });
  it('RowDescription', () => {
    const body = Buffer.concat([
      i16(2),
      cstr('slot_name'),
      hex('00000000 0000 00000013 0040 ffffffff 0000'),
      cstr('lsn'),
      hex('00004000 0002 00000019 ffff ffffffff 0001'),
    ]);
    assert.deepEqual(parse('T', body), {
      type: 'RowDescription',
      fields: [
        {
          name: 'slot_name',
          tableOid: 0,
          columnAttr: 0,
          typeOid: 19,
          typeSize: 64,
          typeModifier: -1,
          format: 0,
        },
        {
          name: 'lsn',
          tableOid: 16384,
          columnAttr: 2,
          typeOid: 25,
          typeSize: -1,
          typeModifier: -1,
          format: 1,
        },
      ],
    });
  });
  it('DataRow with text and NULL', () => {
    const body = Buffer.concat([i16(3), i32(2), Buffer.from('ok'), i32(-1), i32(0)]);
    assert.deepEqual(parse('D', body), { type: 'DataRow', values: ['ok', null, ''] });
  });
  it('DataRow with a negative length other than -1, or a count larger than the body, is refused', () => {
    assert.throws(() => parse('D', Buffer.concat([i16(1), i32(-2)])), ProtocolError);
    assert.throws(() => parse('D', Buffer.concat([i16(1000), i32(-1)])), /invalid column count/);
    assert.throws(() => parse('D', i16(-1)), ProtocolError);
    assert.throws(() => parse('D', Buffer.concat([i16(1), i32(100), Buffer.from('x')])), ProtocolError);
  });
  it('CommandComplete and EmptyQueryResponse', () => {
    assert.deepEqual(parse('C', cstr('CREATE_REPLICATION_SLOT')), {
      type: 'CommandComplete',
      tag: 'CREATE_REPLICATION_SLOT',
    });
    assert.deepEqual(parse('I', hex('')), { type: 'EmptyQueryResponse' });
  });
  it('NotificationResponse', () => {
    assert.deepEqual(parse('A', Buffer.concat([i32(42), cstr('chan'), cstr('{"v":1}')])), {
      type: 'NotificationResponse',
      processId: 42,
      channel: 'chan',
      payload: '{"v":1}',
    });
  });
  it('CopyBothResponse, CopyInResponse, CopyOutResponse', () => {
    assert.deepEqual(parse('W', hex('00 0000')), { type: 'CopyBothResponse', format: 0, columnFormats: [] });
    assert.deepEqual(parse('G', hex('01 0002 0001 0000')), {
      type: 'CopyInResponse',
      format: 1,
      columnFormats: [1, 0],
    });
    assert.deepEqual(parse('H', hex('00 0001 0000')), {
      type: 'CopyOutResponse',
      format: 0,
      columnFormats: [0],
    });
    assert.throws(() => parse('W', hex('02 0000')), ProtocolError);
    assert.throws(() => parse('W', hex('00 0001 0005')), ProtocolError);
  });
  it('CopyData is a view of the body; CopyDone', () => {
    const body = hex('770102');
    const m = parse('d', body);
    assert.ok(m.type === 'CopyData');
    assert.equal(m.data.buffer, body.buffer);
    assert.equal(toHex(m.data), '770102');
    assert.deepEqual(parse('c', hex('')), { type: 'CopyDone' });
  });
  it('NegotiateProtocolVersion', () => {
    assert.deepEqual(parse('v', Buffer.concat([i32(0), i32(1), cstr('_pq_.foo')])), {
      type: 'NegotiateProtocolVersion',
      newestMinor: 0,
      unrecognized: ['_pq_.foo'],
    });
    assert.throws(() => parse('v', Buffer.concat([i32(0), i32(-1)])), ProtocolError);
  });
  it('extended-protocol acknowledgements are parsed minimally', () => {
    for (const [code, type] of [
      ['1', 'ParseComplete'],
      ['2', 'BindComplete'],
      ['3', 'CloseComplete'],
      ['n', 'NoData'],
      ['s', 'PortalSuspended'],
    ] as const) {
      assert.deepEqual(parse(code, hex('')), { type });
    }
    assert.deepEqual(parse('t', hex('0002 00000017 00000019')), {
      type: 'ParameterDescription',
      typeOids: [23, 25],
    });
  });
  it('an unknown code is a ProtocolError naming it', () => {
    assert.throws(
      () => parse('?', hex('')),
      (e: unknown) =>
        e instanceof ProtocolError &&
        /0x3f/.test(e.message) &&
        e.messageType === "unknown message '?' (0x3f)",
    );
  });
});

describe('ErrorResponse / NoticeResponse fields', () => {
  const all = {
    S: 'FEHLER',
    V: 'ERROR',
    C: '42P01',
    M: 'relation "x" does not exist',
    D: 'detail',
    H: 'hint',
    P: '15',
    p: '3',
    q: 'select 1',
    W: 'where',
    s: 'public',
    t: 'x',
    c: 'col',
    d: 'int4',
    n: 'x_pkey',
    F: 'parse_relation.c',
    L: '1392',
    R: 'parserOpenTable',
    Z: 'an unknown future field',
  };

  it('maps every documented field, prefers V for severity, skips unknown codes', () => {
    assert.deepEqual(parseErrorFields(errorFieldsBody(all)), {
      severity: 'ERROR',
      sqlState: '42P01',
      message: 'relation "x" does not exist',
      detail: 'detail',
      hint: 'hint',
      position: '15',
      internalPosition: '3',
      internalQuery: 'select 1',
      where: 'where',
      schema: 'public',
      table: 'x',
      column: 'col',
      dataType: 'int4',
      constraint: 'x_pkey',
      file: 'parse_relation.c',
      line: '1392',
      routine: 'parserOpenTable',
    });
  });

  it('falls back to S when V is absent (servers before 9.6)', () => {
    assert.equal(parseErrorFields(errorFieldsBody({ S: 'FATAL', C: '28P01', M: 'no' })).severity, 'FATAL');
  });

  it('is reached through parseBackendMessage for E and N', () => {
    const body = errorFieldsBody({ S: 'NOTICE', V: 'NOTICE', C: '00000', M: 'hello' });
    assert.deepEqual(parse('N', body), {
      type: 'NoticeResponse',
      fields: { severity: 'NOTICE', sqlState: '00000', message: 'hello' },
    });
    assert.equal(parse('E', body).type, 'ErrorResponse');
  });

  it('missing S, C or M is a ProtocolError', () => {
    assert.throws(() => parseErrorFields(errorFieldsBody({ C: '1', M: 'm' })), /severity/);
    assert.throws(() => parseErrorFields(errorFieldsBody({ S: 'E', M: 'm' })), /SQLSTATE/);
    assert.throws(() => parseErrorFields(errorFieldsBody({ S: 'E', C: '1' })), /message/);
  });

  it('an unterminated list is a ProtocolError', () => {
    const body = errorFieldsBody({ S: 'E', C: '1', M: 'm' });
    assert.throws(() => parseErrorFields(body.subarray(0, body.byteLength - 1)), ProtocolError);
    assert.throws(() => parseErrorFields(body.subarray(0, body.byteLength - 2)), ProtocolError);
  });
});

describe('backendMessageName', () => {
  it('names known codes and describes unknown ones', () => {
    assert.equal(backendMessageName(BackendCode.CopyBothResponse), 'CopyBothResponse');
    assert.equal(backendMessageName(0x64), 'CopyData');
    assert.equal(backendMessageName(0x00), 'unknown message (0x00)');
  });
});

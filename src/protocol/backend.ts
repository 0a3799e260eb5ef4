// Parses backend (server → client) messages into a discriminated union (PG docs §55.7 "Message Formats").
// Bodies come from FrameDecoder; byte payloads (CopyData, SASL data) stay views of the frame.

import type { ServerErrorFields } from '../errors.js';
import { parseErrorFields } from './error-fields.js';
import { ByteReader } from './reader.js';

/** Backend message code bytes. */
export const BackendCode = {
  ParseComplete: 0x31, // '1'
  BindComplete: 0x32, // '2'
  CloseComplete: 0x33, // '3'
  NotificationResponse: 0x41, // 'A'
  CommandComplete: 0x43, // 'C'
  DataRow: 0x44, // 'D'
  ErrorResponse: 0x45, // 'E'
  CopyInResponse: 0x47, // 'G'
  CopyOutResponse: 0x48, // 'H'
  EmptyQueryResponse: 0x49, // 'I'
  BackendKeyData: 0x4b, // 'K'
  NoticeResponse: 0x4e, // 'N'
  Authentication: 0x52, // 'R'
  ParameterStatus: 0x53, // 'S'
  RowDescription: 0x54, // 'T'
  CopyBothResponse: 0x57, // 'W'
  ReadyForQuery: 0x5a, // 'Z'
  CopyDone: 0x63, // 'c'
  CopyData: 0x64, // 'd'
  NoData: 0x6e, // 'n'
  PortalSuspended: 0x73, // 's'
  ParameterDescription: 0x74, // 't'
  NegotiateProtocolVersion: 0x76, // 'v'
} as const;

/** The Int32 that follows an Authentication message's 'R'. */
export const AuthenticationCode = {
  Ok: 0,
  KerberosV5: 2,
  CleartextPassword: 3,
  MD5Password: 5,
  SCMCredential: 6,
  GSS: 7,
  GSSContinue: 8,
  SSPI: 9,
  SASL: 10,
  SASLContinue: 11,
  SASLFinal: 12,
} as const;

const UNSUPPORTED_AUTHENTICATION: Readonly<Record<number, string>> = {
  [AuthenticationCode.KerberosV5]: 'KerberosV5',
  [AuthenticationCode.SCMCredential]: 'SCMCredential',
  [AuthenticationCode.GSS]: 'GSS',
  [AuthenticationCode.GSSContinue]: 'GSSContinue',
  [AuthenticationCode.SSPI]: 'SSPI',
};

const NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(BackendCode).map(([name, code]) => [code, name] as const),
);

/** The protocol name of a backend code, or a readable placeholder for unknown codes (for error messages). */
export function backendMessageName(code: number): string {
  const name = NAMES.get(code);
  if (name !== undefined) {
    return name;
  }
  const printable = code >= 0x20 && code < 0x7f ? `'${String.fromCharCode(code)}' ` : '';
  return `unknown message ${printable}(0x${code.toString(16).padStart(2, '0')})`;
}

/** A column of a RowDescription. */
export interface FieldDescription {
  name: string;
  tableOid: number;
  columnAttr: number;
  typeOid: number;
  typeSize: number;
  typeModifier: number;
  format: number;
}

/** The server's cancellation key. In protocol 3.2 (PG 18) the secret key may be up to 256 bytes. */
export interface BackendKeyData {
  type: 'BackendKeyData';
  processId: number;
  secretKey: Uint8Array;
}

/** Any backend message pgnudge understands. Discriminated on `type`, named as in the PG docs. */
export type BackendMessage =
  | { type: 'AuthenticationOk' }
  | { type: 'AuthenticationCleartextPassword' }
  | { type: 'AuthenticationMD5Password'; salt: Uint8Array }
  | { type: 'AuthenticationSASL'; mechanisms: string[] }
  | { type: 'AuthenticationSASLContinue'; data: Uint8Array }
  | { type: 'AuthenticationSASLFinal'; data: Uint8Array }
  | { type: 'AuthenticationUnsupported'; method: number; name: string }
  | { type: 'ParameterStatus'; name: string; value: string }
  | BackendKeyData
  | { type: 'ReadyForQuery'; status: 'I' | 'T' | 'E' }
  | { type: 'RowDescription'; fields: FieldDescription[] }
  | { type: 'DataRow'; values: (string | null)[] }
  | { type: 'CommandComplete'; tag: string }
  | { type: 'EmptyQueryResponse' }
  | { type: 'ErrorResponse'; fields: ServerErrorFields }
  | { type: 'NoticeResponse'; fields: ServerErrorFields }
  | { type: 'NotificationResponse'; processId: number; channel: string; payload: string }
  | {
      type: 'CopyInResponse' | 'CopyOutResponse' | 'CopyBothResponse';
      format: number;
      columnFormats: number[];
    }
  | { type: 'CopyData'; data: Uint8Array }
  | { type: 'CopyDone' }
  | { type: 'NegotiateProtocolVersion'; newestMinor: number; unrecognized: string[] }
  | { type: 'ParseComplete' | 'BindComplete' | 'NoData' | 'PortalSuspended' | 'CloseComplete' }
  | { type: 'ParameterDescription'; typeOids: number[] };

const textDecoder = new TextDecoder('utf-8');

/**
 * Parses one backend message body. Throws ProtocolError on an unknown code, a truncated body, trailing
 * bytes, or values outside their documented range.
 */
export function parseBackendMessage(code: number, body: Uint8Array): BackendMessage {
  // The replication hot path: one CopyData per WAL record, so skip the reader entirely.
  if (code === BackendCode.CopyData) {
    return { type: 'CopyData', data: body };
  }
  const name = backendMessageName(code);
  const reader = new ByteReader(body, name);
  const message = parseBody(code, reader);
  if (reader.remaining !== 0) {
    throw reader.error(`${reader.remaining} unexpected trailing bytes`);
  }
  return message;
}

function parseBody(code: number, r: ByteReader): BackendMessage {
  switch (code) {
    case BackendCode.Authentication:
      return parseAuthentication(r);
    case BackendCode.ParameterStatus:
      return { type: 'ParameterStatus', name: r.cstring(), value: r.cstring() };
    case BackendCode.BackendKeyData: {
      const processId = r.i32();
      const keyAt = r.offset;
      const secretKey = r.rest();
      if (secretKey.byteLength < 4 || secretKey.byteLength > 256) {
        throw r.error(`secret key must be 4 to 256 bytes, got ${secretKey.byteLength}`, keyAt);
      }
      return { type: 'BackendKeyData', processId, secretKey };
    }
    case BackendCode.ReadyForQuery: {
      const status = String.fromCharCode(r.u8());
      if (status !== 'I' && status !== 'T' && status !== 'E') {
        throw r.error(`unknown transaction status '${status}'`, 0);
      }
      return { type: 'ReadyForQuery', status };
    }
    case BackendCode.RowDescription:
      return { type: 'RowDescription', fields: parseRowDescription(r) };
    case BackendCode.DataRow:
      return { type: 'DataRow', values: parseDataRow(r) };
    case BackendCode.CommandComplete:
      return { type: 'CommandComplete', tag: r.cstring() };
    case BackendCode.EmptyQueryResponse:
      return { type: 'EmptyQueryResponse' };
    case BackendCode.ErrorResponse:
      return { type: 'ErrorResponse', fields: parseErrorFields(r.rest(), 'ErrorResponse') };
    case BackendCode.NoticeResponse:
      return { type: 'NoticeResponse', fields: parseErrorFields(r.rest(), 'NoticeResponse') };
    case BackendCode.NotificationResponse:
      return { type: 'NotificationResponse', processId: r.i32(), channel: r.cstring(), payload: r.cstring() };
    case BackendCode.CopyInResponse:
    case BackendCode.CopyOutResponse:
    case BackendCode.CopyBothResponse:
      return parseCopyResponse(code, r);
    case BackendCode.CopyDone:
      return { type: 'CopyDone' };
    case BackendCode.NegotiateProtocolVersion: {
      const newestMinor = r.i32();
      const count = readCount(r, r.i32(), 'option');
      const unrecognized: string[] = [];
      for (let i = 0; i < count; i++) {
        unrecognized.push(r.cstring());
      }
      return { type: 'NegotiateProtocolVersion', newestMinor, unrecognized };
    }
    case BackendCode.ParseComplete:
      return { type: 'ParseComplete' };
    case BackendCode.BindComplete:
      return { type: 'BindComplete' };
    case BackendCode.CloseComplete:
      return { type: 'CloseComplete' };
    case BackendCode.NoData:
      return { type: 'NoData' };
    case BackendCode.PortalSuspended:
      return { type: 'PortalSuspended' };
    case BackendCode.ParameterDescription: {
      const count = readCount(r, r.i16(), 'parameter');
      const typeOids: number[] = [];
      for (let i = 0; i < count; i++) {
        typeOids.push(r.u32());
      }
      return { type: 'ParameterDescription', typeOids };
    }
    default:
      throw r.error(`unexpected backend message code 0x${code.toString(16).padStart(2, '0')}`, 0);
  }
}

function parseAuthentication(r: ByteReader): BackendMessage {
  const method = r.i32();
  switch (method) {
    case AuthenticationCode.Ok:
      return { type: 'AuthenticationOk' };
    case AuthenticationCode.CleartextPassword:
      return { type: 'AuthenticationCleartextPassword' };
    case AuthenticationCode.MD5Password:
      return { type: 'AuthenticationMD5Password', salt: r.bytes(4) };
    case AuthenticationCode.SASL: {
      const mechanisms: string[] = [];
      for (;;) {
        const mechanism = r.cstring();
        if (mechanism === '') {
          break;
        }
        mechanisms.push(mechanism);
      }
      return { type: 'AuthenticationSASL', mechanisms };
    }
    case AuthenticationCode.SASLContinue:
      return { type: 'AuthenticationSASLContinue', data: r.rest() };
    case AuthenticationCode.SASLFinal:
      return { type: 'AuthenticationSASLFinal', data: r.rest() };
    default: {
      const name = UNSUPPORTED_AUTHENTICATION[method];
      if (name === undefined) {
        throw r.error(`unknown authentication request ${method}`, 0);
      }
      // GSSContinue carries a token; it is irrelevant since the method is refused.
      r.rest();
      return { type: 'AuthenticationUnsupported', method, name };
    }
  }
}

function parseRowDescription(r: ByteReader): FieldDescription[] {
  const count = readCount(r, r.i16(), 'field');
  const fields: FieldDescription[] = [];
  for (let i = 0; i < count; i++) {
    fields.push({
      name: r.cstring(),
      tableOid: r.u32(),
      columnAttr: r.i16(),
      typeOid: r.u32(),
      typeSize: r.i16(),
      typeModifier: r.i32(),
      format: r.i16(),
    });
  }
  return fields;
}

function parseDataRow(r: ByteReader): (string | null)[] {
  const count = readCount(r, r.i16(), 'column');
  const values: (string | null)[] = [];
  for (let i = 0; i < count; i++) {
    const lengthAt = r.offset;
    const length = r.i32();
    if (length === -1) {
      values.push(null);
    } else if (length < 0) {
      throw r.error(`negative column length ${length}`, lengthAt);
    } else {
      values.push(textDecoder.decode(r.bytes(length)));
    }
  }
  return values;
}

function parseCopyResponse(code: number, r: ByteReader): BackendMessage {
  const type =
    code === BackendCode.CopyInResponse
      ? 'CopyInResponse'
      : code === BackendCode.CopyOutResponse
        ? 'CopyOutResponse'
        : 'CopyBothResponse';
  const format = r.u8();
  if (format > 1) {
    throw r.error(`unknown copy format ${format}`, 0);
  }
  const count = readCount(r, r.i16(), 'column');
  const columnFormats: number[] = [];
  for (let i = 0; i < count; i++) {
    const at = r.offset;
    const columnFormat = r.i16();
    if (columnFormat !== 0 && columnFormat !== 1) {
      throw r.error(`unknown column format ${columnFormat}`, at);
    }
    columnFormats.push(columnFormat);
  }
  return { type, format, columnFormats };
}

/** Rejects a negative count, and one that cannot fit in what is left (each item takes at least one byte). */
function readCount(r: ByteReader, count: number, what: string): number {
  if (count < 0 || count > r.remaining) {
    throw r.error(`invalid ${what} count ${count}`);
  }
  return count;
}

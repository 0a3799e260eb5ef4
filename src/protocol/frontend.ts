// Encodes the frontend (client → server) messages a change feed needs (PG docs §55.7 "Message Formats"):
// SSLRequest, StartupMessage, password/SASL responses, Query, CopyData, CopyDone, Terminate.

import { ConfigError } from '../errors.js';
import { ByteWriter } from './writer.js';

/** Frontend message code bytes. */
export const FrontendCode = {
  CopyDone: 0x63, // 'c'
  CopyData: 0x64, // 'd'
  PasswordMessage: 0x70, // 'p', also SASLInitialResponse and SASLResponse
  Query: 0x51, // 'Q'
  Terminate: 0x58, // 'X'
} as const;

/** Protocol version 3.0, as the StartupMessage's Int32 (major in the high 16 bits). */
export const PROTOCOL_VERSION_3_0 = 0x0003_0000;
/** The SSLRequest code: 1234 in the high 16 bits, 5679 in the low. */
export const SSL_REQUEST_CODE = 80877103;

/** A String field cannot carry a NUL; one in user input is a caller bug that would truncate the value. */
function assertNoNul(value: string, what: string, option?: string): void {
  if (value.includes('\0')) {
    throw new ConfigError(`${what} contains a NUL character, which PostgreSQL cannot accept`, option);
  }
}

/** SSLRequest: asks the server to switch to TLS. The answer is one byte, 'S' or 'N'. */
export function encodeSSLRequest(): Buffer {
  return new ByteWriter().i32(SSL_REQUEST_CODE).finish();
}

/**
 * StartupMessage for protocol 3.0 with the given parameters (`user`, `database`, `replication`,
 * `application_name`, ...). Throws ConfigError when a name or value contains NUL or a name is empty.
 */
export function encodeStartupMessage(params: Record<string, string>): Buffer {
  const writer = new ByteWriter().i32(PROTOCOL_VERSION_3_0);
  for (const [name, value] of Object.entries(params)) {
    if (name === '') {
      throw new ConfigError('a startup parameter has an empty name');
    }
    assertNoNul(name, `startup parameter name ${JSON.stringify(name)}`, name);
    assertNoNul(value, `startup parameter "${name}"`, name);
    writer.cstring(name).cstring(value);
  }
  return writer.u8(0).finish();
}

/** PasswordMessage carrying a cleartext password or an `md5...` digest. The message never names the value. */
export function encodePasswordMessage(password: string): Buffer {
  assertNoNul(password, 'the password', 'password');
  return new ByteWriter(FrontendCode.PasswordMessage).cstring(password).finish();
}

/** SASLInitialResponse: the chosen mechanism and the client-first message. */
export function encodeSASLInitialResponse(mechanism: string, data: Uint8Array): Buffer {
  assertNoNul(mechanism, 'the SASL mechanism name');
  return new ByteWriter(FrontendCode.PasswordMessage)
    .cstring(mechanism)
    .i32(data.byteLength)
    .bytes(data)
    .finish();
}

/** SASLResponse: a later SASL message (SCRAM's client-final). */
export function encodeSASLResponse(data: Uint8Array): Buffer {
  return new ByteWriter(FrontendCode.PasswordMessage).bytes(data).finish();
}

/** Query (simple query protocol). Throws ConfigError when the SQL contains NUL. */
export function encodeQuery(sql: string): Buffer {
  assertNoNul(sql, 'the SQL command');
  return new ByteWriter(FrontendCode.Query).cstring(sql).finish();
}

/** CopyData wrapping `payload` (in replication, a StandbyStatusUpdate). */
export function encodeCopyData(payload: Uint8Array): Buffer {
  return new ByteWriter(FrontendCode.CopyData).bytes(payload).finish();
}

/** CopyDone. */
export function encodeCopyDone(): Buffer {
  return new ByteWriter(FrontendCode.CopyDone).finish();
}

/** Terminate. */
export function encodeTerminate(): Buffer {
  return new ByteWriter(FrontendCode.Terminate).finish();
}

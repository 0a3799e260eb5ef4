// Parses the field list of ErrorResponse and NoticeResponse (PG docs §55.8 "Error and Notice Message Fields").

import type { ServerErrorFields } from '../errors.js';
import { ByteReader } from './reader.js';

type OptionalField = Exclude<keyof ServerErrorFields, 'severity' | 'sqlState' | 'message'>;

const OPTIONAL_FIELDS: Readonly<Record<string, OptionalField>> = {
  D: 'detail',
  H: 'hint',
  P: 'position',
  p: 'internalPosition',
  q: 'internalQuery',
  W: 'where',
  s: 'schema',
  t: 'table',
  c: 'column',
  d: 'dataType',
  n: 'constraint',
  F: 'file',
  L: 'line',
  R: 'routine',
};

/**
 * Parses the body of an ErrorResponse or NoticeResponse. Unknown field codes are skipped, as the docs
 * require ("more field types may be added in future"). Severity prefers the non-localized `V` over `S`.
 * Throws ProtocolError when severity, SQLSTATE or message is missing or the list is not terminated.
 */
export function parseErrorFields(body: Uint8Array, messageType = 'ErrorResponse'): ServerErrorFields {
  const reader = new ByteReader(body, messageType);
  let localizedSeverity: string | undefined;
  let severity: string | undefined;
  let sqlState: string | undefined;
  let message: string | undefined;
  const optional: Partial<Record<OptionalField, string>> = {};
  for (;;) {
    const code = reader.u8();
    if (code === 0) {
      break;
    }
    const value = reader.cstring();
    const key = String.fromCharCode(code);
    if (key === 'S') {
      localizedSeverity = value;
    } else if (key === 'V') {
      severity = value;
    } else if (key === 'C') {
      sqlState = value;
    } else if (key === 'M') {
      message = value;
    } else {
      const name = OPTIONAL_FIELDS[key];
      if (name !== undefined) {
        optional[name] = value;
      }
    }
  }
  severity ??= localizedSeverity;
  const missing = [
    severity === undefined ? 'severity (S)' : '',
    sqlState === undefined ? 'SQLSTATE (C)' : '',
    message === undefined ? 'message (M)' : '',
  ].filter((name) => name !== '');
  if (severity === undefined || sqlState === undefined || message === undefined) {
    throw reader.error(`missing required field ${missing.join(', ')}`);
  }
  return { severity, sqlState, message, ...optional };
}

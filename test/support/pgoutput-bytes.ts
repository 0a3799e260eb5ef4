// Builds pgoutput messages byte by byte, from the documented formats (PostgreSQL "Logical Replication
// Message Formats"), for unit tests and the model-based fuzz properties. Independent of the decoder:
// it is the oracle the decoder is checked against. `xid` arguments are the transaction id that
// messages inside a stream block carry; leave it out elsewhere.

const encoder = new TextEncoder();

/** A message under construction. */
class Bytes {
  readonly #parts: number[] = [];

  byte(value: number): this {
    this.#parts.push(value & 0xff);
    return this;
  }

  int16(value: number): this {
    return this.byte(value >>> 8).byte(value);
  }

  int32(value: number): this {
    return this.byte(value >>> 24)
      .byte(value >>> 16)
      .byte(value >>> 8)
      .byte(value);
  }

  int64(value: bigint): this {
    return this.int32(Number((value >> 32n) & 0xffff_ffffn)).int32(Number(value & 0xffff_ffffn));
  }

  raw(bytes: Uint8Array): this {
    for (const byte of bytes) this.#parts.push(byte);
    return this;
  }

  string(text: string): this {
    return this.raw(encoder.encode(text)).byte(0);
  }

  xid(xid: number | undefined): this {
    return xid === undefined ? this : this.int32(xid);
  }

  done(): Uint8Array {
    return Uint8Array.from(this.#parts);
  }
}

const code = (letter: string) => new Bytes().byte(letter.charCodeAt(0));
const LSN = 0x1_6b37_4d48n;
const TIME = 786_000_000_000_000n;

/** A column in a test Relation message. */
export interface ColumnSpec {
  name: string;
  key?: boolean;
  typeOid?: number;
  typeModifier?: number;
}

/** A test relation. */
export interface RelationSpec {
  oid: number;
  schema: string;
  table: string;
  identity?: 'd' | 'n' | 'f' | 'i';
  columns: ColumnSpec[];
}

/** One value in a TupleData: null, unchanged TOAST, text or binary. */
export type Value = null | 'unchanged' | string | Uint8Array;

function tuple(bytes: Bytes, values: readonly Value[]): Bytes {
  bytes.int16(values.length);
  for (const value of values) {
    if (value === null) bytes.byte(0x6e);
    else if (value === 'unchanged') bytes.byte(0x75);
    else if (typeof value === 'string') {
      const text = encoder.encode(value);
      bytes.byte(0x74).int32(text.length).raw(text);
    } else bytes.byte(0x62).int32(value.length).raw(value);
  }
  return bytes;
}

export const begin = (xid: number) => code('B').int64(LSN).int64(TIME).int32(xid).done();
export const commit = () =>
  code('C')
    .byte(0)
    .int64(LSN)
    .int64(LSN + 8n)
    .int64(TIME)
    .done();
export const origin = (name: string) => code('O').int64(LSN).string(name).done();

export function relation(spec: RelationSpec, xid?: number): Uint8Array {
  const bytes = code('R')
    .xid(xid)
    .int32(spec.oid)
    .string(spec.schema === 'pg_catalog' ? '' : spec.schema)
    .string(spec.table)
    .byte((spec.identity ?? 'd').charCodeAt(0))
    .int16(spec.columns.length);
  for (const column of spec.columns) {
    bytes
      .byte(column.key ? 1 : 0)
      .string(column.name)
      .int32(column.typeOid ?? 23)
      .int32(column.typeModifier ?? -1);
  }
  return bytes.done();
}

export const type = (oid: number, schema: string, name: string, xid?: number) =>
  code('Y').xid(xid).int32(oid).string(schema).string(name).done();

export const insert = (oid: number, values: readonly Value[], xid?: number) =>
  tuple(code('I').xid(xid).int32(oid).byte(0x4e), values).done();

/** UPDATE with an optional old tuple: `K` (old key) or `O` (old row, REPLICA IDENTITY FULL). */
export function update(
  oid: number,
  values: readonly Value[],
  old?: { kind: 'K' | 'O'; values: readonly Value[] },
  xid?: number,
): Uint8Array {
  const bytes = code('U').xid(xid).int32(oid);
  if (old !== undefined) tuple(bytes.byte(old.kind.charCodeAt(0)), old.values);
  return tuple(bytes.byte(0x4e), values).done();
}

export const remove = (oid: number, kind: 'K' | 'O', values: readonly Value[], xid?: number) =>
  tuple(code('D').xid(xid).int32(oid).byte(kind.charCodeAt(0)), values).done();

export function truncate(oids: readonly number[], xid?: number, flags = 0): Uint8Array {
  const bytes = code('T').xid(xid).int32(oids.length).byte(flags);
  for (const oid of oids) bytes.int32(oid);
  return bytes.done();
}

export const message = (transactional: boolean, prefix: string, content: string, xid?: number) => {
  const body = encoder.encode(content);
  return code('M')
    .xid(xid)
    .byte(transactional ? 1 : 0)
    .int64(LSN)
    .string(prefix)
    .int32(body.length)
    .raw(body)
    .done();
};

export const streamStart = (xid: number, first: boolean) =>
  code('S')
    .int32(xid)
    .byte(first ? 1 : 0)
    .done();
export const streamStop = () => code('E').done();
export const streamCommit = (xid: number) =>
  code('c')
    .int32(xid)
    .byte(0)
    .int64(LSN)
    .int64(LSN + 8n)
    .int64(TIME)
    .done();

/** STREAM ABORT; `parallel` adds the abort LSN and time (protocol 4, streaming 'parallel'). */
export function streamAbort(xid: number, subxid: number, parallel = false): Uint8Array {
  const bytes = code('A').int32(xid).int32(subxid);
  if (parallel) bytes.int64(LSN).int64(TIME);
  return bytes.done();
}

export const beginPrepare = (xid: number, gid: string) =>
  code('b')
    .int64(LSN)
    .int64(LSN + 8n)
    .int64(TIME)
    .int32(xid)
    .string(gid)
    .done();
export const prepare = (xid: number, gid: string) =>
  code('P')
    .byte(0)
    .int64(LSN)
    .int64(LSN + 8n)
    .int64(TIME)
    .int32(xid)
    .string(gid)
    .done();
export const streamPrepare = (xid: number, gid: string) =>
  code('p')
    .byte(0)
    .int64(LSN)
    .int64(LSN + 8n)
    .int64(TIME)
    .int32(xid)
    .string(gid)
    .done();
export const commitPrepared = (xid: number, gid: string) =>
  code('K')
    .byte(0)
    .int64(LSN)
    .int64(LSN + 8n)
    .int64(TIME)
    .int32(xid)
    .string(gid)
    .done();
export const rollbackPrepared = (xid: number, gid: string) =>
  code('r')
    .byte(0)
    .int64(LSN)
    .int64(LSN + 8n)
    .int64(TIME)
    .int64(TIME + 1n)
    .int32(xid)
    .string(gid)
    .done();

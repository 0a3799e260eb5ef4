// ByteReader: bounds-checked big-endian reads over one message body (PG docs §55.6 "Message Data Types").
// Every failure is a ProtocolError naming the message and offset, never a RangeError from Buffer.

import { ProtocolError } from '../errors.js';

const utf8 = new TextDecoder('utf-8');

/**
 * Reads the PostgreSQL wire types (Int8/16/32/64, String, Byte n) from a message body.
 * `bytes()` and `rest()` return views into the input, never copies.
 */
export class ByteReader {
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  readonly #messageType: string | undefined;
  #offset = 0;

  /**
   * @param buf the message body (without code byte and length)
   * @param messageType protocol name or code letter, used in error messages
   */
  constructor(buf: Uint8Array, messageType?: string) {
    this.#buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.#messageType = messageType;
  }

  /** Bytes consumed so far. */
  get offset(): number {
    return this.#offset;
  }

  /** Bytes left to read. */
  get remaining(): number {
    return this.#buf.byteLength - this.#offset;
  }

  /** Reads an unsigned Int8. */
  u8(): number {
    const at = this.#take(1, 'Int8');
    return this.#view.getUint8(at);
  }

  /** Reads a signed Int16. */
  i16(): number {
    const at = this.#take(2, 'Int16');
    return this.#view.getInt16(at);
  }

  /** Reads a signed Int32. */
  i32(): number {
    const at = this.#take(4, 'Int32');
    return this.#view.getInt32(at);
  }

  /** Reads an unsigned Int32 (OIDs, for example). */
  u32(): number {
    const at = this.#take(4, 'Int32');
    return this.#view.getUint32(at);
  }

  /** Reads a signed Int64 (timestamps). */
  i64(): bigint {
    const at = this.#take(8, 'Int64');
    return this.#view.getBigInt64(at);
  }

  /** Reads an unsigned Int64 (LSNs). */
  u64(): bigint {
    const at = this.#take(8, 'Int64');
    return this.#view.getBigUint64(at);
  }

  /** Returns a view of the next `n` bytes. */
  bytes(n: number): Uint8Array {
    if (!Number.isInteger(n) || n < 0) {
      throw this.error(`invalid byte count ${n}`);
    }
    const at = this.#take(n, `Byte${n}`);
    return this.#buf.subarray(at, at + n);
  }

  /** Returns a view of everything not yet read. */
  rest(): Uint8Array {
    const at = this.#offset;
    this.#offset = this.#buf.byteLength;
    return this.#buf.subarray(at);
  }

  /** Reads a NUL-terminated UTF-8 String. */
  cstring(): string {
    const start = this.#offset;
    const end = this.#buf.indexOf(0, start);
    if (end === -1) {
      throw this.error('string is not NUL-terminated');
    }
    this.#offset = end + 1;
    return utf8.decode(this.#buf.subarray(start, end));
  }

  /** Builds a ProtocolError at the current offset; parsers use it for semantic checks. */
  error(message: string, offset: number = this.#offset): ProtocolError {
    const where = this.#messageType === undefined ? '' : `${this.#messageType}: `;
    return new ProtocolError(`${where}${message} at offset ${offset}`, {
      messageType: this.#messageType,
      offset,
    });
  }

  #take(n: number, what: string): number {
    const at = this.#offset;
    if (n > this.#buf.byteLength - at) {
      throw this.error(`truncated ${what}: need ${n} bytes, ${this.#buf.byteLength - at} left`);
    }
    this.#offset = at + n;
    return at;
  }
}

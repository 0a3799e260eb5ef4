// ByteWriter: builds one frontend message (PG docs §55.7 "Message Formats"): code byte, Int32 length, body.
// The length field is reserved up front and patched by finish(), so callers never count bytes.

const INITIAL_CAPACITY = 64;

/**
 * Writes one message. Use a fresh writer per message: a finished buffer is handed to the caller
 * and never touched again.
 */
export class ByteWriter {
  #buf: Buffer;
  #length: number;
  readonly #lengthAt: number;
  #finished = false;

  /**
   * @param code the message code byte, or `null` for the untyped StartupMessage and SSLRequest
   */
  constructor(code: number | null = null) {
    this.#buf = Buffer.allocUnsafe(INITIAL_CAPACITY);
    if (code === null) {
      this.#lengthAt = 0;
    } else {
      this.#buf[0] = code;
      this.#lengthAt = 1;
    }
    this.#length = this.#lengthAt + 4;
  }

  /** Appends an Int8. */
  u8(value: number): this {
    this.#reserve(1);
    this.#length = this.#buf.writeUInt8(value, this.#length);
    return this;
  }

  /** Appends a signed Int16. */
  i16(value: number): this {
    this.#reserve(2);
    this.#length = this.#buf.writeInt16BE(value, this.#length);
    return this;
  }

  /** Appends a signed Int32. */
  i32(value: number): this {
    this.#reserve(4);
    this.#length = this.#buf.writeInt32BE(value, this.#length);
    return this;
  }

  /** Appends an unsigned Int32. */
  u32(value: number): this {
    this.#reserve(4);
    this.#length = this.#buf.writeUInt32BE(value, this.#length);
    return this;
  }

  /** Appends a signed Int64. */
  i64(value: bigint): this {
    this.#reserve(8);
    this.#length = this.#buf.writeBigInt64BE(value, this.#length);
    return this;
  }

  /** Appends an unsigned Int64 (LSNs). */
  u64(value: bigint): this {
    this.#reserve(8);
    this.#length = this.#buf.writeBigUInt64BE(value, this.#length);
    return this;
  }

  /** Appends raw bytes. */
  bytes(value: Uint8Array): this {
    this.#reserve(value.byteLength);
    this.#buf.set(value, this.#length);
    this.#length += value.byteLength;
    return this;
  }

  /** Appends a UTF-8 string followed by NUL. Callers reject embedded NULs first. */
  cstring(value: string): this {
    this.string(value);
    return this.u8(0);
  }

  /** Appends a UTF-8 string without a terminator. */
  string(value: string): this {
    this.#reserve(Buffer.byteLength(value, 'utf8'));
    this.#length += this.#buf.write(value, this.#length, 'utf8');
    return this;
  }

  /** Patches the length field and returns the message. The writer cannot be used afterwards. */
  finish(): Buffer {
    if (this.#finished) {
      throw new Error('ByteWriter.finish() called twice');
    }
    this.#finished = true;
    // The length counts itself but not the code byte.
    this.#buf.writeInt32BE(this.#length - this.#lengthAt, this.#lengthAt);
    return this.#buf.subarray(0, this.#length);
  }

  #reserve(n: number): void {
    if (this.#finished) {
      throw new Error('ByteWriter used after finish()');
    }
    const needed = this.#length + n;
    if (needed <= this.#buf.byteLength) {
      return;
    }
    let capacity = this.#buf.byteLength * 2;
    while (capacity < needed) {
      capacity *= 2;
    }
    const grown = Buffer.allocUnsafe(capacity);
    this.#buf.copy(grown, 0, 0, this.#length);
    this.#buf = grown;
  }
}

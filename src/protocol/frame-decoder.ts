// FrameDecoder: splits the backend byte stream into messages (PG docs §55.2 "Message Flow", §55.7 framing:
// Byte1 code, Int32 length counting itself). The only buffering in the codec; allocation tracks bytes received.

import { ProtocolError } from '../errors.js';

/**
 * PostgreSQL's MaxAllocSize (1 GiB − 1): no backend message can be longer, so a larger length field
 * is garbage or hostile.
 */
export const DEFAULT_MAX_FRAME_LENGTH = 0x3fffffff;

const HEADER_LENGTH = 5;

/**
 * libpq's bound for every message whose type may not be long (fe-protocol3.c, `VALID_LONG_MESSAGE_TYPE`):
 * a length field above it on any other type is sync loss or hostility, and is refused from the header,
 * before the body is buffered. The backend's own short messages (R, S, K, Z, C, G/H/W, c, 1/2/3, ...)
 * stay far below it.
 */
export const MAX_SHORT_MESSAGE_LENGTH = 30_000;

/**
 * The types that may exceed {@link MAX_SHORT_MESSAGE_LENGTH} (bounded only by maxFrameLength), as in
 * libpq: RowDescription, DataRow, CopyData, FunctionCallResponse, ErrorResponse, NoticeResponse,
 * NotificationResponse.
 */
const LONG_MESSAGE_TYPES: ReadonlySet<number> = new Set([...'TDdVENA'].map((c) => c.charCodeAt(0)));

/** One backend message: its code byte and its body (without the length field). */
export interface Frame {
  code: number;
  body: Uint8Array;
}

/** Options for {@link FrameDecoder}. */
export interface FrameDecoderOptions {
  /** Largest accepted value of the length field (which counts itself). Default {@link DEFAULT_MAX_FRAME_LENGTH}. */
  maxFrameLength?: number;
}

/**
 * Accepts chunks of any size and yields whole frames. A frame that lies inside one chunk is returned as a
 * view of that chunk; a frame spread over several chunks is joined once, into a buffer of exactly its size.
 * Memory handed out in a Frame (or as `bytes` by `advance`) is never written again.
 */
export class FrameDecoder {
  readonly #maxFrameLength: number;
  readonly #chunks: Uint8Array[] = [];
  /** Read position inside `#chunks[0]`. */
  #head = 0;
  #buffered = 0;
  /** Length field of the frame at the head once its header is in, else -1. */
  #frameLength = -1;
  #frameCode = 0;

  /**
   * The code of the frame the last successful {@link advance} reached; its body is `bytes[start, end)`.
   * Changes with the next `advance` or `next`.
   */
  code = 0;
  /** The buffer holding the current frame's body: a received chunk, or a join of several. */
  bytes: Uint8Array = new Uint8Array(0);
  /** Where the current frame's body starts in `bytes`. */
  start = 0;
  /** Where the current frame's body ends in `bytes` (exclusive). */
  end = 0;

  constructor(options: FrameDecoderOptions = {}) {
    const max = options.maxFrameLength ?? DEFAULT_MAX_FRAME_LENGTH;
    if (!Number.isInteger(max) || max < 4 || max > DEFAULT_MAX_FRAME_LENGTH) {
      throw new RangeError(
        `maxFrameLength must be an integer in [4, ${DEFAULT_MAX_FRAME_LENGTH}], got ${max}`,
      );
    }
    this.#maxFrameLength = max;
  }

  /** Bytes received but not yet returned in a frame. */
  get buffered(): number {
    return this.#buffered;
  }

  /**
   * Adds bytes from the socket. The chunk is kept by reference, so the caller must not reuse it.
   * Throws ProtocolError as soon as the next frame's header is in and its length is out of bounds.
   */
  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) {
      return;
    }
    this.#chunks.push(chunk);
    this.#buffered += chunk.byteLength;
    this.#readHeader();
  }

  /** Returns the next complete frame, or `undefined` until more bytes arrive. */
  next(): Frame | undefined {
    if (!this.advance()) return undefined;
    return { code: this.code, body: this.bytes.subarray(this.start, this.end) };
  }

  /**
   * Moves to the next complete frame and returns true, or returns false until more bytes arrive: the
   * hot path's {@link next}, which describes the frame in `code`, `bytes`, `start` and `end` instead
   * of an object and a view per message.
   */
  advance(): boolean {
    if (!this.#readHeader()) {
      return false;
    }
    const total = 1 + this.#frameLength;
    if (this.#buffered < total) {
      return false;
    }
    const bodyLength = this.#frameLength - 4;
    this.code = this.#frameCode;
    this.#frameLength = -1;
    this.#buffered -= total;

    const first = this.#chunks[0]!;
    if (first.byteLength - this.#head >= total) {
      const start = this.#head + HEADER_LENGTH;
      this.bytes = first;
      this.start = start;
      this.end = start + bodyLength;
      this.#head += total;
      if (this.#head === first.byteLength) {
        this.#chunks.shift();
        this.#head = 0;
      }
      return true;
    }
    this.bytes = this.#join(bodyLength);
    this.start = 0;
    this.end = bodyLength;
    return true;
  }

  /** Copies the frame at the head (header skipped) out of several chunks and drops what it consumed. */
  #join(bodyLength: number): Uint8Array {
    const body = new Uint8Array(bodyLength);
    let skip = HEADER_LENGTH;
    let filled = 0;
    let used = 0;
    let head = this.#head;
    while (filled < bodyLength || skip > 0) {
      const chunk = this.#chunks[used]!;
      let available = chunk.byteLength - head;
      if (skip > 0) {
        const skipped = Math.min(skip, available);
        skip -= skipped;
        head += skipped;
        available -= skipped;
      }
      const take = Math.min(available, bodyLength - filled);
      body.set(chunk.subarray(head, head + take), filled);
      filled += take;
      head += take;
      if (head === chunk.byteLength) {
        used++;
        head = 0;
      }
    }
    // One splice for the whole frame keeps byte-sized chunking linear.
    this.#chunks.splice(0, used);
    this.#head = head;
    return body;
  }

  /** Decodes and checks the header of the frame at the head; false while fewer than 5 bytes are in. */
  #readHeader(): boolean {
    if (this.#frameLength !== -1) {
      return true;
    }
    if (this.#buffered < HEADER_LENGTH) {
      return false;
    }
    let code = 0;
    let length = 0;
    let index = 0;
    let at = this.#head;
    for (let i = 0; i < HEADER_LENGTH; i++) {
      let chunk = this.#chunks[index]!;
      if (at === chunk.byteLength) {
        index++;
        at = 0;
        chunk = this.#chunks[index]!;
      }
      const byte = chunk[at++]!;
      if (i === 0) {
        code = byte;
      } else {
        length = length * 256 + byte;
      }
    }
    if (length < 4 || length > this.#maxFrameLength) {
      const name = String.fromCharCode(code);
      throw new ProtocolError(
        length < 4
          ? `message '${name}' has an invalid length ${length} (less than 4)`
          : `message '${name}' declares ${length} bytes, more than the limit of ${this.#maxFrameLength}`,
        { messageType: name, offset: 1 },
      );
    }
    if (length > MAX_SHORT_MESSAGE_LENGTH && !LONG_MESSAGE_TYPES.has(code)) {
      const name = String.fromCharCode(code);
      throw new ProtocolError(
        `message '${name}' declares ${length} bytes, more than the limit of ${MAX_SHORT_MESSAGE_LENGTH} for its type (only T, D, d, V, E, N and A may be longer, as in libpq)`,
        { messageType: name, offset: 1 },
      );
    }
    this.#frameCode = code;
    this.#frameLength = length;
    return true;
  }
}

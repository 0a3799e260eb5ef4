// Reads straight into memory the connection owns, through node:net's `onread` option, instead of a
// stream chunk per read. A stream chunk costs a Buffer, a push through the Readable, a nextTick and a
// 'data' event; Node's TLS layer hands JavaScript each TLS record as its own read, and a walsender that
// keeps up with its writes sends each change as its own record, so over TLS that was per change
// (docs/benchmarks.md, "Reads into a slab"). With `onread` one callback per read remains, and Node's
// `socket.pause()` stops the handle itself.
//
// Memory handed out is never written again, because FrameDecoder keeps chunks by reference: each read
// lands in the free part of a slab, after the reads before it, and a slab is dropped (left to the
// garbage collector with whatever still refers to it), never reused.
import type { OnReadOpts } from 'node:net';

/** A new slab's size: a few hundred reads of small TLS records, or four full TCP reads. */
export const SLAB_BYTES = 256 * 1024;

/**
 * The least room a read is offered: a whole TLS record (16 KiB) or a large TCP read. A slab with less
 * left is replaced.
 */
export const MIN_READ_BYTES = 64 * 1024;

/**
 * The reads of one socket: pass {@link onread} when creating it, then {@link deliverTo} the code that
 * reads the stream. Reads that arrive before there is a reader are kept for it, in order.
 */
export class SlabReads {
  #slab: Uint8Array = new Uint8Array(0);
  #used = 0;
  #reader: ((chunk: Uint8Array) => void) | null = null;
  #early: Uint8Array[] = [];

  /** net's (and node:tls's) `onread` option for the socket. */
  readonly onread: OnReadOpts = {
    buffer: () => this.#room(),
    callback: (bytesRead, buffer) => this.#received(bytesRead, buffer),
  };

  /** Hands every read to `reader` from now on, those that arrived before it first. */
  deliverTo(reader: (chunk: Uint8Array) => void): void {
    this.#reader = reader;
    const early = this.#early;
    this.#early = [];
    for (const chunk of early) reader(chunk);
  }

  /** The free part of the slab for the next read (a new slab when too little is left). */
  #room(): Uint8Array {
    if (this.#slab.byteLength - this.#used < MIN_READ_BYTES) {
      this.#slab = new Uint8Array(SLAB_BYTES);
      this.#used = 0;
    }
    return this.#slab.subarray(this.#used);
  }

  /** `buffer` is the room handed out last: the read filled its first `bytesRead` bytes. */
  #received(bytesRead: number, buffer: Uint8Array): boolean {
    const chunk = buffer.subarray(0, bytesRead);
    this.#used += bytesRead;
    if (this.#reader !== null) this.#reader(chunk);
    else this.#early.push(chunk);
    // Never pause from here: paced reads (paced-reads.ts) decide that.
    return true;
  }
}

// Slab reads (slab-reads.ts) for a TLS socket that wraps an existing one: TLS after an SSLRequest, the
// only TLS PostgreSQL 15 and 16 speak, and the default on 17+. Node takes the `onread` option only when
// it creates the socket itself, and tls.connect({ socket }) drops it, so such a socket is read as a
// stream: a Buffer, a push, a nextTick and a 'data' event per TLS record, and a walsender that keeps up
// sends each change as its own record. Direct TLS, which Node does let read through `onread`, cost the
// client 17 % less CPU on the 1M-row drain (docs/benchmarks.md, "Reads into a slab").
//
// What `onread` sets up is reachable after the fact: net.Socket keeps the option under three symbols
// that Node's stream code reads on every read, and the TLS handle takes a user buffer like any stream
// handle. Both are Node's internals (the same on Node 20, 22, 24 and 26, the lines the tests run on), so
// this is the one place that touches them, and anything unexpected leaves the socket read as a stream,
// as Node's public API does.
import { type OnReadOpts, Socket, type SocketConstructorOpts } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { SlabReads } from './slab-reads.js';

/** The symbols under which net.Socket keeps its `onread` option. */
export interface OnreadSlots {
  /** The memory the next read lands in. */
  readonly buffer: symbol;
  /** Called with each read's length and its memory. */
  readonly callback: symbol;
  /** Hands out the memory for the read after. */
  readonly generator: symbol;
}

let found: OnreadSlots | null | undefined;

/** This Node's onread symbols, read once from a socket made with `onread` (never connected), or null. */
export function onreadSlots(): OnreadSlots | null {
  if (found !== undefined) return found;
  // Node's constructor takes `onread` too, though its types list it only among the connect options.
  const onread: OnReadOpts = { buffer: () => new Uint8Array(1), callback: () => true };
  const probe = new Socket({ onread } as SocketConstructorOpts);
  const named = new Map(Object.getOwnPropertySymbols(probe).map((symbol) => [symbol.description, symbol]));
  probe.destroy();
  const buffer = named.get('kBuffer');
  const callback = named.get('kBufferCb');
  const generator = named.get('kBufferGen');
  found = buffer && callback && generator ? { buffer, callback, generator } : null;
  return found;
}

/**
 * Makes `socket`, just after its handshake, read into a slab: returns the SlabReads its reads now come
 * from (the socket emits no 'data' from then on), or null when it must be read as a stream: `slots` is
 * null (this Node keeps `onread` some other way), its handle takes no user buffer, or the stream already
 * holds bytes, which would then arrive out of order.
 */
export function slabReadsForWrappedTls(
  socket: TLSSocket,
  slots: OnreadSlots | null = onreadSlots(),
): SlabReads | null {
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: unknown } | null })._handle;
  if (
    slots === null ||
    socket.destroyed ||
    socket.readableLength > 0 ||
    typeof handle !== 'object' ||
    handle === null ||
    typeof handle.useUserBuffer !== 'function'
  )
    return null;
  const reads = new SlabReads();
  const { buffer, callback } = reads.onread as {
    buffer: () => Uint8Array;
    callback: (bytesRead: number, buffer: Uint8Array) => boolean;
  };
  const first = buffer();
  Object.assign(socket, { [slots.generator]: buffer, [slots.callback]: callback, [slots.buffer]: first });
  (handle.useUserBuffer as (memory: Uint8Array) => void).call(handle, first);
  return reads;
}

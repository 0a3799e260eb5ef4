// Stopping a socket's reads for a moment, for paced reading (paced-reads.ts, read-pacer.ts).
// `socket.pause()` works everywhere, but a paused net.Socket goes on reading into its stream buffer (up
// to its highWaterMark), so it still wakes for most arrivals; stopping the handle's reads leaves the
// bytes in the kernel, where they coalesce. On the drain that cut the paced client's CPU by a further
// 30 % (TLS) to 56 % (TCP) and its reads by 12–15× (docs/benchmarks.md, "Paced reads"). Node's own
// pause() stops the handle the same way, but only for sockets with an `onread` buffer. The handle is
// Node's internal, so this is the one place that touches it, and anything unexpected falls back.
import type { Socket } from 'node:net';

/** The part of a libuv stream handle (TCPWrap, TLSWrap) that reading goes through. */
export interface ReadHandle {
  /** Node's own record of whether the handle reads; net.Socket checks it before starting reads. */
  reading: boolean;
  readStop(): number;
  readStart(): number;
}

/** `socket`'s stream handle when it has the reading interface this module relies on, else null. */
export function readHandle(socket: Socket): ReadHandle | null {
  const handle = (socket as unknown as { _handle?: unknown })._handle as Partial<ReadHandle> | null;
  if (
    typeof handle !== 'object' ||
    handle === null ||
    handle.reading !== true ||
    typeof handle.readStop !== 'function' ||
    typeof handle.readStart !== 'function'
  )
    return null;
  return handle as ReadHandle;
}

/**
 * Stops reading from `socket` and returns the function that starts again (harmless once the socket is
 * gone or already reading). Through `handle` when given (see {@link readHandle}), else `socket.pause()`.
 */
export function stopReading(socket: Socket, handle: ReadHandle | null = readHandle(socket)): () => void {
  if (handle !== null) {
    handle.reading = false;
    if (handle.readStop() === 0) {
      return () => {
        // Node may have started reading again itself (a stream read()), and a destroyed socket has no handle.
        if (socket.destroyed || handle.reading) return;
        handle.reading = true;
        const status = handle.readStart();
        if (status !== 0) socket.destroy(new Error(`restarting reads failed (libuv status ${status})`));
      };
    }
    handle.reading = true;
  }
  socket.pause();
  return () => {
    if (!socket.destroyed) socket.resume();
  };
}

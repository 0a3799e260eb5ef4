// Throughput of FrameDecoder (and the replication message parse on top, as objects or in place) over CopyData frames wrapping XLogData,
// split into seeded random chunk sizes like socket reads. Prints MB/s; asserts nothing.

import { parseBackendMessage } from '../src/protocol/backend.js';
import { FrameDecoder } from '../src/protocol/frame-decoder.js';
import { parseReplicationMessage, ReplicationCode, XLogDataView } from '../src/protocol/replication.js';

/** mulberry32: a tiny seeded PRNG, so every run splits the stream the same way. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function copyDataFrame(payloadLength: number, lsn: bigint): Buffer {
  const body = Buffer.alloc(1 + 24 + payloadLength, 0x61);
  body[0] = 0x77;
  body.writeBigUInt64BE(lsn, 1);
  body.writeBigUInt64BE(lsn + BigInt(payloadLength), 9);
  body.writeBigInt64BE(800_000_000_000_000n, 17);
  const frame = Buffer.alloc(5 + body.byteLength);
  frame[0] = 0x64;
  frame.writeInt32BE(4 + body.byteLength, 1);
  body.copy(frame, 5);
  return frame;
}

/** About `totalBytes` of frames, cut into chunks of 1..maxChunk bytes (copied, as sockets hand out fresh buffers). */
function makeChunks(frameSize: number, totalBytes: number, maxChunk: number, seed: number): Buffer[] {
  const frames: Buffer[] = [];
  let lsn = 0x16_0000_0000n;
  for (let size = 0; size < totalBytes; ) {
    const f = copyDataFrame(frameSize - 30, lsn);
    frames.push(f);
    size += f.byteLength;
    lsn += BigInt(f.byteLength);
  }
  const stream = Buffer.concat(frames);
  const random = prng(seed);
  const chunks: Buffer[] = [];
  for (let at = 0; at < stream.byteLength; ) {
    const n = 1 + Math.floor(random() * maxChunk);
    chunks.push(Buffer.from(stream.subarray(at, at + n)));
    at += n;
  }
  return chunks;
}

/** 'frames': next() only; 'parse': next() and the message objects; 'in place': what the connection does. */
type Mode = 'frames' | 'parse' | 'in place';

function run(chunks: Buffer[], mode: Mode): { frames: number; checksum: number } {
  if (mode === 'in place') return runInPlace(chunks);
  const parse = mode === 'parse';
  const decoder = new FrameDecoder();
  let frames = 0;
  let checksum = 0;
  for (const chunk of chunks) {
    decoder.push(chunk);
    for (let f = decoder.next(); f !== undefined; f = decoder.next()) {
      frames++;
      if (parse) {
        const copy = parseBackendMessage(f.code, f.body);
        if (copy.type === 'CopyData') {
          const m = parseReplicationMessage(copy.data);
          checksum += m.type === 'XLogData' ? m.data.byteLength : 0;
        }
      } else {
        checksum += f.body.byteLength;
      }
    }
  }
  return { frames, checksum };
}

/** The connection's replication path: advance() and one XLogDataView, no object per message. */
function runInPlace(chunks: Buffer[]): { frames: number; checksum: number } {
  const decoder = new FrameDecoder();
  const view = new XLogDataView();
  let frames = 0;
  let checksum = 0;
  for (const chunk of chunks) {
    decoder.push(chunk);
    while (decoder.advance()) {
      frames++;
      if (decoder.code === 0x64 && decoder.bytes[decoder.start] === ReplicationCode.XLogData) {
        view.read(decoder.bytes, decoder.start, decoder.end);
        checksum += view.dataEnd - view.dataStart + (view.walEndLow & 1);
      }
    }
  }
  return { frames, checksum };
}

function measure(label: string, chunks: Buffer[], mode: Mode): void {
  const bytes = chunks.reduce((sum, c) => sum + c.byteLength, 0);
  run(chunks, mode); // warm-up
  const rounds = 5;
  let best = Number.POSITIVE_INFINITY;
  let frames = 0;
  for (let i = 0; i < rounds; i++) {
    const started = process.hrtime.bigint();
    frames = run(chunks, mode).frames;
    best = Math.min(best, Number(process.hrtime.bigint() - started) / 1e9);
  }
  const mbps = bytes / 1e6 / best;
  const fps = frames / best;
  console.log(
    `${label.padEnd(64)} ${mbps.toFixed(0).padStart(6)} MB/s ${(fps / 1e6).toFixed(2).padStart(6)} M frames/s (${chunks.length} chunks)`,
  );
}

const SEED = 20_250_101;
const TOTAL = 64 * 1024 * 1024;
console.log(
  `FrameDecoder benchmark: ${TOTAL / 2 ** 20} MiB per case, seed ${SEED}, best of 5, node ${process.version}`,
);
for (const frameSize of [200, 8 * 1024]) {
  for (const maxChunk of [1024, 64 * 1024]) {
    const chunks = makeChunks(frameSize, TOTAL, maxChunk, SEED);
    const name = `${frameSize === 200 ? '200 B' : '8 KiB'} frames, chunks 1..${maxChunk / 1024} KiB`;
    measure(`${name}: decode`, chunks, 'frames');
    measure(`${name}: decode + parseReplicationMessage`, chunks, 'parse');
    measure(`${name}: advance + XLogDataView (in place)`, chunks, 'in place');
  }
}

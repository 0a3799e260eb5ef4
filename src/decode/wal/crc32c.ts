// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum PostgreSQL puts in every WAL record
// header (pg_crc32c). Slicing-by-8: eight 256-entry tables, eight input bytes per step.

const POLY = 0x82f63b78;

const TABLES: Uint32Array = (() => {
  const t = new Uint32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n]!;
    for (let k = 1; k < 8; k++) {
      c = t[c & 0xff]! ^ (c >>> 8);
      t[k * 256 + n] = c >>> 0;
    }
  }
  return t;
})();

/** The register before the first byte (INIT_CRC32C). */
export const CRC32C_INIT = 0xffffffff;

/** Folds `bytes[start, end)` into a running register; finish with {@link crc32cFinish}. */
export function crc32cUpdate(crc: number, bytes: Uint8Array, start: number, end: number): number {
  const t = TABLES;
  let c = crc >>> 0;
  let i = start;
  const stop8 = end - 8;
  while (i <= stop8) {
    const a = c ^ (bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
    c =
      t[1792 + (a & 0xff)]! ^
      t[1536 + ((a >>> 8) & 0xff)]! ^
      t[1280 + ((a >>> 16) & 0xff)]! ^
      t[1024 + (a >>> 24)]! ^
      t[768 + bytes[i + 4]!]! ^
      t[512 + bytes[i + 5]!]! ^
      t[256 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!;
    i += 8;
  }
  while (i < end) {
    c = t[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
    i++;
  }
  return c >>> 0;
}

/** The checksum of a finished register (FIN_CRC32C), as an unsigned 32-bit number. */
export function crc32cFinish(crc: number): number {
  return (crc ^ 0xffffffff) >>> 0;
}

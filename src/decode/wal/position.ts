// WAL positions inside the reader are two unsigned 32-bit halves (hi, lo): exact for every LSN, and no
// bigint arithmetic on the per-record path. Positions become bigint only where they leave the reader.

/** `hi`/`lo` halves as a bigint LSN. */
export function toLsn(hi: number, lo: number): bigint {
  return (BigInt(hi) << 32n) | BigInt(lo);
}

/** An LSN as PostgreSQL prints it (`16/B374D848`). */
export function formatWalPosition(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffff_ffffn).toString(16).toUpperCase()}`;
}

// Transaction id order with wraparound (TransactionIdPrecedes, transam.c): normal xids (>= 3) compare in
// the modulo-2^32 circle, the special ones (0 invalid, 1 bootstrap, 2 frozen) as plain numbers.

const FIRST_NORMAL_XID = 3;

/** Whether xid `a` is older than xid `b`. */
export function xidPrecedes(a: number, b: number): boolean {
  if (a < FIRST_NORMAL_XID || b < FIRST_NORMAL_XID) return a < b;
  return ((a - b) | 0) < 0;
}

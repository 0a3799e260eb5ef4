// Splitting a batch's events into NOTIFY payloads (wire.ts): a NOTIFY payload has a byte limit, so a
// batch goes as consecutive parts, each a JSON array of events.

/** The UTF-8 byte length of `text`, counted without encoding a copy. */
export function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * `texts` (each one event's JSON) in parts whose comma-joined length stays within `budget` bytes, in
 * order, never split inside an event: always at least one part (an empty batch is one empty part).
 * Null when one event alone exceeds the budget.
 */
export function packParts(texts: Iterable<string>, budget: number): string[][] | null {
  const parts: string[][] = [];
  let part: string[] = [];
  let used = 0;
  for (const text of texts) {
    const size = utf8Length(text);
    if (size > budget) return null;
    // A comma separates this event from the previous one in the same part.
    if (part.length > 0 && used + 1 + size > budget) {
      parts.push(part);
      part = [];
      used = 0;
    }
    used += (part.length > 0 ? 1 : 0) + size;
    part.push(text);
  }
  if (part.length > 0 || parts.length === 0) parts.push(part);
  return parts;
}

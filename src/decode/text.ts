// Strict UTF-8 decoding of byte ranges for the plugin decoders, and a tiny cache from raw identifier
// bytes to the strings already decoded from them, so a million-row transaction decodes its table once.

// fatal: invalid UTF-8 must become a DecodeError, never U+FFFD. ignoreBOM: a name may begin with U+FEFF.
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes `data[start, end)` as UTF-8, or returns `undefined` when the bytes are not valid UTF-8.
 * Short ASCII ranges (every ordinary identifier) skip TextDecoder, whose per-call cost dominates there.
 */
export function decodeUtf8(data: Uint8Array, start: number, end: number): string | undefined {
  if (end - start <= 64) {
    let ascii = true;
    for (let i = start; i < end; i++) {
      if (data[i]! >= 0x80) {
        ascii = false;
        break;
      }
    }
    if (ascii) return String.fromCharCode.apply(null, data.subarray(start, end) as unknown as number[]);
  }
  try {
    return utf8.decode(data.subarray(start, end));
  } catch {
    return undefined;
  }
}

/** One cached pair: the raw bytes (a private copy) and what they decoded to. */
export interface CacheEntry<T> {
  readonly bytes: Uint8Array;
  readonly value: T;
}

/**
 * A few most-recent (raw bytes → decoded value) pairs. Looked up by exact byte range, or by prefix at a
 * position with a required byte after it (for formats where only parsing finds the end). Small and
 * linear on purpose: transactions touch a handful of tables, and a byte compare beats any hashing.
 */
export class BytesCache<T> {
  readonly #entries: (CacheEntry<T> | undefined)[];
  #next = 0;

  /** `capacity` entries, replaced round-robin. */
  constructor(capacity = 8) {
    this.#entries = new Array<CacheEntry<T> | undefined>(capacity).fill(undefined);
  }

  /** The value cached for exactly `data[start, end)`, if any. */
  get(data: Uint8Array, start: number, end: number): T | undefined {
    const length = end - start;
    const entries = this.#entries;
    for (let k = 0; k < entries.length; k++) {
      const entry = entries[k];
      if (entry !== undefined && entry.bytes.length === length && equalAt(entry.bytes, data, start)) {
        return entry.value;
      }
    }
    return undefined;
  }

  /**
   * The entry whose bytes appear at `data[start]` and are followed by the byte `terminator` (or
   * `otherTerminator`), if any. Sound only for a grammar whose parse of a cached text depends on
   * nothing past that terminator.
   */
  match(
    data: Uint8Array,
    start: number,
    terminator: number,
    otherTerminator = terminator,
  ): CacheEntry<T> | undefined {
    const entries = this.#entries;
    for (let k = 0; k < entries.length; k++) {
      const entry = entries[k];
      if (entry === undefined) continue;
      const end = start + entry.bytes.length;
      const next = data[end];
      if ((next === terminator || next === otherTerminator) && equalAt(entry.bytes, data, start))
        return entry;
    }
    return undefined;
  }

  /** Remembers `value` for a copy of `data[start, end)`, evicting the oldest entry. */
  set(data: Uint8Array, start: number, end: number, value: T): void {
    this.#entries[this.#next] = { bytes: data.slice(start, end), value };
    this.#next = (this.#next + 1) % this.#entries.length;
  }
}

function equalAt(bytes: Uint8Array, data: Uint8Array, start: number): boolean {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== data[start + i]) return false;
  }
  return true;
}

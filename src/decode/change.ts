// The contract between an output-plugin decoder and the feed: one row change becomes one sink call.
// Decoders are pure: bytes in, (schema, table, op) out; no allocation per call beyond what is unavoidable.

/** What happened to a row (or, for `truncate`, to a whole table). */
export type ChangeOp = 'insert' | 'update' | 'delete' | 'truncate';

/**
 * How reading a key from one row image went: `read` (every value filled in), `absent` (the change carries
 * no such image: an INSERT has no old row, an UPDATE that kept its key carries no old key, a DELETE has
 * no new row), or `unreadable` (the image is there but a key column is missing from it, null, an
 * unchanged TOAST value, or a value the plugin could not print).
 */
export type KeyRead = 'read' | 'absent' | 'unreadable';

/**
 * The row images of one change, read on demand: only the key columns' values are ever decoded, and only
 * when asked (contract R22, R23). Valid only while the sink runs; the decoder reuses the object.
 */
export interface RowImages {
  /**
   * Writes the values of `columns` (key column names, in key order), as PostgreSQL's output functions
   * print them, into `out[0..columns.length)`, from the row after the change (`new`: INSERT, UPDATE) or
   * the key before it (`old`: DELETE, and an UPDATE that changed the key or logs the whole old row).
   */
  readKey(image: 'new' | 'old', columns: readonly string[], out: string[]): KeyRead;
}

/**
 * Receives each decoded change. `schema` and `table` are the catalog names, unquoted and unescaped.
 * Decoders hand out the same string objects for repeated relations, so a sink may cache by identity.
 * `rows` reads key values from the change's row images (none for TRUNCATE or a change a plugin did not
 * write, such as wal2json's warning for a table without a replica identity).
 */
export type ChangeSink = (schema: string, table: string, op: ChangeOp, rows?: RowImages) => void;

/** The output plugins pgnudge can decode without a publication, in the order plugin `auto` tries them (contract R15). */
export const PLUGIN_NAMES = ['wal2json', 'test_decoding'] as const;

/** A plugin `auto` may pick: `wal2json` or `test_decoding`. */
export type AutoPluginName = (typeof PLUGIN_NAMES)[number];

/**
 * An output plugin pgnudge can decode: `wal2json`, `test_decoding`, or `pgoutput`, which needs a
 * publication (contract R25) and so is never what `auto` picks without one.
 */
export type PluginName = AutoPluginName | 'pgoutput';

/**
 * Which output plugin decodes the stream. `auto` tries wal2json, then test_decoding (contract R15); with a
 * publication it means pgoutput.
 */
export type PluginChoice = 'auto' | PluginName;

/** Every {@link PluginChoice}, `auto` first. */
export const PLUGIN_CHOICES: readonly PluginChoice[] = ['auto', ...PLUGIN_NAMES, 'pgoutput'];

/**
 * Decodes one output plugin's messages. `decode` takes the payload of one XLogData message and calls
 * `sink` once per change it names (zero times for BEGIN, COMMIT and logical messages, several times for
 * a multi-table TRUNCATE). Malformed input throws `DecodeError` and calls `sink` for nothing.
 */
export interface Decoder {
  readonly plugin: AutoPluginName;
  decode(data: Uint8Array, sink: ChangeSink): void;
  /**
   * Reads a server notice sent inside the stream (its message text) and calls `sink` for each change
   * it stands for; a notice that stands for none calls nothing. For plugins that skip a change with a
   * WARNING instead of writing it.
   */
  notice?(message: string, sink: ChangeSink): void;
}

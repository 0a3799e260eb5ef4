// The `tables` option (contract R13, R14): parsing `schema.table` entries with SQL identifier rules,
// matching relations by their real identity, and escaping them for wal2json's add-tables.

import { ConfigError } from '../errors.js';

/** A relation's identity: schema and table names exactly as in the catalog (unquoted). */
export interface TableName {
  readonly schema: string;
  readonly table: string;
}

// PostgreSQL truncates longer names (NAMEDATALEN - 1), so a longer entry could never match.
const MAX_IDENTIFIER_BYTES = 63;
const encoder = new TextEncoder();

/**
 * Parses one `tables` entry, `schema.table`, each part an SQL identifier: double-quoted parts are
 * taken literally (`""` stands for `"`), bare parts fold ASCII letters to lower case as PostgreSQL
 * does (`Public.Orders` is `public.orders`; `public."Order"` keeps its capital). Bare parts start with
 * a letter, `_` or a non-ASCII non-space character and continue with those, digits or `$`. No whitespace is
 * allowed outside quotes. Anything else throws ConfigError (option `tables`) naming the entry and rule.
 */
export function parseTableName(text: string): TableName {
  const [schema, dot] = parseIdentifier(text, 0);
  if (dot >= text.length) invalid(text, 'it needs a schema: write schema.table (for example public.orders)');
  if (text[dot] !== '.') invalid(text, `unexpected ${JSON.stringify(text[dot])} after the schema name`);
  const [table, end] = parseIdentifier(text, dot + 1);
  if (end < text.length) {
    invalid(
      text,
      text[end] === '.'
        ? 'it has more than two parts; quote a name that contains a dot ("a.b")'
        : `unexpected ${JSON.stringify(text[end])} after the table name`,
    );
  }
  return { schema, table };
}

/** The v1 wakeup payload for a relation: `schema.table`, both unquoted (contract R13). */
export function formatPayload(name: TableName): string {
  return `${name.schema}.${name.table}`;
}

/**
 * Matches relations against a set of table names by identity, never by payload text:
 * `"a.b"."c"` and `"a"."b.c"` share the payload `a.b.c` but are different tables (contract R14).
 */
export class TableFilter {
  readonly #tables = new Map<string, Set<string>>();

  /** A filter accepting exactly `tables`. */
  constructor(tables: Iterable<TableName>) {
    for (const { schema, table } of tables) {
      let names = this.#tables.get(schema);
      if (names === undefined) {
        names = new Set();
        this.#tables.set(schema, names);
      }
      names.add(table);
    }
  }

  /** Whether the relation `schema`.`table` is one of the filter's tables. */
  matches(schema: string, table: string): boolean {
    return this.#tables.get(schema)?.has(table) === true;
  }
}

/**
 * The value of wal2json's `add-tables` option for `tables`: entries joined by `,`, schema and table
 * joined by `.`. wal2json splits on `,` and whitespace, then on `.`, treats a bare `*` as a wildcard,
 * and drops a backslash before any character; so exactly those characters are backslash-escaped.
 * The result still needs SQL literal quoting in the replication command.
 */
export function formatWal2jsonAddTables(tables: readonly TableName[]): string {
  return tables.map((t) => `${escapeAddTables(t.schema)}.${escapeAddTables(t.table)}`).join(',');
}

// Whitespace is C isspace() in the server: space, \t, \n, \v, \f, \r.
function escapeAddTables(name: string): string {
  return name.replace(/[\\,.* \t\n\v\f\r]/g, '\\$&');
}

function parseIdentifier(text: string, start: number): [string, number] {
  if (text[start] === '"') {
    let name = '';
    let i = start + 1;
    for (;;) {
      const close = text.indexOf('"', i);
      if (close === -1) invalid(text, 'a quoted name is missing its closing "');
      name += text.slice(i, close);
      if (text[close + 1] !== '"') {
        i = close + 1;
        break;
      }
      name += '"';
      i = close + 2;
    }
    checkName(text, name);
    return [name, i];
  }
  let i = start;
  while (i < text.length && isBareChar(text.charCodeAt(i), i === start)) i++;
  if (i === start) {
    if (start >= text.length || text[start] === '.') {
      invalid(text, start === 0 ? 'the schema name is empty' : 'the table name is empty');
    }
    invalid(
      text,
      `${JSON.stringify(text[start])} cannot start or appear in an unquoted name; double-quote the name`,
    );
  }
  // Like PostgreSQL's downcase_identifier: only ASCII letters fold.
  const name = text.slice(start, i).replace(/[A-Z]+/g, (s) => s.toLowerCase());
  checkName(text, name);
  return [name, i];
}

function isBareChar(code: number, first: boolean): boolean {
  if ((code >= 0x61 && code <= 0x7a) || (code >= 0x41 && code <= 0x5a) || code === 0x5f) return true;
  // PostgreSQL's scanner takes every non-ASCII character as a name character; Unicode spaces are
  // refused here because a pasted no-break space would otherwise make a filter silently match nothing.
  if (code >= 0x80) return !/\s/u.test(String.fromCharCode(code));
  return !first && ((code >= 0x30 && code <= 0x39) || code === 0x24);
}

function checkName(text: string, name: string): void {
  if (name.length === 0) invalid(text, 'a quoted name is empty ("")');
  if (name.includes('\0')) invalid(text, 'names cannot contain NUL');
  if (/\p{Cs}/u.test(name)) invalid(text, 'names must be valid Unicode (a lone surrogate was found)');
  if (encoder.encode(name).length > MAX_IDENTIFIER_BYTES) {
    invalid(text, `a name is longer than PostgreSQL's ${MAX_IDENTIFIER_BYTES}-byte limit`);
  }
}

function invalid(text: string, rule: string): never {
  throw new ConfigError(`invalid table ${JSON.stringify(text)}: ${rule}`, 'tables');
}

// A row key as a payload writes it (contract R22): the key's values the way PostgreSQL's record output
// writes a row's fields, `ROW(k1, k2)::text` without the parentheses, so `public.orders:42` and
// `public.lines:7,"gift wrap"` read as SQL users expect. Pure.
//
// record_out (src/backend/utils/adt/rowtypes.c) double-quotes a field that is empty or holds `"` `\`
// `(` `)` `,` or a byte for which the C library's isspace() is true, and doubles `"` and `\` inside the
// quotes. isspace() follows the database's LC_CTYPE; in the C locale and in every UTF-8 locale it is true
// for exactly the six ASCII white-space characters below (a byte of a multibyte UTF-8 character is never
// white space there), which is what PostgreSQL prints for the key text pgnudge decodes.
//
// A key never holds NULL (key columns are NOT NULL), so an unquoted empty field, which is how record_out
// writes NULL, is never produced and never accepted.
import { KeyFormatError } from '../errors.js';

/** The characters that make record_out quote a value: `"` `\` `(` `)` `,` and isspace(). */
const NEEDS_QUOTES = /["\\(),\t\n\v\f\r ]/;
const DOUBLED = /["\\]/g;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

/**
 * The payload text of a row key: each value as is, or in double quotes with `"` and `\` doubled when it
 * is empty or holds `"` `\` `(` `)` `,` or white space; values joined by `,`.
 * `formatKey(['42'])` is `42`; `formatKey(['7', 'gift wrap'])` is `7,"gift wrap"`.
 * Throws RangeError for an empty array: a key has at least one column.
 */
export function formatKey(values: readonly string[]): string {
  if (values.length === 0) throw new RangeError('a row key has at least one value');
  // One column is the common case (a serial or uuid primary key): no array, no join.
  if (values.length === 1) return formatValue(values[0] as string);
  let text = formatValue(values[0] as string);
  for (let i = 1; i < values.length; i++) text += `,${formatValue(values[i] as string)}`;
  return text;
}

function formatValue(value: string): string {
  if (value !== '' && !needsQuotes(value)) return value;
  return `"${value.replace(DOUBLED, '$&$&')}"`;
}

/** NEEDS_QUOTES.test(value), by char codes: called for every key a batch keeps, where the RegExp showed. */
function needsQuotes(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    // `"` `\` `(` `)` `,` and space, then \t \n \v \f \r (9 to 13).
    if (code === 0x22 || code === 0x5c || code === 0x28 || code === 0x29 || code === 0x2c || code === 0x20)
      return true;
    if (code >= 0x09 && code <= 0x0d) return true;
  }
  return false;
}

/**
 * The values of a key that {@link formatKey} wrote: `parseKey('7,"gift wrap"')` is `['7', 'gift wrap']`.
 * Strict: it accepts exactly what formatKey writes, so every key has one text and every text one key.
 * Anything else (an empty or needlessly quoted value, a lone `"` or `\`, an unterminated quote, text
 * after a closing quote) throws a {@link KeyFormatError} naming the offset and the rule.
 */
export function parseKey(text: string): string[] {
  if (typeof text !== 'string') {
    throw new KeyFormatError(`a row key is text; got ${typeof text}`, text, 0);
  }
  const values: string[] = [];
  let at = 0;
  for (;;) {
    let value: string;
    if (text.charCodeAt(at) === QUOTE) {
      const start = at;
      value = '';
      let from = at + 1;
      at = from;
      for (;;) {
        if (at >= text.length) throw new KeyFormatError('a quoted value has no closing "', text, start);
        const code = text.charCodeAt(at);
        if (code !== QUOTE && code !== BACKSLASH) {
          at++;
          continue;
        }
        value += text.slice(from, at);
        if (text.charCodeAt(at + 1) === code) {
          // `""` or `\\`: one character of the value.
          value += text[at];
          at += 2;
          from = at;
          continue;
        }
        if (code === BACKSLASH) throw new KeyFormatError('a \\ inside quotes must be doubled', text, at);
        at++; // the closing quote
        break;
      }
      if (value !== '' && !NEEDS_QUOTES.test(value)) {
        throw new KeyFormatError(
          `the value ${JSON.stringify(value)} needs no quotes; it is written without them`,
          text,
          start,
        );
      }
    } else {
      let end = text.indexOf(',', at);
      if (end === -1) end = text.length;
      value = text.slice(at, end);
      if (value === '') {
        throw new KeyFormatError('a value is missing (an empty value is written "")', text, at);
      }
      const bad = value.search(NEEDS_QUOTES);
      if (bad !== -1) {
        throw new KeyFormatError(
          `${JSON.stringify(value[bad])} may appear only inside a double-quoted value`,
          text,
          at + bad,
        );
      }
      at = end;
    }
    values.push(value);
    if (at === text.length) return values;
    if (text.charCodeAt(at) !== COMMA) {
      throw new KeyFormatError('a quoted value must be followed by , or the end', text, at);
    }
    at++;
  }
}

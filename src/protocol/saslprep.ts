// SASLprep (RFC 4013) of a SCRAM password, applied exactly where PostgreSQL's pg_saslprep applies it
// (src/common/saslprep.c): pure ASCII passes untouched; mapping uses RFC 3454 tables C.1.2 (non-ASCII space →
// U+0020) and B.1 (mapped to nothing); normalization is NFKC (String.prototype.normalize); prohibited output is
// tables C.1.2, C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8, C.9 in full, plus A.1 (unassigned); the bidi rule is
// RFC 3454 §6 with table D.1 (RandALCat) in full. Two tables are approximated, documented here rather than copied:
// A.1 is "\p{Cn} in the runtime's Unicode version", so characters assigned after Unicode 3.2 count as assigned
// (PostgreSQL would keep such a password raw); D.2 (LCat) is "a letter or spacing mark (\p{L}, \p{Mc}) outside
// D.1 and outside right-to-left scripts". As in PostgreSQL, any failure means the password is used as given.

type Range = readonly [number, number];

const NON_ASCII_SPACE: readonly Range[] = [
  [0x00a0, 0x00a0],
  [0x1680, 0x1680],
  [0x2000, 0x200b],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
];

const MAPPED_TO_NOTHING: readonly Range[] = [
  [0x00ad, 0x00ad],
  [0x034f, 0x034f],
  [0x1806, 0x1806],
  [0x180b, 0x180d],
  [0x200b, 0x200d],
  [0x2060, 0x2060],
  [0xfe00, 0xfe0f],
  [0xfeff, 0xfeff],
];

const PROHIBITED: readonly Range[] = [
  // C.2.1 ASCII control
  [0x0000, 0x001f],
  [0x007f, 0x007f],
  // C.2.2 non-ASCII control
  [0x0080, 0x009f],
  [0x06dd, 0x06dd],
  [0x070f, 0x070f],
  [0x180e, 0x180e],
  [0x200c, 0x200d],
  [0x2028, 0x2029],
  [0x2060, 0x2063],
  [0x206a, 0x206f],
  [0xfeff, 0xfeff],
  [0xfff9, 0xfffc],
  [0x1d173, 0x1d17a],
  // C.3 private use
  [0xe000, 0xf8ff],
  [0xf0000, 0xffffd],
  [0x100000, 0x10fffd],
  // C.4 non-character code points (the U+xFFFE/U+xFFFF pairs are checked arithmetically below)
  [0xfdd0, 0xfdef],
  // C.5 surrogates (lone ones, in a JS string)
  [0xd800, 0xdfff],
  // C.6 inappropriate for plain text
  [0xfff9, 0xfffd],
  // C.7 inappropriate for canonical representation
  [0x2ff0, 0x2ffb],
  // C.8 change display properties or deprecated
  [0x0340, 0x0341],
  [0x200e, 0x200f],
  [0x202a, 0x202e],
  // C.9 tagging characters
  [0xe0001, 0xe0001],
  [0xe0020, 0xe007f],
];

const RAND_AL_CAT: readonly Range[] = [
  [0x05be, 0x05be],
  [0x05c0, 0x05c0],
  [0x05c3, 0x05c3],
  [0x05d0, 0x05ea],
  [0x05f0, 0x05f4],
  [0x061b, 0x061b],
  [0x061f, 0x061f],
  [0x0621, 0x063a],
  [0x0640, 0x064a],
  [0x066d, 0x066f],
  [0x0671, 0x06d5],
  [0x06dd, 0x06dd],
  [0x06e5, 0x06e6],
  [0x06fa, 0x06fe],
  [0x0700, 0x070d],
  [0x0710, 0x0710],
  [0x0712, 0x072c],
  [0x0780, 0x07a5],
  [0x07b1, 0x07b1],
  [0x200f, 0x200f],
  [0xfb1d, 0xfb1d],
  [0xfb1f, 0xfb28],
  [0xfb2a, 0xfb36],
  [0xfb38, 0xfb3c],
  [0xfb3e, 0xfb3e],
  [0xfb40, 0xfb41],
  [0xfb43, 0xfb44],
  [0xfb46, 0xfbb1],
  [0xfbd3, 0xfd3d],
  [0xfd50, 0xfd8f],
  [0xfd92, 0xfdc7],
  [0xfdf0, 0xfdfc],
  [0xfe70, 0xfe74],
  [0xfe76, 0xfefc],
];

const UNASSIGNED = /^\p{Cn}$/u;
const LEFT_TO_RIGHT_LIKE = /^[\p{L}\p{Mc}]$/u;
const RIGHT_TO_LEFT_SCRIPT =
  /^[\p{Script=Hebrew}\p{Script=Arabic}\p{Script=Syriac}\p{Script=Thaana}\p{Script=Nko}\p{Script=Samaritan}\p{Script=Mandaic}]$/u;

function inTable(code: number, table: readonly Range[]): boolean {
  for (const [low, high] of table) {
    if (code >= low && code <= high) {
      return true;
    }
  }
  return false;
}

function isProhibited(code: number, char: string): boolean {
  return (
    inTable(code, NON_ASCII_SPACE) ||
    inTable(code, PROHIBITED) ||
    (code & 0xfffe) === 0xfffe ||
    UNASSIGNED.test(char)
  );
}

function isRandAL(code: number): boolean {
  return inTable(code, RAND_AL_CAT);
}

function isL(code: number, char: string): boolean {
  return !isRandAL(code) && LEFT_TO_RIGHT_LIKE.test(char) && !RIGHT_TO_LEFT_SCRIPT.test(char);
}

/**
 * Prepares a password for SCRAM the way PostgreSQL does, so that the client's and server's salted
 * passwords agree. Returns the password unchanged when it is ASCII or when SASLprep would reject it.
 */
export function saslprep(password: string): string {
  if (/^[\x00-\x7f]*$/.test(password)) {
    return password;
  }
  let mapped = '';
  for (const char of password) {
    const code = char.codePointAt(0)!;
    if (inTable(code, NON_ASCII_SPACE)) {
      mapped += ' ';
    } else if (!inTable(code, MAPPED_TO_NOTHING)) {
      mapped += char;
    }
  }
  if (mapped === '') {
    return password;
  }
  const normalized = mapped.normalize('NFKC');
  const chars = Array.from(normalized);
  let hasRandAL = false;
  let hasL = false;
  for (const char of chars) {
    const code = char.codePointAt(0)!;
    if (isProhibited(code, char)) {
      return password;
    }
    hasRandAL ||= isRandAL(code);
    hasL ||= isL(code, char);
  }
  if (hasRandAL) {
    const first = chars[0]!.codePointAt(0)!;
    const last = chars[chars.length - 1]!.codePointAt(0)!;
    if (hasL || !isRandAL(first) || !isRandAL(last)) {
      return password;
    }
  }
  return normalized;
}

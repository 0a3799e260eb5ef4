// Text arbitraries for properties over names and wire values: any UTF-16 code units (lone surrogates
// included) and any code points. fast-check's 'binary' unit is correct but ~50x slower to generate.
import fc from 'fast-check';

/** Any sequence of UTF-16 code units, well-formed or not, or of code points (astral ones included). */
export function anyText(maxLength: number): fc.Arbitrary<string> {
  return fc.oneof(
    fc
      .array(fc.integer({ min: 0, max: 0xffff }), { maxLength })
      .map((units) => String.fromCharCode(...units)),
    fc
      .array(fc.integer({ min: 0, max: 0x10ffff }), { maxLength })
      .map((points) => String.fromCodePoint(...points)),
  );
}

// Colour for the CLI's human output: on a terminal, never in a pipe or a file, and as the environment
// asks (NO_COLOR, FORCE_COLOR, TERM=dumb). Pure: the streams' isTTY and the environment come in.

/** What the human output may paint. Each function returns its text unchanged when colour is off. */
export interface Palette {
  readonly enabled: boolean;
  dim(text: string): string;
  bold(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

const plain = (text: string) => text;

/** No colour: what a pipe, a file, NO_COLOR and every test of the plain output get. */
export const PLAIN: Palette = {
  enabled: false,
  dim: plain,
  bold: plain,
  red: plain,
  green: plain,
  yellow: plain,
  cyan: plain,
};

const sgr = (open: number, close: number) => (text: string) => `\u001b[${open}m${text}\u001b[${close}m`;

/** ANSI colours (SGR), each closed again right after its text. */
export const ANSI: Palette = {
  enabled: true,
  dim: sgr(2, 22),
  bold: sgr(1, 22),
  red: sgr(31, 39),
  green: sgr(32, 39),
  yellow: sgr(33, 39),
  cyan: sgr(36, 39),
};

/**
 * Whether to colour a stream. FORCE_COLOR set to anything but `0` or `false` turns colour on, even in
 * a pipe (as Node and most tools read it, it outranks NO_COLOR); otherwise NO_COLOR set and not empty
 * (no-color.org) or TERM=dumb turns it off; otherwise a terminal gets colour and anything else none.
 */
export function colorEnabled(
  isTTY: boolean | undefined,
  env: Readonly<Record<string, string | undefined>>,
): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return force !== '0' && force.toLowerCase() !== 'false';
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return isTTY === true;
}

/** The palette for a stream: {@link ANSI} when {@link colorEnabled}, else {@link PLAIN}. */
export function paletteFor(
  isTTY: boolean | undefined,
  env: Readonly<Record<string, string | undefined>>,
): Palette {
  return colorEnabled(isTTY, env) ? ANSI : PLAIN;
}

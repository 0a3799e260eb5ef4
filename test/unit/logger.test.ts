// bindLogger(): which lines reach a user's logger (logLevel, and never a console's stack-printing trace),
// and the escapeControls catch-all every line passes through; printable(): what a wire-derived or
// user-supplied value looks like in a log line or on a terminal.
import assert from 'node:assert/strict';
import { Console } from 'node:console';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { bindLogger, escapeControls, type Logger, type LogLevel, printable } from '../../src/logger.js';
import { assertProperty, fuzzParams } from '../support/fuzz.js';
import { anyText } from '../support/text.js';

const LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];

/** A real Console writing into strings: what `logger: console` prints, stack traces included. */
function capturedConsole(): { console: Console; output(): string } {
  let text = '';
  const sink = new PassThrough();
  sink.setEncoding('utf8').on('data', (chunk: string) => {
    text += chunk;
  });
  const console = new Console({ stdout: sink, stderr: sink });
  return { console, output: () => text };
}

/** A logger that records which method got which line. */
function recordingLogger(): { logger: Required<Logger>; calls: [LogLevel, string][] } {
  const calls: [LogLevel, string][] = [];
  const logger = Object.fromEntries(
    LEVELS.map((level) => [level, (message: string) => calls.push([level, message])]),
  ) as unknown as Required<Logger>;
  return { logger, calls };
}

function logEveryLevel(logger: Logger | undefined, level?: Parameters<typeof bindLogger>[1]) {
  const bound = bindLogger(logger, level);
  for (const name of LEVELS) bound[name](`a ${name} line`);
  return bound;
}

describe('bindLogger', () => {
  test('by default (logLevel info) only info, warn and error reach the logger', () => {
    const { logger, calls } = recordingLogger();
    const bound = logEveryLevel(logger);
    assert.deepEqual(calls, [
      ['info', 'pgnudge: a info line'],
      ['warn', 'pgnudge: a warn line'],
      ['error', 'pgnudge: a error line'],
    ]);
    assert.deepEqual(
      LEVELS.filter((level) => bound.enabled(level)),
      ['info', 'warn', 'error'],
    );
  });

  test('each level passes itself and everything more severe; silent passes nothing', () => {
    for (const [index, level] of LEVELS.entries()) {
      const { logger, calls } = recordingLogger();
      logEveryLevel(logger, level);
      assert.deepEqual(
        calls.map(([name]) => name),
        LEVELS.slice(index),
        level,
      );
    }
    const { logger, calls } = recordingLogger();
    const bound = logEveryLevel(logger, 'silent');
    assert.deepEqual(calls, []);
    assert.ok(LEVELS.every((level) => !bound.enabled(level)));
  });

  test('a level the logger lacks is off, and enabled() says so', () => {
    const warnings: string[] = [];
    const bound = logEveryLevel({ warn: (message) => warnings.push(message) }, 'trace');
    assert.deepEqual(warnings, ['pgnudge: a warn line']);
    assert.deepEqual(
      LEVELS.filter((level) => bound.enabled(level)),
      ['warn'],
    );
  });

  test('logger: console gives lifecycle and warnings, and never a stack trace, even at trace', () => {
    const quiet = capturedConsole();
    logEveryLevel(quiet.console);
    assert.equal(quiet.output(), 'pgnudge: a info line\npgnudge: a warn line\npgnudge: a error line\n');

    const verbose = capturedConsole();
    const bound = logEveryLevel(verbose.console, 'trace');
    assert.ok(bound.enabled('trace'));
    // console.trace would print "Trace: ..." and the stack, a screenful per protocol message.
    assert.equal(
      verbose.output(),
      LEVELS.map((level) => `pgnudge: a ${level} line\n`).join(''),
      'each line once, as written',
    );
    assert.doesNotMatch(verbose.output(), /Trace:|^\s+at /m);
  });

  test('the global console and a copy of its methods are recognised too', () => {
    const calls: string[] = [];
    const original = { trace: console.trace, debug: console.debug };
    console.trace = (message: string) => calls.push(`trace ${message}`);
    console.debug = (message: string) => calls.push(`debug ${message}`);
    try {
      bindLogger(console, 'trace').trace('x');
      bindLogger({ ...console }, 'trace').trace('y');
    } finally {
      console.trace = original.trace;
      console.debug = original.debug;
    }
    assert.deepEqual(calls, ['debug pgnudge: x', 'debug pgnudge: y']);
  });

  test('a throwing logger does not throw into pgnudge', () => {
    const bound = bindLogger({
      warn: () => {
        throw new Error('broken');
      },
    });
    assert.doesNotThrow(() => bound.warn('x'));
  });
});

/** The inverse of printable(), written independently: proves the escaping loses nothing. */
function unprintable(text: string): string {
  return text.replace(/\\(?:u\{([0-9a-f]+)\}|u([0-9a-f]{4})|(.))/gsu, (_, astral, bmp, single) => {
    if (astral !== undefined) return String.fromCodePoint(Number.parseInt(astral, 16));
    if (bmp !== undefined) return String.fromCharCode(Number.parseInt(bmp, 16));
    const short: Record<string, string> = { '\\': '\\', n: '\n', r: '\r', t: '\t' };
    const char = short[single as string];
    if (char === undefined) throw new Error(`unknown escape \\${single}`);
    return char;
  });
}

const UNSAFE = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Cs}]/u;

describe('printable', () => {
  test('ordinary text, quotes, dots, spaces and non-ASCII are returned as they are', () => {
    for (const text of ['public.orders', 'Odd Schema.Tab.le ✓ "q"', "it's", 'Схема.таблица', '𝔘 😀', '']) {
      assert.equal(printable(text), text);
    }
  });

  test('controls, DEL, C1, separators, bidi and zero-width characters, lone surrogates and the backslash are escaped', () => {
    const cases: [string, string][] = [
      ['a\nb', 'a\\nb'],
      ['a\r\tb', 'a\\r\\tb'],
      ['\u001b[2J', '\\u001b[2J'],
      ['x\u0000y', 'x\\u0000y'],
      ['\u007f\u0085\u009b', '\\u007f\\u0085\\u009b'],
      ['\u2028\u2029', '\\u2028\\u2029'],
      ['abc\u202edef', 'abc\\u202edef'],
      ['\u2066\u2069\u200e\u200f\u061c', '\\u2066\\u2069\\u200e\\u200f\\u061c'],
      ['a\u200bb\ufeff', 'a\\u200bb\\ufeff'],
      ['lone \ud800 and \udc00', 'lone \\ud800 and \\udc00'],
      ['tag \u{e0041}', 'tag \\u{e0041}'],
      ['C:\\path', 'C:\\\\path'],
    ];
    for (const [text, expected] of cases) assert.equal(printable(text), expected, JSON.stringify(text));
  });

  test('a forged log line stays on one line and cannot pass for an escape', () => {
    const forged = 'b1\n2024-01-01T00:00:00.000Z ERROR fake\\u001b';
    const shown = printable(forged);
    assert.ok(!shown.includes('\n'));
    assert.equal(shown, 'b1\\n2024-01-01T00:00:00.000Z ERROR fake\\\\u001b');
  });

  test('property: the output holds nothing unsafe, and unescaping it gives the input back', () => {
    const text = fc.oneof(
      anyText(40),
      fc.string({
        unit: fc.constantFrom('\\', 'u', '{', '0', 'a', '\n', '\u202e', '\ud800', '\udc00', 'x'),
        maxLength: 20,
      }),
    );
    assertProperty(
      fc.property(text, (input) => {
        const shown = printable(input);
        assert.doesNotMatch(shown, UNSAFE);
        assert.equal(unprintable(shown), input);
      }),
      fuzzParams(2000),
    );
  });
});

describe('escapeControls, the catch-all at the outlets', () => {
  test('escapes what printable escapes, except the backslash', () => {
    assert.equal(escapeControls('a\nb\u001b[2J\u202e'), 'a\\nb\\u001b[2J\\u202e');
    assert.equal(escapeControls('C:\\path'), 'C:\\path');
  });

  test('property: never escapes twice, and leaves nothing unsafe', () => {
    assertProperty(
      fc.property(anyText(40), (input) => {
        const once = printable(input);
        assert.equal(escapeControls(once), once);
        assert.doesNotMatch(escapeControls(input), UNSAFE);
      }),
      fuzzParams(2000),
    );
  });

  test('bindLogger passes every line through it: a call site that forgot printable() forges no line', () => {
    const lines: string[] = [];
    const log = bindLogger({ warn: (line: string) => lines.push(line) });
    log.warn(`bridge b1\n2024-01-01T00:00:00.000Z ERROR fake \u001b[31m ${printable('t\\x\u0007')}`);
    assert.deepEqual(lines, [
      'pgnudge: bridge b1\\n2024-01-01T00:00:00.000Z ERROR fake \\u001b[31m t\\\\x\\u0007',
    ]);
  });
});

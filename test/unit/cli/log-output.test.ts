// What the CLI writes on stderr (issue 21): log lines as text or, with --log-format json, one JSON object per
// line; the level each verbosity logs at; and a fatal error as two plain lines or one JSON line.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ANSI } from '../../../src/cli/color.js';
import {
  cliLogger,
  cliLogLevel,
  formatFatal,
  formatLogLine,
  type LogSink,
} from '../../../src/cli/log-output.js';
import { ConfigError, ConnectionError } from '../../../src/errors.js';
import { bindLogger } from '../../../src/logger.js';

const NOW = new Date('2026-11-24T12:00:00.000Z');

function sink(format: 'text' | 'json'): LogSink & { lines: string[] } {
  const lines: string[] = [];
  return { lines, write: (text) => lines.push(text), now: () => NOW, format };
}

describe('cliLogLevel', () => {
  test('watch-like commands: warnings by default, then info, debug, trace per -v', () => {
    assert.deepEqual(
      [0, 1, 2, 3, 4].map((v) => cliLogLevel(v)),
      ['warn', 'info', 'debug', 'trace', 'trace'],
    );
  });

  test('bridge: lifecycle (info) by default, debug with -vv', () => {
    assert.deepEqual(
      [0, 1, 2, 3].map((v) => cliLogLevel(v, 'info')),
      ['info', 'info', 'debug', 'trace'],
    );
  });
});

describe('log lines', () => {
  test('text: time, level and message; painted only with a palette', () => {
    const out = sink('text');
    const log = bindLogger(cliLogger('info', out), 'info');
    log.info('connected');
    log.warn('retrying');
    log.debug('not shown');
    assert.deepEqual(out.lines, [
      '2026-11-24T12:00:00.000Z INFO  pgnudge: connected\n',
      '2026-11-24T12:00:00.000Z WARN  pgnudge: retrying\n',
    ]);
    assert.equal(
      formatLogLine('warn', 'x', NOW, { ...out, paint: ANSI }),
      '\u001b[2m2026-11-24T12:00:00.000Z\u001b[22m \u001b[33mWARN \u001b[39m x',
    );
  });

  test('json: one object per line, {time, level, message}, without the pgnudge prefix', () => {
    const out = sink('json');
    const log = bindLogger(cliLogger('warn', out), 'warn');
    log.warn('a "quoted"\nline');
    log.error('failed');
    assert.equal(out.lines.length, 2);
    for (const line of out.lines) assert.ok(line.endsWith('}\n') && !line.slice(0, -1).includes('\n'));
    assert.deepEqual(
      out.lines.map((line) => JSON.parse(line)),
      [
        // bindLogger escapes controls for every logger, so a message stays one line in any format.
        { time: '2026-11-24T12:00:00.000Z', level: 'warn', message: 'a "quoted"\\nline' },
        { time: '2026-11-24T12:00:00.000Z', level: 'error', message: 'failed' },
      ],
    );
  });

  test('the logger has no method below its level, so components without logLevel filter too', () => {
    assert.deepEqual(Object.keys(cliLogger('warn', sink('text'))), ['warn', 'error']);
    assert.deepEqual(Object.keys(cliLogger('trace', sink('text'))), [
      'trace',
      'debug',
      'info',
      'warn',
      'error',
    ]);
  });
});

describe('formatFatal', () => {
  const error = new ConnectionError('PGNUDGE_ERR_CONNECTION', 'cannot connect to h:1: ECONNREFUSED');

  test('text: the cause and fix, then the code', () => {
    assert.equal(
      formatFatal(error, NOW, sink('text')),
      'pgnudge: cannot connect to h:1: ECONNREFUSED\n  (PGNUDGE_ERR_CONNECTION)\n',
    );
  });

  test('json (--json or --log-format json): one line with level fatal and the code', () => {
    const line = formatFatal(new ConfigError('bad flag'), NOW, sink('json'));
    assert.ok(line.endsWith('\n') && line.indexOf('\n') === line.length - 1);
    assert.deepEqual(JSON.parse(line), {
      time: '2026-11-24T12:00:00.000Z',
      level: 'fatal',
      code: 'PGNUDGE_ERR_CONFIG',
      message: 'bad flag',
    });
  });

  test('a failure that is not pgnudge own has no code', () => {
    const parsed = JSON.parse(formatFatal(new Error('boom'), NOW, sink('json')));
    assert.equal(parsed.code, null);
    assert.match(parsed.message, /^unexpected failure: Error: boom/);
    assert.match(
      formatFatal(new Error('boom'), NOW, sink('text')),
      /^pgnudge: unexpected failure: Error: boom/,
    );
  });
});

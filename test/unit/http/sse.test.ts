// SSE framing (src/http/sse.ts): exact bytes for items, comments and retry; multi-line data split per the
// HTML standard, checked against a parser written from the standard, for any data and any chunking.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { formatJsonLine } from '../../../src/cli/format.js';
import { ConfigError } from '../../../src/errors.js';
import { Batch, NudgeEvent, Resync } from '../../../src/feed/items.js';
import {
  EVENT_STREAM_HEADERS,
  encodeItemEvent,
  formatItemEvent,
  formatSseComment,
  formatSseEvent,
  formatSseRetry,
  jitteredRetryMs,
  KEEP_ALIVE_TEXT,
} from '../../../src/http/sse.js';
import { fuzzParams } from '../../support/fuzz.js';
import { SseParser } from '../../support/sse-parser.js';

const batch = new Batch([
  new NudgeEvent('public.orders', 50, new Date('2026-11-24T12:00:00.000Z')),
  new NudgeEvent('My Schema.a"b', 1, new Date('2026-11-24T12:00:00.020Z')),
]);

describe('SSE framing', () => {
  test('an item is event: <type> and data: its --json line, then a blank line', () => {
    assert.equal(
      formatItemEvent(new Resync('connected')),
      'event: resync\ndata: {"type":"resync","reason":"connected"}\n\n',
    );
    assert.equal(formatItemEvent(batch), `event: batch\ndata: ${formatJsonLine(batch)}\n\n`);
    assert.deepEqual(
      new TextDecoder().decode(encodeItemEvent(batch)),
      formatItemEvent(batch),
      'the bytes are the UTF-8 of the text',
    );
  });

  test('multi-line data: one data: line per line, whatever the line break (LF, CR, CRLF)', () => {
    assert.equal(formatSseEvent('x', 'a\nb'), 'event: x\ndata: a\ndata: b\n\n');
    assert.equal(formatSseEvent('x', 'a\rb'), 'event: x\ndata: a\ndata: b\n\n');
    assert.equal(formatSseEvent('x', 'a\r\nb'), 'event: x\ndata: a\ndata: b\n\n');
    assert.equal(formatSseEvent('x', 'a\n\r\nb\n'), 'event: x\ndata: a\ndata: \ndata: b\ndata: \n\n');
    assert.equal(formatSseEvent('x', ''), 'event: x\ndata: \n\n');
    assert.equal(formatSseEvent('x', ' lead'), 'event: x\ndata:  lead\n\n', 'the one space a parser strips');
  });

  test('a table name with line breaks, U+2028 or quotes stays on one data: line (JSON escapes it)', () => {
    const item = new Batch([new NudgeEvent('s.a\nb\r\u2028"', 1, new Date(0))]);
    const text = formatItemEvent(item);
    assert.equal(text.split('\n').filter((line) => line.startsWith('data:')).length, 1);
    const [message] = new SseParser().push(text);
    assert.deepEqual(JSON.parse(message?.data ?? ''), item.toJSON());
  });

  test('event names must be one line without a leading space', () => {
    for (const name of ['a\nb', 'a\rb', '', ' x']) {
      assert.throws(() => formatSseEvent(name, 'd'), ConfigError, JSON.stringify(name));
    }
  });

  test('comments and retry', () => {
    assert.equal(KEEP_ALIVE_TEXT, ': keep-alive\n\n');
    assert.equal(formatSseComment('a\nb'), ': a\n: b\n\n');
    assert.equal(formatSseRetry(1500), 'retry: 1500\n\n');
    assert.throws(() => formatSseRetry(-1), ConfigError);
    assert.throws(() => formatSseRetry(1.5), ConfigError);
    const parser = new SseParser();
    assert.deepEqual(
      parser.push(`${KEEP_ALIVE_TEXT}${formatSseRetry(1500)}`),
      [],
      'neither dispatches an event',
    );
    assert.equal(parser.retry, 1500);
    assert.deepEqual(parser.comments, [' keep-alive']);
  });

  test('retry jitter spans [0.5, 1.5) of the base', () => {
    assert.equal(
      jitteredRetryMs(2000, () => 0),
      1000,
    );
    assert.equal(
      jitteredRetryMs(2000, () => 0.5),
      2000,
    );
    assert.equal(
      jitteredRetryMs(2000, () => 0.999_999),
      3000,
    );
  });

  test('headers: text/event-stream, no-cache, no proxy buffering, no Connection header', () => {
    assert.equal(EVENT_STREAM_HEADERS['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(EVENT_STREAM_HEADERS['cache-control'], 'no-cache');
    assert.equal(EVENT_STREAM_HEADERS['x-accel-buffering'], 'no');
    assert.ok(!Object.keys(EVENT_STREAM_HEADERS).some((name) => name.toLowerCase() === 'connection'));
  });

  test('property: any data, in any chunking, parses back with its line breaks as LF', () => {
    const text = fc.stringOf(fc.constantFrom('a', ' ', ':', '\r', '\n', 'é', '\u2028', '{', '"', '\0'), {
      maxLength: 40,
    });
    fc.assert(
      fc.property(
        fc.array(text, { minLength: 1, maxLength: 4 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (datas, cuts) => {
          const stream = datas.map((data) => formatSseEvent('e', data)).join(KEEP_ALIVE_TEXT);
          const points = [...new Set(cuts.map((cut) => cut % (stream.length + 1)))].sort((a, b) => a - b);
          const parser = new SseParser();
          const messages = [];
          let from = 0;
          for (const point of [...points, stream.length]) {
            messages.push(...parser.push(stream.slice(from, point)));
            from = point;
          }
          assert.deepEqual(
            messages,
            datas.map((data) => ({ event: 'e', data: data.replace(/\r\n|\r/g, '\n') })),
          );
        },
      ),
      fuzzParams(300),
    );
  });
});

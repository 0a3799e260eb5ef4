// /metrics text (src/http/metrics.ts): the exact exposition format, label and help escaping, and the
// families pgnudge serve reports.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatExposition, METRICS_CONTENT_TYPE, serveMetricFamilies } from '../../../src/http/metrics.js';

describe('metrics', () => {
  test('exposition: HELP, TYPE, samples with escaped labels and special values', () => {
    const text = formatExposition([
      {
        name: 'pgnudge_example_total',
        help: 'A help with a \\ and a\nnewline.',
        type: 'counter',
        samples: [
          { labels: { reason: 'a"b\\c\nd' }, value: 3 },
          { labels: {}, value: 2n ** 64n - 1n },
        ],
      },
      {
        name: 'pgnudge_gauge',
        help: 'g',
        type: 'gauge',
        samples: [{ value: Number.NaN }, { value: Number.POSITIVE_INFINITY }, { value: -0.5 }],
      },
    ]);
    assert.equal(
      text,
      [
        '# HELP pgnudge_example_total A help with a \\\\ and a\\nnewline.',
        '# TYPE pgnudge_example_total counter',
        'pgnudge_example_total{reason="a\\"b\\\\c\\nd"} 3',
        'pgnudge_example_total 18446744073709551615',
        '# HELP pgnudge_gauge g',
        '# TYPE pgnudge_gauge gauge',
        'pgnudge_gauge NaN',
        'pgnudge_gauge +Inf',
        'pgnudge_gauge -0.5',
        '',
      ].join('\n'),
    );
  });

  test('invalid metric or label names are refused', () => {
    assert.throws(
      () => formatExposition([{ name: '1bad', help: '', type: 'gauge', samples: [] }]),
      TypeError,
    );
    assert.throws(
      () =>
        formatExposition([
          { name: 'ok', help: '', type: 'gauge', samples: [{ labels: { 'a-b': 'x' }, value: 1 }] },
        ]),
      TypeError,
    );
    assert.throws(
      () =>
        formatExposition([
          { name: 'ok', help: '', type: 'gauge', samples: [{ labels: { __x: 'x' }, value: 1 }] },
        ]),
      TypeError,
    );
  });

  test('pgnudge serve’s families, every resync reason present', () => {
    const text = formatExposition(
      serveMetricFamilies({
        live: true,
        hub: {
          batches: 12,
          changes: 340,
          resyncs: { connected: 1, reconnected: 2, overflow: 0, failsafe: 0, bridge: 0 },
          clients: 200,
          clientsOpened: 203,
          clientsDropped: 1,
        },
      }),
    );
    const samples = text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    assert.deepEqual(samples, [
      'pgnudge_live 1',
      'pgnudge_batches_total 12',
      'pgnudge_changes_total 340',
      'pgnudge_resyncs_total{reason="connected"} 1',
      'pgnudge_resyncs_total{reason="reconnected"} 2',
      'pgnudge_resyncs_total{reason="overflow"} 0',
      'pgnudge_resyncs_total{reason="failsafe"} 0',
      'pgnudge_resyncs_total{reason="bridge"} 0',
      'pgnudge_sse_clients 200',
      'pgnudge_sse_clients_opened_total 203',
      'pgnudge_sse_clients_dropped_total 1',
    ]);
    for (const line of text.split('\n').filter((l) => l.startsWith('# TYPE'))) {
      const [, , name, type] = line.split(' ');
      assert.equal(name?.endsWith('_total'), type === 'counter', `${name} is a ${type}`);
    }
    assert.equal(METRICS_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
  });
});

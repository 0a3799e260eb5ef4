// /metrics text (src/http/metrics.ts): the exact exposition format, label and help escaping, and the
// families pgnudge serve reports.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FeedStats } from '../../../src/feed/stats.js';
import { formatExposition, METRICS_CONTENT_TYPE, serveMetricFamilies } from '../../../src/http/metrics.js';
import { sampleStats } from '../../support/scripted-feed.js';

/** An EventHub's counters: /metrics reports its streams. */
const hub = {
  batches: 12,
  changes: 340,
  resyncs: { connected: 1, reconnected: 2, overflow: 0, failsafe: 0, bridge: 0 },
  clients: 200,
  clientsOpened: 203,
  clientsDropped: 1,
};

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

  test('pgnudge serve’s families from a WalFeed’s stats: every state and resync reason present, LSNs exact', () => {
    const text = formatExposition(
      serveMetricFamilies({
        live: true,
        hub,
        feed: sampleStats({ walEnd: 'FFFFFFFF/FFFFFFFF', confirmed: 'FFFFFFFF/FFFFFF00', lagBytes: 255 }),
      }),
    );
    const samples = text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    assert.deepEqual(samples, [
      'pgnudge_live 1',
      'pgnudge_state{state="idle"} 0',
      'pgnudge_state{state="connecting"} 0',
      'pgnudge_state{state="streaming"} 1',
      'pgnudge_state{state="backoff"} 0',
      'pgnudge_state{state="closed"} 0',
      'pgnudge_state_since_timestamp_seconds 1767323045',
      'pgnudge_reconnects_total 2',
      'pgnudge_failures_total 3',
      'pgnudge_resyncs_total{reason="connected"} 1',
      'pgnudge_resyncs_total{reason="reconnected"} 2',
      'pgnudge_resyncs_total{reason="overflow"} 0',
      'pgnudge_resyncs_total{reason="failsafe"} 0',
      'pgnudge_resyncs_total{reason="bridge"} 0',
      'pgnudge_batches_total 12',
      'pgnudge_changes_total 340',
      'pgnudge_received_bytes_total 65536',
      'pgnudge_wal_end_lsn_bytes 18446744073709551615',
      'pgnudge_confirmed_lsn_bytes 18446744073709551360',
      'pgnudge_lag_bytes 255',
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

  test('a feed without a WAL stream (NotifyFeed) has no WAL families; a feed without stats only liveness and streams', () => {
    const names = (feed: FeedStats | null) =>
      serveMetricFamilies({ live: false, hub, feed }).map((family) => family.name);
    const notify = names(sampleStats({ walEnd: null, confirmed: null, lagBytes: null }));
    assert.ok(notify.includes('pgnudge_received_bytes_total'));
    assert.deepEqual(
      notify.filter((name) => /wal|confirmed|lag/.test(name)),
      [],
    );
    // A stream that has not sent its first status update yet: its WAL end only.
    assert.deepEqual(
      names(sampleStats({ confirmed: null, lagBytes: null })).filter((name) =>
        /wal|confirmed|lag/.test(name),
      ),
      ['pgnudge_wal_end_lsn_bytes'],
    );
    assert.deepEqual(names(null), [
      'pgnudge_live',
      'pgnudge_sse_clients',
      'pgnudge_sse_clients_opened_total',
      'pgnudge_sse_clients_dropped_total',
    ]);
  });
});

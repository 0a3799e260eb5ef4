// /metrics: a snapshot of numbers in, Prometheus text exposition format (version 0.0.4) out. Pure.
// Families are data, so a new source of numbers (a feed's stats()) is one more builder, not a new format.
import { FEED_STATES, type FeedStats, RESYNC_REASONS } from '../feed/stats.js';
import type { HubCounters } from './hub-core.js';

/** The Content-Type of the text exposition format. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** One sample of a family: its labels (none for most) and its value. */
export interface MetricSample {
  labels?: Readonly<Record<string, string>>;
  value: number | bigint;
}

/** A metric family: the `# HELP` and `# TYPE` lines and its samples. */
export interface MetricFamily {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  samples: readonly MetricSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** The families as exposition text: HELP, TYPE, then one line per sample, ending with a newline. */
export function formatExposition(families: readonly MetricFamily[]): string {
  let text = '';
  for (const family of families) {
    if (!METRIC_NAME.test(family.name)) throw new TypeError(`invalid metric name ${family.name}`);
    text += `# HELP ${family.name} ${family.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}\n`;
    text += `# TYPE ${family.name} ${family.type}\n`;
    for (const sample of family.samples) {
      text += `${family.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}\n`;
    }
  }
  return text;
}

function formatLabels(labels: Readonly<Record<string, string>> | undefined): string {
  if (labels === undefined) return '';
  const pairs = Object.entries(labels).map(([name, value]) => {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) throw new TypeError(`invalid label name ${name}`);
    return `${name}="${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
  });
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

function formatValue(value: number | bigint): string {
  if (typeof value === 'bigint') return value.toString();
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

/** Everything `pgnudge serve` reports. */
export interface ServeSnapshot {
  /** As /healthz: the feed yielded a Resync and its state is `streaming`. */
  live: boolean;
  /** The event hub's counters: its streams. */
  hub: HubCounters;
  /** The feed's stats, or null for a feed without them (then only `live` and the streams are reported). */
  feed: FeedStats | null;
}

/** A family of one unlabelled sample. */
function scalar(
  name: string,
  type: MetricFamily['type'],
  help: string,
  value: number | bigint,
): MetricFamily {
  return { name, help, type, samples: [{ value }] };
}

/** The families of `pgnudge serve`'s /metrics, all named `pgnudge_*`. */
export function serveMetricFamilies(snapshot: ServeSnapshot): MetricFamily[] {
  const { hub, feed } = snapshot;
  return [
    scalar(
      'pgnudge_live',
      'gauge',
      'Whether the feed is live (1) or not (0), as GET /healthz answers 200 or 503.',
      snapshot.live ? 1 : 0,
    ),
    ...(feed === null ? [] : feedFamilies(feed)),
    scalar('pgnudge_sse_clients', 'gauge', 'Event streams (GET /events) open now.', hub.clients),
    scalar('pgnudge_sse_clients_opened_total', 'counter', 'Event streams opened.', hub.clientsOpened),
    scalar(
      'pgnudge_sse_clients_dropped_total',
      'counter',
      'Event streams cut off because their client read too slowly (it resyncs when it reconnects).',
      hub.clientsDropped,
    ),
  ];
}

/** The families of a feed's stats (contract R32); the WAL ones only for a feed with a WAL stream. */
export function feedFamilies(feed: FeedStats): MetricFamily[] {
  const families: MetricFamily[] = [
    {
      name: 'pgnudge_state',
      help: 'The state of the feed: 1 for the current one, 0 for the others.',
      type: 'gauge',
      // Every state, zeros included, so that a query for one state always finds its series.
      samples: FEED_STATES.map((state) => ({ labels: { state }, value: feed.state === state ? 1 : 0 })),
    },
    scalar(
      'pgnudge_state_since_timestamp_seconds',
      'gauge',
      'When the feed entered its current state, in seconds since the epoch.',
      feed.since.getTime() / 1000,
    ),
    scalar(
      'pgnudge_reconnects_total',
      'counter',
      'Sessions that went live after an earlier one had.',
      feed.reconnects,
    ),
    scalar(
      'pgnudge_failures_total',
      'counter',
      'Connection attempts and sessions that failed and were retried.',
      feed.failures,
    ),
    {
      name: 'pgnudge_resyncs_total',
      help: 'Resyncs the feed yielded, by reason.',
      type: 'counter',
      // Every reason, zeros included: a rate() over a series that appears late misses its first increase.
      samples: RESYNC_REASONS.map((reason) => ({ labels: { reason }, value: feed.resyncs[reason] })),
    },
    scalar('pgnudge_batches_total', 'counter', 'Batches the feed yielded.', feed.batches),
    scalar(
      'pgnudge_changes_total',
      'counter',
      'Row changes the feed received (pending, yielded in batches, or superseded by a Resync).',
      feed.changes,
    ),
    scalar(
      'pgnudge_received_bytes_total',
      'counter',
      'Bytes read from the server, on every connection the feed opened.',
      feed.bytesReceived,
    ),
  ];
  if (feed.walEnd !== null) {
    families.push(
      scalar(
        'pgnudge_wal_end_lsn_bytes',
        'gauge',
        'The highest WAL position (LSN) the server reported in the stream, as a byte position.',
        lsnBytes(feed.walEnd),
      ),
    );
  }
  if (feed.confirmed !== null) {
    families.push(
      scalar(
        'pgnudge_confirmed_lsn_bytes',
        'gauge',
        'The WAL position (LSN) the last standby status update confirmed, as a byte position.',
        lsnBytes(feed.confirmed),
      ),
    );
  }
  if (feed.lagBytes !== null) {
    families.push(
      scalar(
        'pgnudge_lag_bytes',
        'gauge',
        'WAL the server reported and the feed has not confirmed yet (wal_end - confirmed), in bytes.',
        feed.lagBytes,
      ),
    );
  }
  return families;
}

/** `16/B374D848` as the byte position it names, exact (a bigint prints all its digits). */
function lsnBytes(lsn: string): bigint {
  const [high = '', low = ''] = lsn.split('/');
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

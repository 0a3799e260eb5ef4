// /metrics: a snapshot of numbers in, Prometheus text exposition format (version 0.0.4) out. Pure.
// Families are data, so a new source of numbers (a feed's stats()) is one more builder, not a new format.
import type { ResyncReason } from '../feed/items.js';
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
  /** As /healthz: the feed yielded a Resync and is not known to have lost its stream since. */
  live: boolean;
  /** The event hub's counters. */
  hub: HubCounters;
}

const REASONS: readonly ResyncReason[] = ['connected', 'reconnected', 'overflow', 'failsafe', 'bridge'];

/** The families of `pgnudge serve`'s /metrics, all named `pgnudge_*`. */
export function serveMetricFamilies(snapshot: ServeSnapshot): MetricFamily[] {
  const { hub } = snapshot;
  return [
    {
      name: 'pgnudge_live',
      help: 'Whether the feed is live (1) or not (0), as GET /healthz answers 200 or 503.',
      type: 'gauge',
      samples: [{ value: snapshot.live ? 1 : 0 }],
    },
    {
      name: 'pgnudge_batches_total',
      help: 'Batches the feed yielded.',
      type: 'counter',
      samples: [{ value: hub.batches }],
    },
    {
      name: 'pgnudge_changes_total',
      help: 'Row changes in the batches the feed yielded (the sum of their counts).',
      type: 'counter',
      samples: [{ value: hub.changes }],
    },
    {
      name: 'pgnudge_resyncs_total',
      help: 'Resyncs the feed yielded, by reason.',
      type: 'counter',
      // Every reason, zeros included: a rate() over a series that appears late misses its first increase.
      samples: REASONS.map((reason) => ({ labels: { reason }, value: hub.resyncs[reason] })),
    },
    {
      name: 'pgnudge_sse_clients',
      help: 'Event streams (GET /events) open now.',
      type: 'gauge',
      samples: [{ value: hub.clients }],
    },
    {
      name: 'pgnudge_sse_clients_opened_total',
      help: 'Event streams opened.',
      type: 'counter',
      samples: [{ value: hub.clientsOpened }],
    },
    {
      name: 'pgnudge_sse_clients_dropped_total',
      help: 'Event streams cut off because their client read too slowly (it resyncs when it reconnects).',
      type: 'counter',
      samples: [{ value: hub.clientsDropped }],
    },
  ];
}

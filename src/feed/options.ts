// WalFeed's options: their defaults (contract §3) and the validation that turns a bad value into a
// ConfigError naming the option and the rule, at construction time.
import { PLUGIN_CHOICES, type PluginChoice } from '../decode/change.js';
import { checkPublication } from '../decode/pgoutput-options.js';
import { ConfigError } from '../errors.js';
import { DEFAULT_LOG_LEVEL, LOG_THRESHOLDS, type Logger, type LogThreshold } from '../logger.js';
import {
  count,
  describeValue as describe,
  describeChoices,
  duration,
  MAX_TIMER_MS,
  optionalDuration,
} from '../option-rules.js';
import { CONNECTION_OPTION_NAMES, type ConnectionOptions } from '../transport/settings.js';
import { PARTITION_NAMINGS, type PartitionNaming } from './catalog.js';
import { parseTableName, type TableName } from './tables.js';

/** Options of a {@link WalFeed}. Durations are milliseconds. */
export interface WalFeedOptions extends ConnectionOptions {
  /** Only these tables (`schema.table`, quoted identifiers allowed) wake the feed. Default: every table. */
  tables?: readonly string[];
  /** Output plugin. Default `'auto'`. */
  plugin?: PluginChoice;
  /**
   * Decode with pgoutput through this publication, which must exist (created by its owner; pgnudge never
   * creates, alters or drops one, contract R25). Implies plugin `pgoutput`; `tables` still filters in the client
   * and `partitions` still names partitions; with `keys`, keys come from the relations pgoutput describes.
   */
  publication?: string;
  /**
   * How a change to a partition is named: `'root'` (default) under its partition root, the table the
   * application queries; `'leaf'` under the partition itself, as PostgreSQL's decoding names it. Either way a
   * `tables` entry naming a partitioned table matches every partition below it (contract R20).
   */
  partitions?: PartitionNaming;
  /**
   * Name rows, not only tables (contract R22, R23): an event carries the changed row's replica identity key
   * (`key`, payload `schema.table:key`); TRUNCATE and tables without a key stay table-level. Default false.
   */
  keys?: boolean;
  /** A batch closes after this many ms without a new change. Default 50. */
  debounce?: number;
  /** ...and at the latest this many ms after its first change. Default 20 × debounce. */
  maxBatchWait?: number;
  /** Distinct payloads held for a slow consumer before they are dropped for `Resync('overflow')`. Default 10000. */
  maxPending?: number;
  /**
   * Row events (contract R22) one table may hold in a batch; past that, the table's row events in the
   * batch fold into one table-level event with their summed count (contract R24). Default 1000.
   */
  maxKeys?: number;
  /**
   * How often a standby status update is sent (asking for a reply). Default 10000. A WalFeed shortens it
   * to a quarter of the server's `wal_sender_timeout` when that is shorter, so a session that lags behind
   * the stream is never ended as silent.
   */
  statusInterval?: number;
  /** Inbound silence after which the link counts as dead and is replaced. Default 30000; `null` or 0 disables. */
  livenessTimeout?: number | null;
  /**
   * While the replication stream is busy, reads pause up to this many ms so that each read carries many
   * changes: far less CPU for the client and the walsender during a large transaction, and a change of
   * a busy stream waits at most this long. A lone commit is always read at once. Default 2; 0 turns
   * pacing off. Never longer than the status cadence (see `statusInterval`).
   */
  readPacing?: number;
  /** Also yield `Resync('failsafe')` this often. Default off (`null`, or 0). */
  failsafe?: number | null;
  /** Reconnect delays: `initial` doubles per failure up to `maximum`, each × a random factor in [0.5, 1.5]. */
  backoff?: { initial?: number; maximum?: number };
  /**
   * How long a feed that has never been live retries before it fails with the last failure (a wrong
   * host or port, a server that never comes up). Default 30000; `null` or 0 retries forever. Once a
   * feed has been live it retries every failure, however long (contract R11).
   */
  firstConnectTimeout?: number | null;
  /** Ends the feed when aborted, like `close()`. */
  signal?: AbortSignal;
  /** Receives lifecycle (info), failures (warn/error) and detail (debug/trace). Silent by default. */
  logger?: Logger;
  /**
   * The least severe level passed to `logger`. Default `'info'`: lifecycle and failures only, so
   * `logger: console` stays readable; `'debug'` adds a line per change, `'trace'` one per protocol
   * message (sent to a console's `debug`, never its `trace`); `'silent'` passes nothing.
   */
  logLevel?: LogThreshold;
}

/** Every {@link WalFeedOptions} key, connection options included. */
export const FEED_OPTION_NAMES: readonly string[] = [
  ...CONNECTION_OPTION_NAMES,
  ...Object.keys({
    tables: true,
    plugin: true,
    publication: true,
    partitions: true,
    keys: true,
    debounce: true,
    maxBatchWait: true,
    maxPending: true,
    maxKeys: true,
    statusInterval: true,
    livenessTimeout: true,
    readPacing: true,
    failsafe: true,
    backoff: true,
    firstConnectTimeout: true,
    signal: true,
    logger: true,
    logLevel: true,
  } satisfies Record<Exclude<keyof WalFeedOptions, keyof ConnectionOptions>, true>),
];

/**
 * Options of a {@link RawFeed}: WalFeed's without those of logical decoding. A RawFeed decodes physical
 * WAL itself (no `plugin`), reads no tuples (no `keys`: its events are table-level), names a change to
 * a partition by its root (no `partitions`) and reads every table, published or not (no `publication`).
 */
export type RawFeedOptions = Omit<WalFeedOptions, 'plugin' | 'keys' | 'partitions' | 'publication'>;

const NOT_RAW_FEED: readonly string[] = ['plugin', 'keys', 'partitions', 'publication'];

/** Every {@link RawFeedOptions} key, connection options included. */
export const RAW_FEED_OPTION_NAMES: readonly string[] = FEED_OPTION_NAMES.filter(
  (name) => !NOT_RAW_FEED.includes(name),
);

/**
 * Refuses a key that `accepted` does not hold. TypeScript catches a misspelled option at compile time;
 * JavaScript callers and options built at run time get the same answer here instead of a silently
 * ignored setting (a `debounse: 0` that leaves the 50 ms default in place).
 */
export function refuseUnknownOptions(options: object, accepted: readonly string[], owner: string): void {
  for (const [key, value] of Object.entries(options)) {
    // `undefined` means "not set" everywhere in these options, so a spread that carries one is harmless.
    if (value === undefined || accepted.includes(key)) continue;
    const near = closestName(key, accepted);
    throw new ConfigError(
      `${owner} has no option ${JSON.stringify(key)}${near ? `; did you mean ${JSON.stringify(near)}?` : ''}`,
      key,
    );
  }
}

/** The accepted name nearest to `key` (case-insensitive edit distance at most 2), if any. */
export function closestName(key: string, accepted: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const name of accepted) {
    const distance = editDistance(key.toLowerCase(), name.toLowerCase());
    if (distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return best;
}

/**
 * Edits between `a` and `b`, a swap of two neighbours counting as one (optimal string alignment): the
 * usual typo (`--jsno`, `tabels`) is one step from the name meant, not two.
 */
function editDistance(a: string, b: string): number {
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1);
      let best = Math.min((previous[j] as number) + 1, (current[j - 1] as number) + 1, substitution);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, (before[j - 2] as number) + 1);
      }
      current[j] = best;
    }
    before = previous;
    previous = current;
  }
  return previous[b.length] as number;
}

/**
 * The publication, checked against `plugin`: a publication is read by pgoutput only, and pgoutput reads
 * nothing without one (contract R25).
 */
function resolvePublication(publication: unknown, plugin: PluginChoice): string | null {
  if (publication === undefined) {
    if (plugin === 'pgoutput') {
      throw new ConfigError(
        "plugin 'pgoutput' needs a publication: set publication (CLI --publication NAME) to one that exists",
        'publication',
      );
    }
    return null;
  }
  if (typeof publication !== 'string') {
    throw new ConfigError(
      `publication must be the name of a publication (a string); got ${describe(publication)}`,
      'publication',
    );
  }
  checkPublication(publication);
  if (plugin !== 'auto' && plugin !== 'pgoutput') {
    throw new ConfigError(
      `a publication is decoded with pgoutput, not ${plugin}: leave plugin out (or set it to 'pgoutput') with publication, or drop publication to use ${plugin}`,
      'plugin',
    );
  }
  return publication;
}

/** Every option after defaults and validation. */
export interface ResolvedFeedOptions {
  tables: TableName[] | null;
  plugin: PluginChoice;
  /** The publication pgoutput decodes through; set exactly when `plugin` is `pgoutput`. */
  publication: string | null;
  partitions: PartitionNaming;
  keys: boolean;
  debounceMs: number;
  maxBatchWaitMs: number;
  maxPending: number;
  maxKeys: number;
  statusIntervalMs: number;
  livenessTimeoutMs: number | null;
  readPacingMs: number;
  failsafeMs: number | null;
  backoffInitialMs: number;
  backoffMaximumMs: number;
  firstConnectTimeoutMs: number | null;
  applicationName: string;
  logLevel: LogThreshold;
}

export const DEFAULTS = {
  debounce: 50,
  maxBatchWaitFactor: 20,
  maxPending: 10_000,
  maxKeys: 1_000,
  statusInterval: 10_000,
  livenessTimeout: 30_000,
  readPacing: 2,
  backoffInitial: 100,
  backoffMaximum: 5_000,
  firstConnectTimeout: 30_000,
  applicationName: 'pgnudge',
} as const;

/** Validates `options` and applies contract §3's defaults. Throws ConfigError naming the option and the rule. */
export function resolveFeedOptions(
  options: WalFeedOptions,
  owner = 'WalFeed',
  accepted: readonly string[] = FEED_OPTION_NAMES,
): ResolvedFeedOptions {
  if (typeof options !== 'object' || options === null) {
    throw new ConfigError(`${owner} options must be an object; got ${describe(options)}`);
  }
  refuseUnknownOptions(options, accepted, owner);
  // Only `undefined` means "the default", here and below: a `null` from JavaScript is named as a mistake.
  const plugin = options.plugin === undefined ? 'auto' : options.plugin;
  if (!PLUGIN_CHOICES.includes(plugin)) {
    throw new ConfigError(
      `plugin must be ${describeChoices(PLUGIN_CHOICES.map((name) => `'${name}'`))}; got ${describe(plugin)}`,
      'plugin',
    );
  }
  const partitions = options.partitions === undefined ? 'root' : options.partitions;
  if (!PARTITION_NAMINGS.includes(partitions)) {
    throw new ConfigError(
      `partitions must be ${describeChoices(PARTITION_NAMINGS.map((name) => `'${name}'`))}; got ${describe(partitions)}`,
      'partitions',
    );
  }
  const keys = options.keys === undefined ? false : options.keys;
  if (typeof keys !== 'boolean') {
    throw new ConfigError(`keys must be true or false; got ${describe(keys)}`, 'keys');
  }
  const publication = resolvePublication(options.publication, plugin);
  let tables: TableName[] | null = null;
  if (options.tables !== undefined) {
    if (!Array.isArray(options.tables)) {
      throw new ConfigError(
        `tables must be an array of "schema.table" strings; got ${describe(options.tables)}`,
        'tables',
      );
    }
    if (options.tables.length === 0) {
      throw new ConfigError(
        'tables is empty: omit it to watch every table, or name at least one "schema.table"',
        'tables',
      );
    }
    tables = options.tables.map((entry: unknown) => {
      if (typeof entry !== 'string') {
        throw new ConfigError(
          `tables entries must be "schema.table" strings; got ${describe(entry)}`,
          'tables',
        );
      }
      return parseTableName(entry);
    });
  }
  const debounceMs = duration('debounce', options.debounce, 0, DEFAULTS.debounce);
  const maxBatchWaitMs = duration(
    'maxBatchWait',
    options.maxBatchWait,
    0,
    Math.min(debounceMs * DEFAULTS.maxBatchWaitFactor, MAX_TIMER_MS),
  );
  if (maxBatchWaitMs < debounceMs) {
    throw new ConfigError(
      `maxBatchWait (${maxBatchWaitMs}) must be at least debounce (${debounceMs}): a batch cannot be capped before it can close`,
      'maxBatchWait',
    );
  }
  const maxPending = count('maxPending', options.maxPending, 'distinct payloads', 1, DEFAULTS.maxPending);
  const maxKeys = count('maxKeys', options.maxKeys, 'distinct keys per table', 1, DEFAULTS.maxKeys);
  const statusIntervalMs = duration('statusInterval', options.statusInterval, 1, DEFAULTS.statusInterval);
  const livenessTimeoutMs = optionalDuration(
    'livenessTimeout',
    options.livenessTimeout,
    1,
    DEFAULTS.livenessTimeout,
  );
  if (livenessTimeoutMs !== null && livenessTimeoutMs <= statusIntervalMs) {
    throw new ConfigError(
      `livenessTimeout (${livenessTimeoutMs}) must exceed statusInterval (${statusIntervalMs}): the server's replies to status updates are what keep a healthy link from looking dead`,
      'livenessTimeout',
    );
  }
  const readPacingMs = duration('readPacing', options.readPacing, 0, DEFAULTS.readPacing);
  const failsafeMs = optionalDuration('failsafe', options.failsafe, 1, null);
  const backoff = options.backoff === undefined ? {} : options.backoff;
  if (typeof backoff !== 'object' || backoff === null) {
    throw new ConfigError(
      `backoff must be an object { initial, maximum }; got ${describe(backoff)}`,
      'backoff',
    );
  }
  const backoffInitialMs = duration('backoff.initial', backoff.initial, 1, DEFAULTS.backoffInitial);
  const backoffMaximumMs = duration(
    'backoff.maximum',
    backoff.maximum,
    1,
    Math.max(DEFAULTS.backoffMaximum, backoffInitialMs),
  );
  if (backoffMaximumMs < backoffInitialMs) {
    throw new ConfigError(
      `backoff.maximum (${backoffMaximumMs}) must be at least backoff.initial (${backoffInitialMs})`,
      'backoff.maximum',
    );
  }
  const firstConnectTimeoutMs = optionalDuration(
    'firstConnectTimeout',
    options.firstConnectTimeout,
    1,
    DEFAULTS.firstConnectTimeout,
  );
  const applicationName = options.applicationName ?? DEFAULTS.applicationName;
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) {
    throw new ConfigError(`signal must be an AbortSignal; got ${describe(options.signal)}`, 'signal');
  }
  if (options.logger !== undefined && (typeof options.logger !== 'object' || options.logger === null)) {
    throw new ConfigError(
      `logger must be a console- or pino-shaped object; got ${describe(options.logger)}`,
      'logger',
    );
  }
  const logLevel = options.logLevel === undefined ? DEFAULT_LOG_LEVEL : options.logLevel;
  if (!LOG_THRESHOLDS.includes(logLevel)) {
    throw new ConfigError(
      `logLevel must be ${describeChoices(LOG_THRESHOLDS.map((name) => `'${name}'`))}; got ${describe(logLevel)}`,
      'logLevel',
    );
  }
  return {
    tables,
    plugin: publication === null ? plugin : 'pgoutput',
    publication,
    partitions,
    keys,
    debounceMs,
    maxBatchWaitMs,
    maxPending,
    maxKeys,
    statusIntervalMs,
    livenessTimeoutMs,
    readPacingMs,
    failsafeMs,
    backoffInitialMs,
    backoffMaximumMs,
    firstConnectTimeoutMs,
    applicationName,
    logLevel,
  };
}

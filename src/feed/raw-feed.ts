// RawFeed: the feed contract at wal_level = replica, with no slot and no logical decoding (contract R27,
// R28). Its session body streams physical WAL (START_REPLICATION PHYSICAL, no slot) and decodes it in the
// client (physical-stream.ts), and names relation files over a second, ordinary connection to the same
// database (relation-resolver.ts). Connecting, reconnecting, link timers and the iterator come from Feed
// and Supervisor, the status replies from replication-stream.ts.
import { WalDecodeError } from '../decode/wal/wal-error.js';
import { ConnectionError, PgnudgeError, ProtocolError, UnsupportedServerError } from '../errors.js';
import type { BoundLogger } from '../logger.js';
import { formatLsn } from '../protocol/lsn.js';
import { PgConnection, type QueryResult } from '../transport/connection.js';
import { type ConnectionSettings, describeTarget } from '../transport/settings.js';
import type { Clock, TimerHandle } from './clock.js';
import { Feed, type FeedBody, type FeedInternals, type FeedSetup, type FeedSink, feedSetup } from './feed.js';
import {
  DEFAULTS,
  RAW_FEED_OPTION_NAMES,
  type RawFeedOptions,
  type ResolvedFeedOptions,
  type WalFeedOptions,
} from './options.js';
import {
  checkReadable,
  formatStartPhysical,
  parseIdentifySystem,
  parseServerFacts,
  parseStartPoint,
  SERVER_FACTS_QUERY,
  START_QUERY,
  startPosition,
} from './physical-start.js';
import { type NameCatalogFiles, PhysicalStream } from './physical-stream.js';
import { formatLookup, parseLookup, RelationCache, type RelFile } from './relation-names.js';
import { type LookupRequest, RelationResolver, retryDelayMs } from './relation-resolver.js';
import { negotiateStatusInterval, startReplicationStream } from './replication-stream.js';
import type { Session } from './session.js';
import { TableFilter } from './tables.js';

/**
 * Settings of the catalog connection that its lookups depend on, pinned in its startup packet (contract R21):
 * a role's idle_session_timeout would end the connection between lookups, and its statement_timeout
 * could cancel one; either would turn into a reconnect and a Resync.
 */
const CATALOG_SETTINGS = { idle_session_timeout: '0', statement_timeout: '0' } as const;

/**
 * A change feed over physical WAL, for servers at `wal_level = replica`: no slot, no logical decoding,
 * nothing left on the server. Iterate it with `for await`: the first item of every connection is a
 * `Resync`; after it, `Batch`es name the tables that changed. It reads the whole cluster's WAL; see
 * docs/rawfeed.md for what that costs and what it cannot see.
 */
export class RawFeed extends Feed {
  readonly #body: PhysicalSessions;

  constructor(options: RawFeedOptions = {}, internals: FeedInternals = {}) {
    const setup = feedSetup('RawFeed', options as WalFeedOptions, internals, RAW_FEED_OPTION_NAMES);
    const body = new PhysicalSessions(setup);
    super(setup, body);
    this.#body = body;
  }

  /** The position of the next WAL byte the current session expects, or null while not streaming. */
  get position(): bigint | null {
    return this.#body.position;
  }
}

/** RawFeed's sessions: a physical walsender, an ordinary catalog connection, the WAL decoded in between. */
class PhysicalSessions implements FeedBody<PgConnection> {
  readonly target: string;
  readonly #settings: ConnectionSettings;
  readonly #options: ResolvedFeedOptions;
  readonly #log: BoundLogger;
  readonly #clock: Clock;
  readonly #filter: TableFilter | null;
  #stream: PhysicalStream | null = null;

  constructor(setup: FeedSetup) {
    this.target = describeTarget(setup.settings);
    this.#settings = setup.settings;
    this.#options = setup.options;
    this.#log = setup.log;
    this.#clock = setup.clock;
    this.#filter = setup.options.tables ? new TableFilter(setup.options.tables) : null;
  }

  get position(): bigint | null {
    return this.#stream?.position ?? null;
  }

  connect(signal: AbortSignal): Promise<PgConnection> {
    return PgConnection.connect(this.#settings, { replication: 'physical', logger: this.#log, signal });
  }

  /** One connection's life: open the catalog connection, start streaming, decode until the link fails. */
  async run(session: Session<PgConnection>, sink: FeedSink): Promise<never> {
    const { connection } = session;
    const log = this.#log;
    const ending = new AbortController();
    const timers = new Set<TimerHandle>();
    let catalog: PgConnection | null = null;
    try {
      log.info(
        `connected to ${connection.target} (${connection.tls ? 'TLS' : 'no TLS'}, ${connection.authMethod}, PostgreSQL ${connection.parameters.get('server_version') ?? '?'}, physical replication)`,
      );
      const statusIntervalMs = await negotiateStatusInterval(session, this.#options.statusIntervalMs, log);
      const identity = parseIdentifySystem(await this.#ask(session, connection, 'IDENTIFY_SYSTEM'));
      catalog = await session.wait(
        'the catalog connection',
        PgConnection.connect(this.#settings, {
          replication: 'off',
          logger: log,
          signal: ending.signal,
          pinnedSettings: CATALOG_SETTINGS,
        }),
      );
      // The catalog connection is part of the session: when it ends, so does the stream.
      catalog.onClose((error) => {
        if (!ending.signal.aborted) connection.fail(catalogLost(error));
      });
      const facts = parseServerFacts(await this.#ask(session, catalog, SERVER_FACTS_QUERY));
      const major = checkReadable(facts);
      if (typeof major !== 'number') throw major;
      const { watermark, runningAtStart } = parseStartPoint(
        await session.wait('a catalog query', catalog.query(START_QUERY)),
      );
      const start = startPosition(identity.flushLsn);

      const catalogFiles = new Map(facts.nameCatalogs);
      const resolver = new RelationResolver(
        new RelationCache(),
        { filter: this.#filter, partitions: 'root' },
        {
          change: (payload, count) => sink.change(payload, count),
          holding: (held) => sink.holding?.(held),
          resync: (why) => {
            log.info(`Resync('overflow'): ${why}`);
            sink.resync('overflow');
          },
          nameCatalogFound: (name, _kind, file) => {
            catalogFiles.set(name, file);
            stream.nameCatalogs = nameCatalogFiles(catalogFiles);
          },
        },
      );
      const lookups = new Lookups(resolver, catalog, this.#clock, timers, this.#lookupTimeoutMs(), (error) =>
        connection.fail(error),
      );
      const stream = new PhysicalStream(
        {
          startLsn: start,
          segmentSize: facts.segmentSize,
          major,
          dbOid: facts.dbOid,
          watermark,
          runningAtStart,
          nameCatalogs: nameCatalogFiles(catalogFiles),
        },
        {
          release: (release) => {
            resolver.release(release);
            lookups.pump();
          },
          resync: (why) => {
            resolver.resync(why);
            lookups.pump();
          },
        },
      );
      this.#stream = stream;
      await startReplicationStream(
        session,
        formatStartPhysical(start, identity.timeline),
        {
          // `message` is the connection's one XLogData view: its walStart is read now, never kept.
          data: (data, message) => {
            try {
              stream.data(data, message.walStart);
            } catch (error) {
              // WAL of a format pgnudge does not know (a byte-swapped or newer page magic) never heals.
              if (error instanceof WalDecodeError && error.reason === 'magic') {
                session.fail(new UnsupportedServerError(error.message, { cause: error }));
              }
              throw error;
            }
          },
        },
        statusIntervalMs,
        log,
        this.#options.readPacingMs,
        'written',
      );
      // contract R1: the Resync goes out only now that the server answered with CopyBothResponse; the
      // resolver's wakeups follow it, never precede it.
      session.live();
      resolver.start();
      lookups.pump();
      log.info(
        `streaming physical WAL from ${formatLsn(start)} on timeline ${identity.timeline} (watermark ${formatLsn(watermark)}, ${runningAtStart.length} transactions running)`,
      );
      return await session.ended;
    } finally {
      ending.abort();
      for (const timer of timers) this.#clock.clearTimer(timer);
      catalog?.abort();
      this.#stream = null;
    }
  }

  /** Runs `sql` on `on` within the link's watchdog (contract R8) and returns its last result. */
  async #ask(
    session: Session<PgConnection>,
    on: PgConnection,
    sql: string,
  ): Promise<QueryResult | undefined> {
    const what = sql.startsWith('SELECT') ? 'a catalog query' : sql;
    const results = await session.wait(what, on.query(sql));
    return results[results.length - 1];
  }

  /** How long one catalog lookup may take while streaming, when no silence on the stream bounds it. */
  #lookupTimeoutMs(): number {
    return this.#options.livenessTimeoutMs ?? DEFAULTS.livenessTimeout;
  }
}

/** The catalog connection ended: the session ends with it, as a lost connection (reconnect, Resync). */
function catalogLost(error: PgnudgeError): PgnudgeError {
  return error.retryable
    ? error
    : new ConnectionError('PGNUDGE_ERR_CONNECTION', `the catalog connection ended: ${error.message}`, {
        cause: error,
      });
}

function nameCatalogFiles(files: ReadonlyMap<string, RelFile>): NameCatalogFiles {
  const renames: RelFile[] = [];
  const parents: RelFile[] = [];
  for (const [name, file] of files) {
    if (name === 'pg_inherits') parents.push(file);
    else renames.push(file);
  }
  return { renames, parents };
}

/**
 * Runs the resolver's lookups on the catalog connection, one at a time, each bounded by `timeoutMs`. A
 * failure or a timeout ends the session through `fail`. Timers are the session's, cleared when it ends.
 */
class Lookups {
  readonly #resolver: RelationResolver;
  readonly #catalog: PgConnection;
  readonly #clock: Clock;
  readonly #timers: Set<TimerHandle>;
  readonly #timeoutMs: number;
  readonly #fail: (error: PgnudgeError) => void;
  #running = false;

  constructor(
    resolver: RelationResolver,
    catalog: PgConnection,
    clock: Clock,
    timers: Set<TimerHandle>,
    timeoutMs: number,
    fail: (error: PgnudgeError) => void,
  ) {
    this.#resolver = resolver;
    this.#catalog = catalog;
    this.#clock = clock;
    this.#timers = timers;
    this.#timeoutMs = timeoutMs;
    this.#fail = fail;
  }

  /** Starts the lookup the resolver waits for, unless one is already running. */
  pump(): void {
    if (this.#running || this.#catalog.closed) return;
    const request = this.#resolver.request();
    if (request === undefined) return;
    this.#running = true;
    this.#run(request).then(
      () => {
        this.#running = false;
      },
      (error: unknown) => {
        this.#running = false;
        this.#fail(
          error instanceof PgnudgeError
            ? error
            : new ProtocolError(`a catalog lookup failed: ${String(error)}`, {}, { cause: error }),
        );
      },
    );
  }

  async #run(first: LookupRequest): Promise<void> {
    let request: LookupRequest | undefined = first;
    while (request !== undefined && !this.#catalog.closed) {
      const delay = retryDelayMs(request.attempt);
      if (delay > 0) await this.#sleep(delay);
      const results = await this.#bounded(this.#catalog.query(formatLookup(request.items)));
      const answer = parseLookup(results[results.length - 1], request.items.length);
      request = this.#resolver.answer(request, answer) ?? this.#resolver.request();
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.#clock.setTimer(ms, () => {
        this.#timers.delete(timer);
        resolve();
      });
      this.#timers.add(timer);
    });
  }

  /** `pending`, or a liveness failure of the catalog connection after timeoutMs. */
  #bounded<T>(pending: Promise<T>): Promise<T> {
    let timer: TimerHandle | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = this.#clock.setTimer(this.#timeoutMs, () => {
        this.#timers.delete(timer);
        const error = new ConnectionError(
          'PGNUDGE_ERR_LIVENESS_TIMEOUT',
          `no answer to a catalog lookup from ${this.#catalog.target} in ${this.#timeoutMs} ms; the link is dead`,
        );
        this.#catalog.fail(error);
        reject(error);
      });
      this.#timers.add(timer);
    });
    return Promise.race([pending, timedOut]).finally(() => {
      this.#clock.clearTimer(timer);
      this.#timers.delete(timer);
    });
  }
}

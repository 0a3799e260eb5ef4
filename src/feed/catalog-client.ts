// The shell around a session's RelationCatalog (catalog.ts): a second, ordinary connection (a walsender that
// streams cannot run queries), opened on the first question and ended with the session; one query in
// flight at a time, each bounded by a watchdog like every other wait (contract R8); the one timer that
// defers a re-check; and what an answer means for the feed (held changes released, or a Resync). The
// stream never waits for any of it: changes to a relation being looked up are held, not blocked.

import { asPgnudgeError } from '../as-pgnudge-error.js';
import { FeedClosedError, type PgnudgeError } from '../errors.js';
import type { BoundLogger } from '../logger.js';
import type { QueryResult } from '../protocol/query-response.js';
import type { CatalogEntry, CatalogQuery, RelationCatalog } from './catalog.js';
import { formatDescribeRelations, parseDescribeRelations } from './catalog-query.js';
import type { Clock, TimerHandle } from './clock.js';
import type { FeedSink } from './feed.js';
import { Link, type LinkEnd, type LinkTiming } from './link.js';

/** What the catalog client needs of its connection: PgConnection (replication off) has it. */
export interface CatalogConnection extends LinkEnd {
  query(sql: string): Promise<QueryResult[]>;
}

export interface CatalogClientOptions {
  readonly catalog: RelationCatalog;
  /** Whether lookups also ask for key columns (row keys on, contract R23). */
  readonly keys: boolean;
  /** Opens the ordinary connection; gives up when `signal` aborts. */
  connect(signal: AbortSignal): Promise<CatalogConnection>;
  /** Where released changes and Resyncs go. */
  readonly sink: FeedSink;
  /** Ends the session: a lookup that failed leaves changes nowhere to go, so the feed reconnects and resyncs. */
  fail(error: PgnudgeError): void;
  readonly clock: Clock;
  /** The feed's link timing: a lookup unanswered past livenessTimeout means a dead link. */
  readonly timing: LinkTiming;
  readonly log: BoundLogger;
}

/** Asks the catalog for one session. Created with the session, closed when it ends. */
export class CatalogClient {
  readonly #options: CatalogClientOptions;
  readonly #catalog: RelationCatalog;
  readonly #clock: Clock;
  readonly #abort = new AbortController();
  #connection: CatalogConnection | null = null;
  #inFlight = false;
  #timer: TimerHandle | null = null;
  #saidHolding = false;
  #closed = false;

  constructor(options: CatalogClientOptions) {
    this.#options = options;
    this.#catalog = options.catalog;
    this.#clock = options.clock;
  }

  /** A change to a relation the cache does not know: held until its lookup answers. */
  hold(schema: string, table: string, count = 1): void {
    if (this.#closed) return;
    if (!this.#catalog.hold(schema, table, count, this.#clock.now())) {
      const held = this.#catalog.heldRelations;
      this.#catalog.dropHeld();
      this.#options.log.warn(
        `changes to ${held} relations unknown to the cache are waiting for their catalog lookup, the most pgnudge holds (maxPending); dropping them for Resync('overflow')`,
      );
      this.#say(false);
      this.#options.sink.resync('overflow');
      return;
    }
    this.#say(true);
    this.#pump();
  }

  /** A change used `entry` (whose `seen` flag was false): it is re-checked soon. */
  use(entry: CatalogEntry): void {
    if (this.#catalog.use(entry)) this.#pump();
  }

  /** Ends the connection and the timer; later calls do nothing. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#say(false);
    this.#abort.abort();
    this.#connection?.abort();
    this.#connection = null;
    if (this.#timer !== null) this.#clock.clearTimer(this.#timer);
    this.#timer = null;
  }

  /** Tells the sink whether changes are held (BatchEngine.holding), once per change of answer. */
  #say(holding: boolean): void {
    if (holding === this.#saidHolding) return;
    this.#saidHolding = holding;
    this.#options.sink.holding?.(holding);
  }

  /** Sends the next query if one is due and none is in flight, else arms the timer for the next re-check. */
  #pump(): void {
    if (this.#closed || this.#inFlight) return;
    const now = this.#clock.now();
    const query = this.#catalog.nextQuery(now);
    if (query !== null) {
      this.#inFlight = true;
      void this.#ask(query);
      return;
    }
    const at = this.#catalog.nextQueryAtMs();
    if (at === null || this.#timer !== null) return;
    this.#timer = this.#clock.setTimer(Math.max(0, at - now), () => {
      this.#timer = null;
      this.#pump();
    });
  }

  async #ask(query: CatalogQuery): Promise<void> {
    const { sink, log } = this.#options;
    try {
      const sql = formatDescribeRelations(query.relations, this.#options.keys);
      const connection = this.#connection ?? (await this.#open());
      const results = await this.#answer(connection, sql);
      if (this.#closed) return;
      const outcome = this.#catalog.answer(query, parseDescribeRelations(results, query.relations.length));
      for (const release of outcome.releases)
        sink.change(release.payload, release.count, release.firstSeenMs);
      this.#say(this.#catalog.heldRelations > 0);
      if (outcome.resync) {
        log.info(
          "the catalog contradicts what a change was reported under (a partition attached or detached, a table renamed or dropped): Resync('overflow') (contract R20)",
        );
        sink.resync('overflow');
      }
      this.#inFlight = false;
      this.#pump();
    } catch (error) {
      if (this.#closed) return;
      const failure = asPgnudgeError(error);
      log.warn(`the catalog lookup failed (${failure.message}); ending the session`);
      this.close();
      this.#options.fail(failure);
    }
  }

  async #open(): Promise<CatalogConnection> {
    const connection = await this.#options.connect(this.#abort.signal);
    if (this.#closed) {
      connection.abort();
      throw new FeedClosedError();
    }
    // A connection that ends while idle (idle_session_timeout, a restart of its backend) is opened again
    // by the next question; one that ends during a query fails that query, and with it the session.
    connection.onClose(() => {
      if (this.#connection === connection) this.#connection = null;
    });
    this.#connection = connection;
    this.#options.log.debug(`catalog connection to ${connection.target} open`);
    return connection;
  }

  /** `sql`'s results; a link silent past livenessTimeout fails the connection and so the query. */
  async #answer(connection: CatalogConnection, sql: string): Promise<QueryResult[]> {
    const link = new Link(this.#clock, connection, this.#options.timing);
    link.expect('the catalog lookup');
    try {
      return await connection.query(sql);
    } finally {
      link.stop();
    }
  }
}

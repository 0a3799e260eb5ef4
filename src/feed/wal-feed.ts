// WalFeed: a feed over a TEMPORARY logical replication slot (contract §3, R1–R16). Its session body creates
// the slot and streams from it through a logical decoder; connecting, reconnecting, link timers and
// the iterator come from Feed and Supervisor, the status replies from replication-stream.ts.
import type { AutoPluginName, ChangeOp, Decoder, PluginName, RowImages } from '../decode/change.js';
import { createTestDecodingDecoder } from '../decode/test-decoding.js';
import { createWal2jsonDecoder } from '../decode/wal2json.js';
import { PgnudgeError } from '../errors.js';
import { type BoundLogger, printable } from '../logger.js';
import { PgConnection } from '../transport/connection.js';
import { type ConnectionSettings, describeTarget } from '../transport/settings.js';
import { type CatalogEntry, RelationCatalog } from './catalog.js';
import { CatalogClient } from './catalog-client.js';
import { formatDescribeScope, parseDescribeRelations, type RelationFacts } from './catalog-query.js';
import type { Clock } from './clock.js';
import { formatCreateSlot, formatStartReplication, generateSlotName } from './commands.js';
import { Feed, type FeedBody, type FeedInternals, type FeedSetup, type FeedSink, feedSetup } from './feed.js';
import type { ResolvedFeedOptions, WalFeedOptions } from './options.js';
import { type PgoutputSession, preparePgoutput } from './pgoutput-session.js';
import {
  negotiateStatusInterval,
  type StreamConsumer,
  startReplicationStream,
} from './replication-stream.js';
import { RowEvents } from './row-events.js';
import type { Session } from './session.js';
import { formatPayload, TableFilter, type TableName } from './tables.js';
import { describeWatched, warnMissingTables } from './watched-tables.js';

/** The least time between two re-checks of the relations a session's changes used (catalog.ts rule 3). */
const RECHECK_INTERVAL_MS = 1000;

/**
 * How one session places a change (contract R14, R20): `names` drops a relation the `tables` filter does not
 * name, before anything else; `catalog`, when set, places the rest by their catalog facts (partition root,
 * a filter entry above them); without it a change is reported under its own name.
 */
interface Routing {
  readonly names: TableFilter | null;
  readonly catalog: CatalogClient | null;
  readonly cache: RelationCatalog | null;
}

/**
 * Why creating a slot on a hot standby (PostgreSQL 16+, contract R26) can take long, and what ends the wait: the
 * standby needs a running-transactions record from the primary, which an idle primary logs every 15 s
 * and only after other WAL (docs/reliability.md, "Hot standby").
 */
const STANDBY_SLOT_WAIT =
  'a logical slot on a standby waits for the primary to log a running-transactions record, up to 15 s on an idle primary and longer on a quiet one; running SELECT pg_log_standby_snapshot() on the primary ends the wait';

/**
 * A change feed over a TEMPORARY logical replication slot. Iterate it with `for await`: the first item
 * of every connection is a `Resync`; after it, `Batch`es name the tables that changed. Ending the
 * iteration (`break`, `close()`, the `signal`, `await using`) destroys the socket and every timer.
 */
export class WalFeed extends Feed {
  readonly #body: SlotSessions;

  constructor(options: WalFeedOptions = {}, internals: FeedInternals = {}) {
    const setup = feedSetup('WalFeed', options, internals);
    const body = new SlotSessions(setup);
    super(setup, body);
    this.#body = body;
  }

  /** The plugin in use once a slot was created (after `auto` resolved), else null. */
  get plugin(): PluginName | null {
    return this.#body.plugin;
  }

  /** The current temporary slot's name, or null while not connected. */
  get slotName(): string | null {
    return this.#body.slotName;
  }
}

/** WalFeed's sessions: a walsender connection, a fresh TEMPORARY slot, a logical decoder. */
class SlotSessions implements FeedBody<PgConnection> {
  readonly target: string;
  readonly #settings: ConnectionSettings;
  readonly #options: ResolvedFeedOptions;
  readonly #log: BoundLogger;
  readonly #filter: TableFilter | null;
  readonly #clock: Clock;
  /** The publication warnings said already (pgoutput-session.ts), so reconnects do not repeat them. */
  readonly #warned = new Set<string>();
  #plugin: PluginName | null = null;
  #slotName: string | null = null;
  #tablesChecked = false;

  constructor(setup: FeedSetup) {
    this.target = describeTarget(setup.settings);
    this.#settings = setup.settings;
    this.#options = setup.options;
    this.#log = setup.log;
    this.#filter = setup.options.tables ? new TableFilter(setup.options.tables) : null;
    this.#clock = setup.clock;
  }

  /** The plugin of the last slot created, kept for every reconnect. */
  get plugin(): PluginName | null {
    return this.#plugin;
  }

  /** The current session's slot, or null. */
  get slotName(): string | null {
    return this.#slotName;
  }

  connect(signal: AbortSignal): Promise<PgConnection> {
    return PgConnection.connect(this.#settings, { replication: 'database', logger: this.#log, signal });
  }

  /** One connection's life: create the slot, stream until the link fails. Always throws. */
  async run(session: Session<PgConnection>, sink: FeedSink): Promise<never> {
    const { connection } = session;
    const log = this.#log;
    let pgoutput: PgoutputSession | null = null;
    let routing: Routing | null = null;
    try {
      log.info(
        `connected to ${connection.target} (${connection.tls ? 'TLS' : 'no TLS'}, ${connection.authMethod}, PostgreSQL ${connection.parameters.get('server_version') ?? '?'})`,
      );
      // contract R8 before the stream is live, where no status update can ask for a reply: the link's watchdog
      // bounds each wait, except CREATE_REPLICATION_SLOT's (see #createSlot).
      if (this.#options.publication !== null) {
        pgoutput = await preparePgoutput(
          session,
          {
            settings: this.#settings,
            options: { ...this.#options, publication: this.#options.publication },
            log,
            now: () => this.#clock.now(),
          },
          this.#warned,
        );
      }
      // The table check, SHOW and CREATE_REPLICATION_SLOT go out together (the connection pipelines
      // them): one round trip.
      const checked = this.#checkTables(session);
      checked.catch(() => {}); // the slot's failure is the one to report; the check's is the same link's
      const cadence = negotiateStatusInterval(session, this.#options.statusIntervalMs, log);
      cadence.catch(() => {}); // the slot's failure is the one to report; SHOW's is the same link's
      const plugin = await this.#createSlot(session);
      const statusIntervalMs = await cadence;
      await checked;
      let command: string;
      let consumer: StreamConsumer;
      if (pgoutput !== null) {
        // pgoutput places changes itself, by relation OID (pgoutput-session.ts, relation-lineage.ts).
        command = pgoutput.start(this.#slotName!);
        consumer = pgoutput.consumer(sink);
      } else {
        const known = await this.#describeScope(session);
        routing = this.#routing(session, sink, known);
        const decoding = plugin as AutoPluginName;
        // wal2json filters on the server only when the names alone decide (see #routing).
        const serverTables = decoding === 'wal2json' && routing.names !== null ? this.#options.tables : null;
        if (decoding === 'wal2json' && this.#options.tables !== null && serverTables === null) {
          log.info(
            'wal2json sends every table and the client filters: a watched table is partitioned or does not exist yet, and add-tables would drop the partitions created under it later (contract R20)',
          );
        }
        command = formatStartReplication(this.#slotName!, decoding, serverTables);
        consumer = this.#consumer(decoding, sink, routing);
      }
      await startReplicationStream(
        session,
        command,
        consumer,
        statusIntervalMs,
        log,
        this.#options.readPacingMs,
      );
      // contract R1: the Resync goes out only now that the server answered with CopyBothResponse.
      session.live();
      log.info(
        `streaming from slot ${this.#slotName} (${plugin}); watching ${describeWatched(this.#options.tables)}`,
      );
      return await session.ended;
    } finally {
      routing?.catalog?.close();
      this.#slotName = null;
      pgoutput?.close();
    }
  }

  /** Once per feed, before its first stream: warns about each watched table that does not exist (contract R14). */
  async #checkTables(session: Session<PgConnection>): Promise<void> {
    const tables = this.#options.tables;
    if (tables === null || this.#tablesChecked) return;
    await warnMissingTables(
      (sql) => session.wait('the query for the watched tables', session.connection.query(sql)),
      tables,
      this.#log,
    );
    this.#tablesChecked = true;
  }

  /**
   * What the catalog says, before the stream starts, of the relations this session will most likely see:
   * each `tables` entry and every partition below it, or, with row keys on and no `tables`, every table
   * (at most maxPending relations). Asked on the walsender, which runs SQL until the stream starts. Null
   * when there is nothing to ask.
   */
  async #describeScope(session: Session<PgConnection>): Promise<RelationFacts[] | null> {
    const { tables, keys, maxPending } = this.#options;
    if (tables === null && !keys) return null;
    const results = await session.wait(
      'the catalog lookup',
      session.connection.query(formatDescribeScope(tables, keys, maxPending)),
    );
    return parseDescribeRelations(results, maxPending).filter((facts) => facts !== null);
  }

  /**
   * This session's routing. When every `tables` entry exists and none is partitioned, no relation the entries
   * do not name can belong under one (an ordinary table has no partitions), so names decide what is kept,
   * and wal2json may filter on the server. The catalog is still needed to name a kept change under its
   * partition root or to find its key columns, and, when an entry is partitioned or missing, to find the
   * partitions below it.
   */
  #routing(session: Session<PgConnection>, sink: FeedSink, known: RelationFacts[] | null): Routing {
    const { tables, keys, partitions } = this.#options;
    const byName =
      tables !== null && known !== null && tables.every((entry) => isOrdinaryTable(known, entry));
    const names = byName ? this.#filter : null;
    if (partitions === 'leaf' && !keys && (tables === null || byName)) {
      return { names, catalog: null, cache: null };
    }
    const cache = new RelationCatalog({
      naming: partitions,
      filter: this.#filter,
      maxHeld: this.#options.maxPending,
      refreshIntervalMs: RECHECK_INTERVAL_MS,
    });
    for (const facts of known ?? []) cache.learn(facts.lineage[0]!, facts);
    const catalog = new CatalogClient({
      catalog: cache,
      keys,
      connect: (signal) =>
        PgConnection.connect(this.#settings, { replication: 'off', logger: this.#log, signal }),
      sink,
      fail: (error) => session.connection.fail(error),
      clock: this.#clock,
      timing: this.#options,
      log: this.#log,
    });
    return { names, catalog, cache };
  }

  /**
   * Creates this session's slot with the chosen plugin; with `auto`, wal2json, else test_decoding (contract R15),
   * and then the same plugin on every reconnect.
   */
  async #createSlot(session: Session<PgConnection>): Promise<PluginName> {
    const choice = this.#options.plugin;
    if (choice !== 'auto') return this.#create(session, choice);
    if (this.#plugin !== null) return this.#create(session, this.#plugin);
    let unusable: string;
    try {
      return await this.#create(session, 'wal2json');
    } catch (error) {
      if (!(error instanceof PgnudgeError && error.code === 'PGNUDGE_ERR_PLUGIN_MISSING')) throw error;
      unusable = error.message;
    }
    const plugin = await this.#create(session, 'test_decoding');
    this.#log.warn(`wal2json is not usable on the server (${unusable}); using test_decoding (contract R15)`);
    return plugin;
  }

  async #create(session: Session<PgConnection>, plugin: PluginName): Promise<PluginName> {
    const slot = generateSlotName(() => crypto.getRandomValues(new Uint8Array(8)));
    const command = formatCreateSlot(slot, plugin);
    const { connection } = session;
    // PostgreSQL 14+ reports in_hot_standby with the session's parameters: no query needed.
    const standby = connection.parameters.get('in_hot_standby') === 'on';
    if (standby) this.#log.info(`${connection.target} is a hot standby: ${STANDBY_SLOT_WAIT}`);
    const started = this.#clock.now();
    // CREATE_REPLICATION_SLOT legitimately waits, silent, for every running transaction to end; giving
    // up on it would leave its walsender (and a slot) blocked on the server until they do, one more per
    // retry. So past livenessTimeout the wait is only reported.
    await session.wait('CREATE_REPLICATION_SLOT', connection.query(command), (waitedMs) =>
      this.#log.warn(
        `CREATE_REPLICATION_SLOT on ${connection.target} has waited ${waitedMs} ms: ${
          standby
            ? STANDBY_SLOT_WAIT
            : 'the server creates a slot only once every transaction running now has ended, so look for a long-running transaction (pg_stat_activity)'
        }; still waiting`,
      ),
    );
    this.#log.info(`created slot ${slot} (${plugin}) in ${Math.round(this.#clock.now() - started)} ms`);
    this.#slotName = slot;
    this.#plugin = plugin;
    return plugin;
  }

  /** What the stream's data and notices become: the plugin's decoder, routed into `sink`. */
  #consumer(plugin: AutoPluginName, sink: FeedSink, routing: Routing): StreamConsumer {
    const decoder: Decoder = plugin === 'wal2json' ? createWal2jsonDecoder() : createTestDecodingDecoder();
    const log = this.#log;
    const { names, catalog, cache } = routing;
    const rowEvents = this.#options.keys ? new RowEvents(sink) : null;
    const debug = log.enabled('debug');
    let lastSchema = '';
    let lastTable = '';
    let lastPayload = '';
    let lastEntry: CatalogEntry | undefined;
    // The clock is read once per socket read that brings a change, not once per change: NaN until then.
    const clock = this.#clock;
    let readMs = Number.NaN;
    const changed = (schema: string, table: string, op: ChangeOp, rows?: RowImages) => {
      if (names !== null && !names.matches(schema, table)) return;
      if (cache === null) {
        // Decoders hand back the same string objects for a repeated relation, so this is usually one compare.
        if (schema !== lastSchema || table !== lastTable) {
          lastSchema = schema;
          lastTable = table;
          lastPayload = formatPayload({ schema, table });
        }
        if (debug) log.debug(`${op} ${printable(lastPayload)}`);
        if (Number.isNaN(readMs)) readMs = clock.now();
        sink.change(lastPayload, 1, undefined, readMs);
        return;
      }
      let entry = schema === lastSchema && table === lastTable ? lastEntry : undefined;
      if (entry === undefined || !entry.cached) {
        entry = cache.entry(schema, table);
        if (entry === undefined) {
          if (debug) log.debug(`${op} ${printable(`${schema}.${table}`)}: held for its catalog lookup`);
          catalog!.hold(schema, table);
          return;
        }
        lastSchema = schema;
        lastTable = table;
        lastEntry = entry;
      }
      if (!entry.seen) catalog!.use(entry);
      if (entry.payload === null) return;
      if (debug) log.debug(`${op} ${printable(`${schema}.${table}`)} as ${printable(entry.payload)}`);
      if (Number.isNaN(readMs)) readMs = clock.now();
      if (rowEvents === null) sink.change(entry.payload, 1, undefined, readMs);
      else rowEvents.change(entry.payload, entry.key, op, rows, readMs);
    };
    // A change wal2json skipped is nudged from its warning (wal2json-notice.ts); said once per table,
    // since the server logs that WARNING for every such row.
    const skippedNamed = new Set<string>();
    const skipped = (schema: string, table: string, op: ChangeOp) => {
      changed(schema, table, op);
      if (names !== null && !names.matches(schema, table)) return;
      const payload = formatPayload({ schema, table });
      if (skippedNamed.has(payload)) return;
      skippedNamed.add(payload);
      log.info(
        `wal2json does not write UPDATE or DELETE rows of "${printable(payload)}", which has no replica identity (no primary key, or REPLICA IDENTITY NOTHING); pgnudge nudges it from the server's WARNING instead. Add a primary key or run ALTER TABLE ... REPLICA IDENTITY FULL to quiet the server log, or use plugin test_decoding`,
      );
    };
    return {
      data: (data) => decoder.decode(data, changed),
      read: () => {
        readMs = Number.NaN;
      },
      notice: (message) => decoder.notice?.(message, skipped),
    };
  }
}

/** Whether `known` describes `name` as an existing table that is not partitioned. */
function isOrdinaryTable(known: readonly RelationFacts[], name: TableName): boolean {
  return known.some((facts) => {
    const self = facts.lineage[0]!;
    return self.schema === name.schema && self.table === name.table && !facts.partitioned;
  });
}

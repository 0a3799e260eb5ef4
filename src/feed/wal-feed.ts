// WalFeed: one walsender session streaming from a TEMPORARY slot into the BatchEngine; reconnecting and
// the AsyncIterable shell come from EngineFeed and Supervisor (contract §3, R1–R16).
import type { ChangeOp, Decoder } from '../decode/change.js';
import { createTestDecodingDecoder } from '../decode/test-decoding.js';
import { createWal2jsonDecoder } from '../decode/wal2json.js';
import { ConnectionError, PgnudgeError, ServerError, type ServerErrorFields } from '../errors.js';
import { bindLogger } from '../logger.js';
import { formatLsn } from '../protocol/lsn.js';
import type { PrimaryKeepalive, XLogData } from '../protocol/replication.js';
import { PgConnection } from '../transport/connection.js';
import { type ConnectionSettings, describeTarget, resolveConnectionSettings } from '../transport/settings.js';
import { nodeSettingsIo } from '../transport/settings-io.js';
import { formatCreateSlot, formatStartReplication, generateSlotName } from './commands.js';
import { FeedCore } from './feed-core.js';
import { FeedShell } from './feed-shell.js';
import type { FeedInternals } from './internals.js';
import { type ResolvedFeedOptions, resolveFeedOptions, type WalFeedOptions } from './options.js';
import { parseServerDuration, statusCadence } from './status-cadence.js';
import { startLinkTimers } from './supervisor.js';
import { TableFilter } from './tables.js';

type Plugin = 'wal2json' | 'test_decoding';

export type { FeedInternals } from './internals.js';

/**
 * A change feed over a TEMPORARY logical replication slot. Iterate it with `for await`: the first item
 * of every connection is a `Resync`; after it, `Batch`es name the tables that changed. Ending the
 * iteration (`break`, `close()`, the `signal`, `await using`) destroys the socket and every timer.
 */
export class WalFeed extends FeedShell {
  readonly #core: FeedCore;
  readonly #options: ResolvedFeedOptions;
  readonly #settings: ConnectionSettings;
  readonly #filter: TableFilter | null;
  #resolvedPlugin: Plugin | null = null;
  #slotName: string | null = null;

  constructor(options: WalFeedOptions = {}, internals: FeedInternals = {}) {
    const resolved = resolveFeedOptions(options);
    const log = bindLogger(options.logger);
    // The core calls the session only once iterated, long after `self` is set.
    let self: WalFeed | null = null;
    const core = new FeedCore('WalFeed', resolved, log, options.signal, internals, () => self!.#session());
    super(core);
    self = this;
    this.#core = core;
    this.#options = resolved;
    const env = internals.env ?? process.env;
    const settings = resolveConnectionSettings(options, env, nodeSettingsIo(env, log));
    this.#settings = {
      ...settings,
      applicationName: settings.applicationName ?? this.#options.applicationName,
    };
    this.#filter = this.#options.tables ? new TableFilter(this.#options.tables) : null;
  }

  /** The plugin in use once a slot was created (after `auto` resolved), else null. */
  get plugin(): Plugin | null {
    return this.#resolvedPlugin;
  }

  /** The current temporary slot's name, or null while not connected. */
  get slotName(): string | null {
    return this.#slotName;
  }

  /** Where the feed connects, without the password. */
  get target(): string {
    return describeTarget(this.#settings);
  }

  /** One connection's life: connect, create the slot, stream until the link fails. Always throws. */
  async #session(): Promise<never> {
    const { clock, engine, log, supervisor } = this.#core;
    const connection = await PgConnection.connect(this.#settings, {
      replication: 'database',
      logger: log,
      signal: supervisor.signal,
    });
    const ended = supervisor.attach(connection);
    let stopTimers = () => {};
    // contract R8 before the stream is live, where no status update can ask for a reply. CREATE_REPLICATION_SLOT
    // legitimately waits, silent, for every running transaction to end; giving up on it would leave its
    // walsender (and a slot) blocked on the server until they do, one more per retry. So past
    // livenessTimeout it is only reported. START_REPLICATION is answered at once, so a silent wait there
    // is a dead link: without this deadline the feed would wait forever.
    const limitMs = this.#options.livenessTimeoutMs;
    let handshake: unknown = null;
    const arm = (onSilence: (ms: number) => void) => {
      if (handshake !== null) clock.clearTimer(handshake);
      handshake = limitMs === null ? null : clock.setTimer(limitMs, () => onSilence(limitMs));
    };
    const disarm = () => {
      if (handshake !== null) clock.clearTimer(handshake);
      handshake = null;
    };
    try {
      log.info(
        `connected to ${connection.target} (${connection.tls ? 'TLS' : 'no TLS'}, ${connection.authMethod}, PostgreSQL ${connection.parameters.get('server_version') ?? '?'})`,
      );
      const dead = (command: string) => (ms: number) =>
        connection.fail(
          new ConnectionError(
            'PGNUDGE_ERR_LIVENESS_TIMEOUT',
            `no answer to ${command} from ${connection.target} in ${ms} ms (livenessTimeout ${ms} ms); the link is dead`,
          ),
        );
      arm(dead('SHOW wal_sender_timeout'));
      const statusIntervalMs = await this.#statusInterval(connection, ended);
      arm((ms) =>
        log.warn(
          `CREATE_REPLICATION_SLOT on ${connection.target} has waited ${ms} ms: the server creates a slot only once every transaction running now has ended, so look for a long-running transaction (pg_stat_activity); still waiting`,
        ),
      );
      const plugin = await this.#createSlot(connection);
      const decoder = plugin === 'wal2json' ? createWal2jsonDecoder() : createTestDecodingDecoder();
      const stream = this.#streamState(connection, decoder);
      arm(dead('START_REPLICATION'));
      await Promise.race([
        connection.startReplication(
          formatStartReplication(this.#slotName!, plugin, this.#options.tables),
          stream,
        ),
        ended,
      ]);
      disarm();
      // contract R1: the Resync goes out only now that the server answered with CopyBothResponse.
      engine.resync(supervisor.everLive ? 'reconnected' : 'connected');
      supervisor.live();
      log.info(`streaming from slot ${this.#slotName} (${plugin})`);
      // contract R8: the status update asks for a reply, which is what keeps a healthy link from looking dead.
      stopTimers = startLinkTimers(clock, connection, {
        pingIntervalMs: statusIntervalMs,
        livenessTimeoutMs: this.#options.livenessTimeoutMs,
        ping: () => stream.sendStatus(true),
      });
      return await ended;
    } finally {
      disarm();
      stopTimers();
      supervisor.release(connection);
      this.#slotName = null;
    }
  }

  /**
   * The status cadence for this session: statusInterval, shortened to fit the server's
   * wal_sender_timeout (see status-cadence.ts). A server that cannot say keeps the configured one.
   */
  async #statusInterval(connection: PgConnection, ended: Promise<never>): Promise<number> {
    const configured = this.#options.statusIntervalMs;
    const { log } = this.#core;
    let text: string | null | undefined;
    try {
      const [result] = await Promise.race([connection.query('SHOW wal_sender_timeout'), ended]);
      text = result?.rows[0]?.[0];
    } catch (error) {
      if (!(error instanceof ServerError)) throw error;
      log.debug(`SHOW wal_sender_timeout failed (${error.message}); status every ${configured} ms`);
      return configured;
    }
    const timeoutMs = typeof text === 'string' ? parseServerDuration(text) : null;
    const cadence = statusCadence(configured, timeoutMs);
    if (cadence !== configured) {
      log.info(
        `the server's wal_sender_timeout is ${text}: status updates every ${cadence} ms instead of statusInterval ${configured} ms, so a session that lags behind the stream is not taken for a dead one`,
      );
    }
    return cadence;
  }

  async #createSlot(connection: PgConnection): Promise<Plugin> {
    const choice = this.#options.plugin;
    const candidates: Plugin[] =
      choice === 'auto'
        ? this.#resolvedPlugin
          ? [this.#resolvedPlugin]
          : ['wal2json', 'test_decoding']
        : [choice];
    let unusable = '';
    for (const plugin of candidates) {
      const slot = generateSlotName(() => crypto.getRandomValues(new Uint8Array(8)));
      try {
        await connection.query(formatCreateSlot(slot, plugin));
        this.#slotName = slot;
        if (choice === 'auto' && this.#resolvedPlugin === null && plugin !== candidates[0]) {
          this.#core.log.warn(
            `wal2json is not usable on the server (${unusable}); using test_decoding (contract R15)`,
          );
        }
        this.#resolvedPlugin = plugin;
        return plugin;
      } catch (error) {
        const missing = error instanceof PgnudgeError && error.code === 'PGNUDGE_ERR_PLUGIN_MISSING';
        if (!missing || plugin === candidates[candidates.length - 1]) throw error;
        unusable = error.message;
      }
    }
    throw new Error('unreachable: no plugin candidates');
  }

  #streamState(connection: PgConnection, decoder: Decoder) {
    const { engine, log } = this.#core;
    const filter = this.#filter;
    const debug = log.enabled('debug');
    let lastSchema = '';
    let lastTable = '';
    let lastPayload = '';
    const sink = (schema: string, table: string, op: ChangeOp) => {
      if (filter !== null && !filter.matches(schema, table)) return;
      // Decoders hand back the same string objects for a repeated relation, so this is usually one compare.
      if (schema !== lastSchema || table !== lastTable) {
        lastSchema = schema;
        lastTable = table;
        lastPayload = `${schema}.${table}`;
      }
      if (debug) log.debug(`${op} ${lastPayload}`);
      engine.change(lastPayload);
    };
    // A change wal2json skipped is nudged from its warning (wal2json-notice.ts); said once per table,
    // since the server logs that WARNING for every such row.
    const skippedNamed = new Set<string>();
    const skipped = (schema: string, table: string, op: ChangeOp) => {
      sink(schema, table, op);
      if (filter !== null && !filter.matches(schema, table)) return;
      const payload = `${schema}.${table}`;
      if (skippedNamed.has(payload)) return;
      skippedNamed.add(payload);
      log.info(
        `wal2json does not write UPDATE or DELETE rows of ${JSON.stringify(payload)}, which has no replica identity (no primary key, or REPLICA IDENTITY NOTHING); pgnudge nudges it from the server's WARNING instead. Add a primary key or run ALTER TABLE ... REPLICA IDENTITY FULL to quiet the server log, or use plugin test_decoding`,
      );
    };
    const state = {
      confirmed: 0n,
      xlogData(message: XLogData) {
        if (message.walEnd > state.confirmed) state.confirmed = message.walEnd;
        decoder.decode(message.data, sink);
      },
      notice(fields: ServerErrorFields) {
        decoder.notice?.(fields.message, skipped);
      },
      keepalive(message: PrimaryKeepalive) {
        if (message.walEnd > state.confirmed) state.confirmed = message.walEnd;
        // Answer at once when asked, or the server's wal_sender_timeout ends the session.
        if (message.replyRequested) state.sendStatus(false);
      },
      sendStatus(replyRequested: boolean) {
        const lsn = state.confirmed;
        connection.sendStatusUpdate({ write: lsn, flush: lsn, apply: lsn, replyRequested });
        if (log.enabled('trace')) log.trace(`> StandbyStatusUpdate ${formatLsn(lsn)}`);
      },
    };
    return state;
  }
}

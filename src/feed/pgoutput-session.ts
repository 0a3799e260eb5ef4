// What a WalFeed session does differently with a publication (contract R25): before the slot, it checks on
// the walsender that the publication exists (PostgreSQL 15–17 would refuse only once streaming, and 18
// streams nothing at all for a missing one) and says what the publication hides; it opens the ordinary
// connection that places partitions under their roots (relation-lineage.ts); and it streams pgoutput
// through the decoder, the lineage resolver and the table filter into the feed's sink.
import { createPgoutputDecoder, type PgoutputSink } from '../decode/pgoutput.js';
import {
  type PgoutputChoices,
  type PgoutputOptions,
  resolvePgoutputOptions,
} from '../decode/pgoutput-options.js';
import { ConnectionError, PgnudgeError, PublicationError } from '../errors.js';
import type { BoundLogger } from '../logger.js';
import { PgConnection } from '../transport/connection.js';
import type { ConnectionSettings } from '../transport/settings.js';
import { formatStartPgoutput } from './commands.js';
import type { FeedSink } from './feed.js';
import type { ResolvedFeedOptions } from './options.js';
import {
  coverageSql,
  missingPublication,
  parseCoverage,
  parsePublication,
  publicationSql,
  publicationWarnings,
  type RunQuery,
} from './publication.js';
import {
  LineageResolver,
  lineageSql,
  parseKeyColumns,
  parseLineage,
  parseRunning,
} from './relation-lineage.js';
import type { StreamConsumer } from './replication-stream.js';
import { formatKey } from './row-key.js';
import type { Session } from './session.js';
import { TableFilter } from './tables.js';

/**
 * How pgnudge asks pgoutput to stream: the highest protocol version the server speaks (resolvePgoutputOptions),
 * large transactions streamed while in progress so the server spills less (released at Stream Commit),
 * and values in binary, which costs the walsender less than text for whole rows (docs/benchmarks.md,
 * "pgoutput options"); `parallel` streaming changes nothing on the wire a feed reads but the abort's
 * LSN and time, so it is not asked for.
 */
export const PGOUTPUT_CHOICES: PgoutputChoices = { binary: true, streaming: 'on' };

/**
 * With row keys on, values in text: a key is written as PostgreSQL prints it (contract R22), which is the
 * output function's text; binary would need a printer per type in the client.
 */
export const PGOUTPUT_KEY_CHOICES: PgoutputChoices = { binary: false, streaming: 'on' };

/** Relations whose changes may wait for their partition root at once, before they become a Resync. */
const MAX_PARKED = 10_000;

/** What a publication session needs from its feed. */
export interface PgoutputSetup {
  readonly settings: ConnectionSettings;
  readonly options: ResolvedFeedOptions & { readonly publication: string };
  readonly log: BoundLogger;
  /** The feed's clock, in ms: how long a look-up has waited. */
  now(): number;
}

/** One session's pgoutput: the command that starts it, the consumer of its stream, and its look-ups. */
export interface PgoutputSession {
  readonly options: PgoutputOptions;
  start(slot: string): string;
  consumer(sink: FeedSink): StreamConsumer;
  /** Ends the look-up connection; harmless when it already ended. */
  close(): void;
}

/**
 * Checks the publication on the session's walsender (a missing one is a PublicationError naming the
 * CREATE PUBLICATION to run), warns about what it hides, and opens the look-up connection. Run it
 * before the slot is created: a failure here costs no slot.
 */
export async function preparePgoutput(
  session: Session<PgConnection>,
  setup: PgoutputSetup,
  warned: Set<string>,
): Promise<PgoutputSession> {
  const { connection } = session;
  const { log, options } = setup;
  const name = options.publication;
  const pgoutput = resolvePgoutputOptions(
    connection.serverVersionNum,
    name,
    options.keys ? PGOUTPUT_KEY_CHOICES : PGOUTPUT_CHOICES,
  );
  const run: RunQuery = (sql) => session.wait('a pg_publication query', connection.query(sql));
  const tables = options.tables;
  const results = await run(
    tables === null ? publicationSql(name) : `${publicationSql(name)};\n${coverageSql(name, tables)}`,
  );
  const facts = parsePublication(name, results[0]);
  if (facts === null) {
    throw await missingPublication(run, name, setup.settings.database, tables);
  }
  for (const warning of publicationWarnings(
    facts,
    tables === null ? [] : parseCoverage(tables, results[1]),
  )) {
    // Once per feed, not per reconnect: the publication changes rarely, and the log should not repeat it.
    if (warned.has(warning)) continue;
    warned.add(warning);
    log.warn(warning);
  }
  const lookups = await openLookups(session, setup);
  return {
    options: pgoutput,
    start: (slot) => formatStartPgoutput(slot, pgoutput),
    consumer: (sink) => streamConsumer(session, setup, lookups, sink),
    close: () => lookups.abort(),
  };
}

/**
 * The ordinary connection partition look-ups run on, opened with the session so that a server that
 * refuses it (pg_hba.conf, a role without LOGIN to the database) fails the first connection with that
 * cause (contract R11) instead of every change later. Its loss ends the session.
 */
async function openLookups(session: Session<PgConnection>, setup: PgoutputSetup): Promise<PgConnection> {
  let lookups: PgConnection;
  try {
    lookups = await session.until(
      PgConnection.connect(setup.settings, { replication: 'off', logger: setup.log }),
    );
  } catch (error) {
    setup.log.warn(
      'a feed with a publication also opens an ordinary connection to the database, to place partitions under their roots; the server refused it, so the role must be allowed one (pg_hba.conf, CONNECT)',
    );
    throw error;
  }
  lookups.onClose((error) => {
    if (!session.closed) session.connection.fail(error);
  });
  return lookups;
}

function streamConsumer(
  session: Session<PgConnection>,
  setup: PgoutputSetup,
  lookups: PgConnection,
  sink: FeedSink,
): StreamConsumer {
  const { log, options } = setup;
  const debug = log.enabled('debug');
  const keys = options.keys;
  // The clock is read once per socket read that brings a change, not once per change: NaN until then.
  let readMs = Number.NaN;
  const streamMs = () => {
    if (Number.isNaN(readMs)) readMs = setup.now();
    return readMs;
  };
  const resolver = new LineageResolver({
    lookup: async (oids, xids) => {
      const result = (await lookups.query(lineageSql(oids, keys, xids)))[0];
      return {
        lineages: parseLineage(result),
        keys: keys ? parseKeyColumns(result) : null,
        running: parseRunning(result),
      };
    },
    committedXid: () => decoder.committedXid,
    later: (callback, ms) => {
      session.sleep(ms).then(
        () => {
          if (!session.closed) callback();
        },
        () => {},
      );
    },
    // Without a first-seen time the change came with the stream now; with one, a look-up released it,
    // outside any read, and the engine reads its own clock.
    emit: (payload, count, firstSeenMs) =>
      firstSeenMs === undefined
        ? sink.change(payload, count, undefined, streamMs())
        : sink.change(payload, count, firstSeenMs),
    emitRow: (table, key, count, firstSeenMs) =>
      firstSeenMs === undefined
        ? sink.changeRow(table, key, count, undefined, streamMs())
        : sink.changeRow(table, key, count, firstSeenMs),
    rowsFolded: (table) => sink.rowsFolded?.(table) === true,
    holding: (held) => sink.holding?.(held),
    maxKeys: keys ? options.maxKeys : null,
    resync: (why) => {
      log.info(`${why}: Resync('overflow') (contract R20)`);
      sink.resync('overflow');
    },
    fail: (error) =>
      session.connection.fail(
        error instanceof PgnudgeError
          ? error
          : new ConnectionError('PGNUDGE_ERR_CONNECTION', `a partition look-up failed: ${String(error)}`),
      ),
    filter: options.tables === null ? null : new TableFilter(options.tables),
    naming: options.partitions,
    now: setup.now,
    maxParked: MAX_PARKED,
  });
  // A look-up is an answer the stream depends on: one that never comes is a dead link (contract R8).
  const limitMs = options.livenessTimeoutMs;
  if (limitMs !== null) {
    session.every(Math.max(1, Math.min(options.statusIntervalMs, Math.floor(limitMs / 4))), () => {
      const waited = resolver.waitingMs();
      if (waited !== null && waited > limitMs) {
        const invisible = resolver.invisibleXids();
        session.connection.fail(
          new ConnectionError(
            'PGNUDGE_ERR_LIVENESS_TIMEOUT',
            invisible.length > 0
              ? `transaction ${invisible.join(', ')} was streamed as committed but stayed invisible to other sessions for ${waited} ms (livenessTimeout ${limitMs} ms), so its changes could not be placed under their partition root; is the commit waiting for a synchronous standby (synchronous_standby_names)? pgnudge reconnects and resyncs`
              : `no answer to a partition look-up from ${lookups.target} in ${waited} ms (livenessTimeout ${limitMs} ms); the link is dead`,
          ),
        );
      }
    });
  }
  const decoder = createPgoutputDecoder({ maxHeldKeysPerRelation: options.maxKeys });
  const changes: PgoutputSink = {
    change(relation, op, count) {
      if (debug) log.debug(`${op} ${relation.schema}.${relation.table} ×${count}`);
      resolver.change(relation, count);
    },
    overflow() {
      log.info(
        "a transaction streamed in progress committed after pgnudge had stopped holding it (too many at once): Resync('overflow')",
      );
      sink.resync('overflow');
    },
  };
  if (keys) {
    changes.keyColumns = (relation) => resolver.keyColumns(relation);
    changes.rowsFolded = (relation) => resolver.rowsFolded(relation);
    changes.row = (relation, key, count) => {
      if (debug) {
        log.debug(
          `row ${relation.schema}.${relation.table}${key === null ? '' : `:${formatKey(key)}`} ×${count}`,
        );
      }
      resolver.changeRow(relation, key, count);
    };
  }
  return {
    data: (data) => decoder.decode(data, changes),
    read: () => {
      readMs = Number.NaN;
    },
    notice(message) {
      // PostgreSQL 18 streams on without a publication that was dropped, saying so only in a WARNING
      // (15–17 end the stream with an error instead): silence from then on would be a lost wakeup.
      const skipped = SKIPPED_PUBLICATION.exec(message)?.[1];
      if (skipped === undefined) return;
      session.connection.fail(
        new PublicationError(
          skipped,
          `the server no longer finds publication ${JSON.stringify(skipped)} (${message}); pgnudge reconnects until it exists again (contract R25)`,
        ),
      );
    },
  };
}

const SKIPPED_PUBLICATION = /^skipped loading publication "(.*)"$/s;

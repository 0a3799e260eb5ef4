// The walsender side of a replication session, for every feed kind that streams WAL (logical today,
// physical for RawFeed): fitting the status cadence to the server, starting the stream, and the replies
// contract R8 asks for (a status update every cadence, an immediate one to a keepalive that asks). A feed sees
// only the data and the notices; progress tracking is protocol/standby-status.ts, written here.
import { ServerError, type ServerErrorFields } from '../errors.js';
import type { BoundLogger } from '../logger.js';
import { formatLsn, type Lsn } from '../protocol/lsn.js';
import type { PrimaryKeepalive, XLogData } from '../protocol/replication.js';
import { StandbyProgress } from '../protocol/standby-status.js';
import type { PgConnection, ReplicationHandler } from '../transport/connection.js';
import { DEFAULTS } from './options.js';
import type { Session } from './session.js';
import type { StreamPositions } from './stats.js';
import { parseServerDuration, statusCadence } from './status-cadence.js';

/** What a feed does with the stream: decode each message's data, and read notices sent inside it. */
export interface StreamConsumer {
  /** One XLogData payload (a view of the frame: decode it now, keep no reference), starting at `walStart`. */
  data(data: Uint8Array, walStart: Lsn): void;
  /** A NoticeResponse's message text, in order with the data around it. */
  notice?(message: string): void;
}

/**
 * The status cadence for a session: `configuredMs`, shortened to fit the server's wal_sender_timeout
 * (see status-cadence.ts). A server that cannot say keeps the configured one. Runs `SHOW
 * wal_sender_timeout`, so call it before the stream starts.
 */
export async function negotiateStatusInterval(
  session: Session<PgConnection>,
  configuredMs: number,
  log: BoundLogger,
): Promise<number> {
  const command = 'SHOW wal_sender_timeout';
  let text: string | null | undefined;
  try {
    const [result] = await session.wait(command, session.connection.query(command));
    text = result?.rows[0]?.[0];
  } catch (error) {
    if (!(error instanceof ServerError)) throw error;
    log.debug(`${command} failed (${error.message}); status every ${configuredMs} ms`);
    return configuredMs;
  }
  const timeoutMs = typeof text === 'string' ? parseServerDuration(text) : null;
  const cadence = statusCadence(configuredMs, timeoutMs);
  if (cadence !== configuredMs) {
    log.info(
      `the server's wal_sender_timeout is ${text}: status updates every ${cadence} ms instead of statusInterval ${configuredMs} ms, so a session that lags behind the stream is not taken for a dead one`,
    );
  }
  return cadence;
}

/**
 * What a session's status updates confirm: everything received as written, flushed and applied
 * (`all`, a logical slot's session), or as written only (`written`, a physical session: see
 * StandbyProgress.replyWritten).
 */
export type StatusConfirmation = 'all' | 'written';

/**
 * Sends `command` (START_REPLICATION ...) and returns once the server answered with CopyBothResponse:
 * the stream is live. From then on every message goes to `consumer`, and a status update asking for a
 * reply goes out every `statusIntervalMs`, which is what keeps a healthy link from looking dead (contract R8).
 * A busy stream's reads pause up to `readPacingMs` (the feed's `readPacing`), never longer than the
 * status cadence: a keepalive that asks for a reply is then read, and answered, within a quarter of the
 * server's wal_sender_timeout at worst, however the pauses fall (status-cadence.ts).
 */
export async function startReplicationStream(
  session: Session<PgConnection>,
  command: string,
  consumer: StreamConsumer,
  statusIntervalMs: number,
  log: BoundLogger,
  readPacingMs: number = DEFAULTS.readPacing,
  confirmation: StatusConfirmation = 'all',
): Promise<void> {
  const stream = new ReplicationStream(session.connection, consumer, log, confirmation);
  session.reportPositions(() => stream.positions());
  await session.wait(
    'START_REPLICATION',
    session.connection.startReplication(command, stream, {
      readPacingMs: Math.min(readPacingMs, statusIntervalMs),
    }),
  );
  session.every(statusIntervalMs, () => stream.sendStatus(true));
}

/** Receives the stream for a consumer and answers the server: status replies never wait for the consumer. */
class ReplicationStream implements ReplicationHandler {
  readonly #connection: PgConnection;
  readonly #consumer: StreamConsumer;
  readonly #log: BoundLogger;
  readonly #confirmation: StatusConfirmation;
  readonly #progress = new StandbyProgress();
  /** What the last status update confirmed, for stats; null before the first. */
  #confirmedSent: Lsn | null = null;

  constructor(
    connection: PgConnection,
    consumer: StreamConsumer,
    log: BoundLogger,
    confirmation: StatusConfirmation,
  ) {
    this.#connection = connection;
    this.#consumer = consumer;
    this.#log = log;
    this.#confirmation = confirmation;
  }

  xlogData(message: XLogData): void {
    this.#progress.received(message.walEnd);
    this.#consumer.data(message.data, message.walStart);
  }

  keepalive(message: PrimaryKeepalive): void {
    // Answered at once when asked, or the server's wal_sender_timeout ends the session.
    if (this.#progress.keepalive(message)) this.sendStatus(false);
  }

  notice(fields: ServerErrorFields): void {
    this.#consumer.notice?.(fields.message);
  }

  /** The server's reported WAL end (StandbyProgress keeps the highest, 0 before any) and the last confirmation. */
  positions(): StreamPositions {
    const walEnd = this.#progress.confirmed;
    return { walEnd: walEnd === 0n ? null : walEnd, confirmed: this.#confirmedSent };
  }

  sendStatus(replyRequested: boolean): void {
    const reply =
      this.#confirmation === 'all'
        ? this.#progress.reply(replyRequested)
        : this.#progress.replyWritten(replyRequested);
    this.#connection.sendStatusUpdate(reply);
    this.#confirmedSent = reply.flush;
    if (this.#log.enabled('trace')) this.#log.trace(`> StandbyStatusUpdate ${formatLsn(reply.write)}`);
  }
}

// What the bridge and the consumer feed need of a broker client (contract R30), whichever client it is:
// a consumer's subscribing connection that a Link can watch like a PgConnection, and a bridge's publisher.
// The transports (redis.ts, nats.ts) fill these in; the client packages stay behind them.
import { ConnectionError, PackageMissingError, type PgnudgeError } from '../errors.js';
import type { LinkEnd } from '../feed/link.js';
import type { BoundLogger } from '../logger.js';
import type { BrokerAddress } from './broker-url.js';

/**
 * A consumer's broker connection. It never reconnects by itself: the feed's supervisor does, so that
 * every reconnect is a Resync('reconnected') (a subscription lost while the link was down lost messages).
 */
export class BrokerConnection implements LinkEnd {
  readonly target: string;
  #bytesReceived = 0;
  #ended: PgnudgeError | null = null;
  readonly #listeners: ((error: PgnudgeError) => void)[] = [];
  readonly #destroy: () => void;

  /** `destroy` ends the client at once; it is called once, when the connection ends for any reason. */
  constructor(target: string, destroy: () => void) {
    this.target = target;
    this.#destroy = destroy;
  }

  /** What was received so far (payload bytes, and one per ping answer): the watchdog compares snapshots. */
  get bytesReceived(): number {
    return this.#bytesReceived;
  }

  /** Counts what the client received. */
  received(bytes: number): void {
    this.#bytesReceived += bytes;
  }

  get closed(): boolean {
    return this.#ended !== null;
  }

  fail(error: PgnudgeError): void {
    if (this.#ended !== null) return;
    this.#ended = error;
    try {
      this.#destroy();
    } finally {
      for (const listener of this.#listeners.splice(0)) listener(error);
    }
  }

  abort(): void {
    this.fail(
      new ConnectionError('PGNUDGE_ERR_CONNECTION', `connection to ${this.target} closed by the client`),
    );
  }

  /** The broker closed the connection, or the client lost it. */
  lost(cause?: unknown): void {
    const why = cause instanceof Error && cause.message !== '' ? `: ${cause.message}` : '';
    this.fail(
      new ConnectionError('PGNUDGE_ERR_CONNECTION', `connection to ${this.target} was lost${why}`, {
        cause,
      }),
    );
  }

  onClose(listener: (error: PgnudgeError) => void): void {
    const ended = this.#ended;
    if (ended === null) this.#listeners.push(listener);
    else queueMicrotask(() => listener(ended));
  }
}

/** A bridge's publisher on one broker. */
export interface BrokerPublisher {
  /** The largest payload the broker takes, in bytes: the wire splits batches to fit. */
  readonly limit: number;
  /**
   * Publishes the payloads in order. Rejects when the broker cannot take them now (the client
   * reconnects by itself); what was lost then shows at the consumers as a gap, which resyncs.
   */
  publish(payloads: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

/** One broker client package behind the two roles. */
export interface BrokerTransport {
  /** The largest payload a bridge sends on this transport (bytes): what a consumer accepts. */
  readonly maxPayloadBytes: number;
  /** Opens a consumer connection; the payloads go to `deliver` once `subscribe` resolved. */
  connect(
    address: BrokerAddress,
    log: BoundLogger,
    signal: AbortSignal,
  ): Promise<{
    connection: BrokerConnection;
    subscribe(deliver: (payload: string) => void): Promise<void>;
    ping(): Promise<unknown>;
  }>;
  /** Opens a bridge's publisher. */
  publisher(address: BrokerAddress, log: BoundLogger): Promise<BrokerPublisher>;
}

/** A connection error that names the broker by its target (never its credentials). */
export function brokerError(address: BrokerAddress, doing: string, cause: unknown): ConnectionError {
  const message = cause instanceof Error ? cause.message : String(cause);
  return new ConnectionError(
    'PGNUDGE_ERR_CONNECTION',
    `${doing} ${address.target} failed: ${redact(message, address)}`,
    { cause },
  );
}

/** A client's message with the password cut out, should a client ever quote it. */
export function redact(message: string, address: BrokerAddress): string {
  const { password } = address;
  return password === undefined || password === '' ? message : message.split(password).join('***');
}

/**
 * A broker's client, an optional peer dependency, imported on first use and then shared; a missing one
 * is a PackageMissingError naming the package, and the next use tries again (it may have been installed).
 */
export function optionalPeer<T>(importer: () => Promise<T>, name: string, usedFor: string): () => Promise<T> {
  let loaded: Promise<T> | null = null;
  return () => {
    loaded ??= importer().catch((error: unknown) => {
      loaded = null;
      throw new PackageMissingError(name, usedFor, { cause: error });
    });
    return loaded;
  };
}

// The answer to one simple Query (PG docs §55.2.2 "Simple Query"), assembled from backend messages into
// text results: rows must match the RowDescription they follow, a result exists only once CommandComplete
// names it, and the rows held stay under a byte cap, since no timer ends a server that streams rows
// forever (contract R19). A replication command's answer may instead be CopyBothResponse: the stream begins. No
// socket: the session feeds it the messages of the query in flight and acts on the outcome.

import { ProtocolError, type ServerError } from '../errors.js';
import { type BackendMessage, backendMessageName } from './backend.js';
import { serverErrorFromFields } from './server-error.js';

/** One statement's outcome from the simple query protocol: text values, as PostgreSQL sent them. */
export interface QueryResult {
  tag: string;
  fields: string[];
  rows: (string | null)[][];
}

/**
 * DataRow bytes one query may hold until its ReadyForQuery. pgnudge's own queries return a few rows
 * (SHOW, CREATE_REPLICATION_SLOT, IDENTIFY_SYSTEM, catalog lookups); 64 MiB is far above any of them and
 * still bounds a server that answers with an endless row stream, which no timer ends (contract R19).
 */
export const DEFAULT_MAX_RESULT_BYTES = 64 * 1024 * 1024;

/** How a query's answer ended: ReadyForQuery with results or the server's error, or the replication stream. */
export type QueryOutcome =
  | { type: 'results'; results: QueryResult[] }
  | { type: 'error'; error: ServerError }
  | { type: 'streaming' };

/** Options for {@link QueryResponse}. */
export interface QueryResponseOptions {
  /** DataRow body bytes the answer may hold. Default {@link DEFAULT_MAX_RESULT_BYTES}. */
  maxResultBytes?: number;
  /** Whether the query is START_REPLICATION, whose success is CopyBothResponse instead of ReadyForQuery. */
  startsReplication: boolean;
}

/**
 * Takes the messages that answer one Query, except those that may arrive at any time (NoticeResponse,
 * ParameterStatus, NotificationResponse), and returns the outcome with the message that ends the answer.
 * Every violation throws ProtocolError; after an outcome or a throw, any further message throws too.
 */
export class QueryResponse {
  readonly #maxResultBytes: number;
  readonly #startsReplication: boolean;
  readonly #results: QueryResult[] = [];
  #current: QueryResult | null = null;
  /** DataRow body bytes held in `#results` and `#current`. */
  #bytes = 0;
  #error: ServerError | null = null;
  #finished = false;

  constructor(options: QueryResponseOptions) {
    this.#maxResultBytes = options.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES;
    this.#startsReplication = options.startsReplication;
  }

  /** The server's ErrorResponse so far: when the link drops before ReadyForQuery, its reason says more. */
  get error(): ServerError | null {
    return this.#error;
  }

  /** DataRow body bytes held so far, never more than the cap. */
  get heldBytes(): number {
    return this.#bytes;
  }

  /**
   * Handles one message; `code` is its frame's code byte and `bodyLength` its body's size, which DataRows
   * count against the cap. Returns the outcome when the message ends the answer, else undefined.
   */
  receive(message: BackendMessage, code: number, bodyLength: number): QueryOutcome | undefined {
    if (this.#finished) {
      throw new ProtocolError(`unexpected ${message.type} after the query's answer ended`, {
        messageType: backendMessageName(code),
      });
    }
    try {
      const outcome = this.#receive(message, code, bodyLength);
      if (outcome !== undefined) this.#finished = true;
      return outcome;
    } catch (error) {
      this.#finished = true;
      throw error;
    }
  }

  #receive(message: BackendMessage, code: number, bodyLength: number): QueryOutcome | undefined {
    switch (message.type) {
      case 'RowDescription':
        this.#current = { tag: '', fields: message.fields.map((field) => field.name), rows: [] };
        return undefined;
      case 'DataRow': {
        // Rows must match the RowDescription they follow: callers index into them by position.
        const current = this.#current;
        if (current === null) {
          throw new ProtocolError('DataRow before RowDescription', { messageType: 'DataRow' });
        }
        if (message.values.length !== current.fields.length) {
          throw new ProtocolError(
            `DataRow has ${message.values.length} columns, RowDescription ${current.fields.length}`,
            { messageType: 'DataRow' },
          );
        }
        if (this.#bytes + bodyLength > this.#maxResultBytes) {
          throw new ProtocolError(
            `the query result exceeds the limit of ${this.#maxResultBytes} bytes held in memory (maxResultBytes); pgnudge's queries return a few small rows`,
            { messageType: 'DataRow' },
          );
        }
        this.#bytes += bodyLength;
        current.rows.push(message.values);
        return undefined;
      }
      case 'CommandComplete':
        this.#results.push({ ...(this.#current ?? { fields: [], rows: [] }), tag: message.tag });
        this.#current = null;
        return undefined;
      case 'EmptyQueryResponse':
        return undefined;
      case 'ErrorResponse':
        this.#error = serverErrorFromFields(message.fields, 'query');
        return undefined;
      case 'CopyBothResponse':
        if (!this.#startsReplication) {
          throw new ProtocolError('CopyBothResponse to a query that did not start replication', {
            messageType: 'CopyBothResponse',
          });
        }
        return { type: 'streaming' };
      case 'CopyInResponse':
      case 'CopyOutResponse':
        throw new ProtocolError(`${message.type}: COPY is not supported on this connection`, {
          messageType: message.type,
        });
      case 'ReadyForQuery':
        if (this.#error !== null) return { type: 'error', error: this.#error };
        // Without CommandComplete a result would be dropped silently; after an error it is expected.
        if (this.#current !== null) {
          throw new ProtocolError('ReadyForQuery before CommandComplete', { messageType: 'ReadyForQuery' });
        }
        if (this.#startsReplication) {
          throw new ProtocolError('the server finished the replication command without streaming', {
            messageType: 'ReadyForQuery',
          });
        }
        return { type: 'results', results: this.#results };
      default:
        throw new ProtocolError(`unexpected ${message.type} during a query`, {
          messageType: backendMessageName(code),
        });
    }
  }
}

// The whole error taxonomy. Users branch on `code` (stable across releases), never on message text.
// Messages say what happened and how to fix it; none ever contains a password.

/** Every stable error code pgnudge throws. Documented in docs/errors.md. */
export type PgnudgeErrorCode =
  | 'PGNUDGE_ERR_CONFIG'
  | 'PGNUDGE_ERR_PROTOCOL'
  | 'PGNUDGE_ERR_AUTH_FAILED'
  | 'PGNUDGE_ERR_AUTH_INSECURE'
  | 'PGNUDGE_ERR_AUTH_UNSUPPORTED'
  | 'PGNUDGE_ERR_AUTH_SCRAM'
  | 'PGNUDGE_ERR_CHANNEL_BINDING'
  | 'PGNUDGE_ERR_TLS'
  | 'PGNUDGE_ERR_SERVER'
  | 'PGNUDGE_ERR_REPLICATION_DENIED'
  | 'PGNUDGE_ERR_WAL_LEVEL'
  | 'PGNUDGE_ERR_PLUGIN_MISSING'
  | 'PGNUDGE_ERR_UNKNOWN_DATABASE'
  | 'PGNUDGE_ERR_PUBLICATION_MISSING'
  | 'PGNUDGE_ERR_POOLER'
  | 'PGNUDGE_ERR_CONNECTION'
  | 'PGNUDGE_ERR_CONNECT_TIMEOUT'
  | 'PGNUDGE_ERR_LIVENESS_TIMEOUT'
  | 'PGNUDGE_ERR_DECODE'
  | 'PGNUDGE_ERR_FEED_CLOSED'
  | 'PGNUDGE_ERR_INTERNAL'
  | 'PGNUDGE_ERR_SLOW_CONSUMER'
  | 'PGNUDGE_ERR_UNSUPPORTED_SERVER'
  | 'PGNUDGE_ERR_KEY_FORMAT'
  | 'PGNUDGE_ERR_PACKAGE_MISSING';

/** Options every pgnudge error accepts. */
export interface PgnudgeErrorOptions {
  /** The underlying error, exposed as the standard `cause`. */
  cause?: unknown;
}

/** Root of every error pgnudge throws. `retryable` says whether reconnecting may heal it. */
export class PgnudgeError extends Error {
  /** Stable identifier of the failure; branch on this, never on the message. */
  readonly code: PgnudgeErrorCode;
  /** Whether reconnecting may heal the failure (a feed retries these). */
  readonly retryable: boolean;

  constructor(code: PgnudgeErrorCode, message: string, retryable: boolean, options?: PgnudgeErrorOptions) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.retryable = retryable;
  }

  /** The class name (`ConfigError`, `ServerError`, ...), as stack traces show it. */
  override get name(): string {
    return this.constructor.name;
  }
}

/** A bad option, environment variable, connection string or CLI value. `option` names it. */
export class ConfigError extends PgnudgeError {
  /** The option, keyword, variable or flag that was wrong, when known. */
  readonly option: string | undefined;

  constructor(message: string, option?: string, options?: PgnudgeErrorOptions) {
    super('PGNUDGE_ERR_CONFIG', message, false, options);
    this.option = option;
  }
}

/** Malformed, oversized or unexpected bytes from the server. The connection is closed. */
export class ProtocolError extends PgnudgeError {
  /** The backend message type being read, as its protocol name or code letter, when known. */
  readonly messageType: string | undefined;
  /** Byte offset inside the message body where reading failed, when known. */
  readonly offset: number | undefined;

  constructor(
    message: string,
    details: { messageType?: string | undefined; offset?: number | undefined } = {},
    options?: PgnudgeErrorOptions,
  ) {
    // Not retryable: on a first connection a server that speaks garbage is a misconfiguration (a
    // pooler, a non-PostgreSQL port) to report, not to hammer. Once a feed was live, it retries anyway.
    super('PGNUDGE_ERR_PROTOCOL', message, false, options);
    this.messageType = details.messageType;
    this.offset = details.offset;
  }
}

/** The codes an {@link AuthenticationError} can carry. */
export type AuthenticationErrorCode =
  | 'PGNUDGE_ERR_AUTH_FAILED'
  | 'PGNUDGE_ERR_AUTH_INSECURE'
  | 'PGNUDGE_ERR_AUTH_UNSUPPORTED'
  | 'PGNUDGE_ERR_AUTH_SCRAM'
  | 'PGNUDGE_ERR_CHANNEL_BINDING';

/**
 * Authentication could not complete: the server refused the credentials, the method is unsupported,
 * a SCRAM check failed, or a password would have crossed an unencrypted link (never sent).
 */
export class AuthenticationError extends PgnudgeError {
  constructor(code: AuthenticationErrorCode, message: string, options?: PgnudgeErrorOptions) {
    super(code, message, false, options);
  }
}

/** The server refused TLS, the handshake failed, or the certificate did not verify. */
export class TlsError extends PgnudgeError {
  constructor(message: string, options?: PgnudgeErrorOptions) {
    super('PGNUDGE_ERR_TLS', message, false, options);
  }
}

/** pgnudge's classification of an ErrorResponse: the causes a user must fix get their own code. */
export type ServerErrorCode =
  | 'PGNUDGE_ERR_SERVER'
  | 'PGNUDGE_ERR_AUTH_FAILED'
  | 'PGNUDGE_ERR_REPLICATION_DENIED'
  | 'PGNUDGE_ERR_WAL_LEVEL'
  | 'PGNUDGE_ERR_PLUGIN_MISSING'
  | 'PGNUDGE_ERR_UNKNOWN_DATABASE'
  | 'PGNUDGE_ERR_POOLER'
  | 'PGNUDGE_ERR_PUBLICATION_MISSING';

/** The fields of an ErrorResponse or NoticeResponse, by their documented names. */
export interface ServerErrorFields {
  severity: string;
  sqlState: string;
  message: string;
  detail?: string;
  hint?: string;
  position?: string;
  internalPosition?: string;
  internalQuery?: string;
  where?: string;
  schema?: string;
  table?: string;
  column?: string;
  dataType?: string;
  constraint?: string;
  file?: string;
  line?: string;
  routine?: string;
}

/**
 * An ErrorResponse from the server. `sqlState` is the SQLSTATE; `code` is pgnudge's classification
 * (a few causes that a user must fix get their own code, the rest are `PGNUDGE_ERR_SERVER`).
 */
export class ServerError extends PgnudgeError {
  /** The server's SQLSTATE, e.g. `42P01`. */
  readonly sqlState: string;
  /** `ERROR`, `FATAL` or `PANIC` (the non-localized severity when the server sends it). */
  readonly severity: string;
  /** The server's DETAIL, if any. */
  readonly detail: string | undefined;
  /** The server's HINT, if any. */
  readonly hint: string | undefined;
  /** Every field of the ErrorResponse. */
  readonly fields: Readonly<ServerErrorFields>;

  constructor(
    fields: ServerErrorFields,
    classification: { code?: ServerErrorCode; retryable?: boolean; fix?: string } = {},
    options?: PgnudgeErrorOptions,
  ) {
    // Server messages carry no final period ("database "x" does not exist"); add one before the fix
    // so the cause and the fix read as two sentences.
    const fix =
      classification.fix === undefined
        ? ''
        : `${/[.!?]$/.test(fields.message) ? '' : '.'} ${classification.fix}`;
    super(
      classification.code ?? 'PGNUDGE_ERR_SERVER',
      `${fields.severity} ${fields.sqlState}: ${fields.message}${fix}`,
      classification.retryable ?? isRetryableSqlState(fields.sqlState),
      options,
    );
    this.sqlState = fields.sqlState;
    this.severity = fields.severity;
    this.detail = fields.detail;
    this.hint = fields.hint;
    this.fields = Object.freeze({ ...fields });
  }
}

/**
 * The publication a feed was told to decode (option `publication`) does not exist in the database it
 * connected to. pgnudge never creates one (contract R25): the message names the `CREATE PUBLICATION` that
 * would. Found before the slot is created; PostgreSQL 15–17 would refuse only once streaming, and 18
 * would stream nothing at all.
 */
export class PublicationError extends PgnudgeError {
  /** The publication's name, as given. */
  readonly publication: string;

  constructor(publication: string, message: string, options?: PgnudgeErrorOptions) {
    super('PGNUDGE_ERR_PUBLICATION_MISSING', message, false, options);
    this.publication = publication;
  }
}

/** The codes a {@link ConnectionError} can carry. */
export type ConnectionErrorCode =
  | 'PGNUDGE_ERR_CONNECTION'
  | 'PGNUDGE_ERR_CONNECT_TIMEOUT'
  | 'PGNUDGE_ERR_LIVENESS_TIMEOUT';

/** The link failed: refused, reset, closed, or timed out. Always retryable. */
export class ConnectionError extends PgnudgeError {
  constructor(code: ConnectionErrorCode, message: string, options?: PgnudgeErrorOptions) {
    super(code, message, true, options);
  }
}

/** An output plugin's message could not be understood. */
export class DecodeError extends PgnudgeError {
  /** The output plugin whose message failed to decode. */
  readonly plugin: string;
  /** Byte offset inside the plugin message where decoding failed. */
  readonly offset: number | undefined;

  constructor(plugin: string, message: string, offset?: number, options?: PgnudgeErrorOptions) {
    super('PGNUDGE_ERR_DECODE', `${plugin}: ${message}`, true, options);
    this.plugin = plugin;
    this.offset = offset;
  }
}

/**
 * The server is reachable and willing, but a RawFeed cannot read its WAL: a major other than 15–18, WAL
 * or data pages other than 8 kB, or a big-endian machine. Not retryable: reconnecting reads the same WAL.
 */
export class UnsupportedServerError extends PgnudgeError {
  constructor(message: string, options?: PgnudgeErrorOptions) {
    super('PGNUDGE_ERR_UNSUPPORTED_SERVER', message, false, options);
  }
}

/** The feed was used after it was closed. */
export class FeedClosedError extends PgnudgeError {
  constructor(message = 'the feed is closed; create a new one to watch again') {
    super('PGNUDGE_ERR_FEED_CLOSED', message, false);
  }
}

/**
 * A bug in pgnudge: an exception that is not a PgnudgeError ended a session. `cause` holds it, and the
 * message carries its stack, so the report can be filed as it is. Not retryable: before a feed's first
 * live stream it ends the feed, rather than repeat the bug forever; once live, the feed retries it like
 * every failure (contract R11).
 */
export class InternalError extends PgnudgeError {
  constructor(message: string, options?: PgnudgeErrorOptions) {
    super('PGNUDGE_ERR_INTERNAL', message, false, options);
  }
}

/**
 * An event stream of an EventHub fell too far behind its feed and was cut off, so that it could neither
 * slow the hub's other streams nor grow memory. Retryable: a new stream starts with a Resync.
 */
export class SlowConsumerError extends PgnudgeError {
  /** The bound it would have exceeded, in bytes (`maxBufferedBytes`). */
  readonly maxBufferedBytes: number;

  constructor(maxBufferedBytes: number) {
    super(
      'PGNUDGE_ERR_SLOW_CONSUMER',
      `the client read this event stream too slowly: more than ${maxBufferedBytes} bytes were waiting for it (maxBufferedBytes), so it was cut off rather than slow the other streams or grow memory; a new stream starts with a Resync`,
      true,
    );
    this.maxBufferedBytes = maxBufferedBytes;
  }
}

/** The longest stretch of a malformed key that a KeyFormatError message quotes. */
const SHOWN_KEY_LENGTH = 80;

/**
 * `parseKey` was given text that `formatKey` cannot have written (contract R22). `offset` is the UTF-16
 * index in that text where the rule was broken.
 */
export class KeyFormatError extends PgnudgeError {
  /** Where in the text the rule was broken (a UTF-16 index). */
  readonly offset: number;

  constructor(reason: string, text: unknown, offset: number) {
    const shown =
      typeof text !== 'string'
        ? ''
        : ` ${JSON.stringify(text.length > SHOWN_KEY_LENGTH ? `${text.slice(0, SHOWN_KEY_LENGTH)}…` : text)}`;
    super('PGNUDGE_ERR_KEY_FORMAT', `malformed row key${shown} at offset ${offset}: ${reason}`, false);
    this.offset = offset;
  }
}

/**
 * A broker transport needs its client package (an optional peer dependency), and it is not installed.
 * `packageName` is what to install.
 */
export class PackageMissingError extends PgnudgeError {
  /** The npm package to install. */
  readonly packageName: string;

  constructor(packageName: string, use: string, options?: PgnudgeErrorOptions) {
    super(
      'PGNUDGE_ERR_PACKAGE_MISSING',
      `${use} needs the package "${packageName}", which is not installed: npm install ${packageName}`,
      false,
      options,
    );
    this.packageName = packageName;
  }
}

/**
 * SQLSTATEs worth a reconnect: connection exceptions (08), insufficient resources (53: too many
 * connections, all replication slots in use), operator intervention (57: shutdown, starting up,
 * terminated by administrator), and system errors (58).
 */
export function isRetryableSqlState(sqlState: string): boolean {
  const sqlClass = sqlState.slice(0, 2);
  return sqlClass === '08' || sqlClass === '53' || sqlClass === '57' || sqlClass === '58';
}

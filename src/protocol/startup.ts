// The startup and authentication state machine (PG docs §55.2.1 "Start-up", §55.3 "Authentication"): backend
// messages in, bytes to send out, until ReadyForQuery. No socket: the transport feeds it and writes what it says.

import { AuthenticationError, ProtocolError } from '../errors.js';
import type { BackendKeyData, BackendMessage } from './backend.js';
import { encodePasswordMessage, encodeSASLInitialResponse, encodeSASLResponse } from './frontend.js';
import { md5PasswordMessage } from './md5.js';
import { chooseSaslMechanism, ScramClient, type ScramKeyRequest } from './scram.js';
import { serverErrorFromFields } from './server-error.js';
import { tlsServerEndPointHash } from './tls-server-end-point.js';

/**
 * How the server authenticated us. `'trust'` means it asked for no password at all: hba `trust`, `peer`,
 * or `cert` (the TLS client certificate was the proof).
 */
export type AuthMethod = 'trust' | 'password' | 'md5' | 'SCRAM-SHA-256' | 'SCRAM-SHA-256-PLUS';

/**
 * What the transport must do after a message. `derive` asks it to run SCRAM's key derivation off the
 * event loop (it may take a quarter of a second) and pass the key to {@link StartupMachine.derived}.
 */
export type StartupAction =
  | { type: 'send'; bytes: Buffer }
  | { type: 'derive'; request: ScramKeyRequest }
  | { type: 'authenticated'; method: AuthMethod }
  | {
      type: 'ready';
      parameters: Map<string, string>;
      backendKey: BackendKeyData | undefined;
      authMethod: AuthMethod;
    };

/** Options for {@link StartupMachine}. */
export interface StartupMachineOptions {
  user: string;
  /** The password, already resolved by the shell; `undefined` when none is configured. Called only when needed. */
  password: () => string | undefined;
  /** Whether the link is TLS. Cleartext and MD5 passwords are sent only when true (contract R17). */
  tls: boolean;
  channelBinding: 'disable' | 'prefer' | 'require';
  /** The server's leaf certificate (DER) when TLS is in use. */
  certificateDer: Uint8Array | null;
  /** SCRAM client nonce, injected by tests. */
  nonce?: string;
  /** Cap on the SCRAM iteration count (see ScramClient). */
  maxScramIterations?: number;
}

type Phase =
  | 'authenticating'
  | 'password-sent'
  | 'sasl-first'
  | 'sasl-deriving'
  | 'sasl-final'
  | 'sasl-ok'
  | 'authenticated'
  | 'ready'
  | 'failed';

/**
 * Drives startup after the StartupMessage was sent: answers authentication requests, enforces the
 * password and channel-binding policy, collects ParameterStatus and BackendKeyData, and reports `ready`
 * on ReadyForQuery. Every refusal throws before any password-bearing bytes are produced. After a throw
 * the machine is dead and further calls throw ProtocolError.
 */
export class StartupMachine {
  readonly #options: StartupMachineOptions;
  readonly #parameters = new Map<string, string>();
  #phase: Phase = 'authenticating';
  #method: AuthMethod = 'trust';
  #scram: ScramClient | undefined;
  #backendKey: BackendKeyData | undefined;

  constructor(options: StartupMachineOptions) {
    this.#options = options;
  }

  /** Handles one backend message; returns what to do, in order. Throws a PgnudgeError to abort the connection. */
  receive(message: BackendMessage): StartupAction[] {
    if (this.#phase === 'failed' || this.#phase === 'ready') {
      throw new ProtocolError(
        `startup already ${this.#phase === 'ready' ? 'finished' : 'failed'}; got ${message.type}`,
        {
          messageType: message.type,
        },
      );
    }
    return this.#guard(() => this.#receive(message));
  }

  /**
   * Takes the key a `derive` action asked for and returns what to send. Messages that arrive while the
   * key is derived go to {@link receive} as usual: the server waits for our answer, so anything but a
   * notice, a parameter or an error is a protocol violation.
   */
  derived(saltedPassword: Uint8Array): StartupAction[] {
    if (this.#phase !== 'sasl-deriving') {
      throw new ProtocolError(`a SCRAM key arrived while startup was ${this.#phase}`);
    }
    return this.#guard(() => {
      this.#phase = 'sasl-final';
      return [{ type: 'send', bytes: encodeSASLResponse(this.#scram!.clientFinal(saltedPassword)) }];
    });
  }

  #guard(step: () => StartupAction[]): StartupAction[] {
    try {
      return step();
    } catch (error) {
      this.#phase = 'failed';
      throw error;
    }
  }

  #receive(message: BackendMessage): StartupAction[] {
    switch (message.type) {
      case 'NoticeResponse':
        return [];
      case 'ParameterStatus':
        this.#parameters.set(message.name, message.value);
        return [];
      case 'ErrorResponse':
        throw serverErrorFromFields(message.fields, 'startup', { user: this.#options.user });
      case 'NegotiateProtocolVersion':
        // We ask for 3.0 with no _pq_ options, so there is nothing to downgrade; libpq accepts it too.
        if (this.#phase === 'authenticating') {
          return [];
        }
        break;
      case 'AuthenticationCleartextPassword':
      case 'AuthenticationMD5Password':
        if (this.#phase === 'authenticating') {
          return this.#sendPassword(message);
        }
        break;
      case 'AuthenticationSASL':
        if (this.#phase === 'authenticating') {
          return this.#startSasl(message.mechanisms);
        }
        break;
      case 'AuthenticationSASLContinue':
        if (this.#phase === 'sasl-first') {
          const request = this.#scram!.receiveServerFirst(message.data);
          this.#phase = 'sasl-deriving';
          return [{ type: 'derive', request }];
        }
        break;
      case 'AuthenticationSASLFinal':
        if (this.#phase === 'sasl-final') {
          this.#scram!.receiveServerFinal(message.data);
          this.#phase = 'sasl-ok';
          return [];
        }
        break;
      case 'AuthenticationUnsupported':
        throw new AuthenticationError(
          'PGNUDGE_ERR_AUTH_UNSUPPORTED',
          `the server asked for ${message.name} authentication, which pgnudge does not support. ` +
            'Use scram-sha-256 for this role in pg_hba.conf.',
        );
      case 'AuthenticationOk':
        return this.#authenticated();
      case 'BackendKeyData':
        if (this.#phase === 'authenticated') {
          this.#backendKey = message;
          return [];
        }
        break;
      case 'ReadyForQuery':
        if (this.#phase === 'authenticated') {
          this.#phase = 'ready';
          return [
            {
              type: 'ready',
              parameters: this.#parameters,
              backendKey: this.#backendKey,
              authMethod: this.#method,
            },
          ];
        }
        break;
    }
    throw new ProtocolError(`unexpected ${message.type} during startup (${this.#phase})`, {
      messageType: message.type,
    });
  }

  #authenticated(): StartupAction[] {
    if (this.#phase === 'sasl-first' || this.#phase === 'sasl-deriving' || this.#phase === 'sasl-final') {
      // Skipping SASLFinal would skip the server's proof: refuse, or a rogue server could accept anyone.
      throw new AuthenticationError(
        'PGNUDGE_ERR_AUTH_SCRAM',
        'SCRAM authentication failed: the server sent AuthenticationOk before proving it knows the password',
      );
    }
    if (this.#phase === 'authenticating') {
      this.#method = 'trust';
    } else if (this.#phase !== 'sasl-ok' && this.#phase !== 'password-sent') {
      throw new ProtocolError(`unexpected AuthenticationOk during startup (${this.#phase})`, {
        messageType: 'AuthenticationOk',
      });
    }
    if (this.#options.channelBinding === 'require' && this.#method !== 'SCRAM-SHA-256-PLUS') {
      throw new AuthenticationError(
        'PGNUDGE_ERR_CHANNEL_BINDING',
        `channel binding is required, but the server authenticated the client with ${this.#method} and no channel binding. ` +
          'Use scram-sha-256 in pg_hba.conf over TLS, or relax channel_binding.',
      );
    }
    this.#phase = 'authenticated';
    return [{ type: 'authenticated', method: this.#method }];
  }

  #sendPassword(
    message: Extract<
      BackendMessage,
      { type: 'AuthenticationCleartextPassword' | 'AuthenticationMD5Password' }
    >,
  ): StartupAction[] {
    const method = message.type === 'AuthenticationMD5Password' ? 'md5' : 'password';
    const label = method === 'md5' ? 'an MD5' : 'a cleartext';
    if (this.#options.channelBinding === 'require') {
      throw new AuthenticationError(
        'PGNUDGE_ERR_CHANNEL_BINDING',
        `channel binding is required, but the server asked for ${label} password, which cannot bind. ` +
          'Use scram-sha-256 in pg_hba.conf over TLS, or relax channel_binding.',
      );
    }
    if (!this.#options.tls) {
      throw new AuthenticationError(
        'PGNUDGE_ERR_AUTH_INSECURE',
        `the server asked for ${label} password over an unencrypted connection; pgnudge refuses to send it. ` +
          'Enable TLS (sslmode=require or stricter) or switch the role to SCRAM ' +
          "(SET password_encryption = 'scram-sha-256', reset the password, use scram-sha-256 in pg_hba.conf).",
      );
    }
    const password = this.#requirePassword(method);
    const text =
      message.type === 'AuthenticationMD5Password'
        ? md5PasswordMessage(this.#options.user, password, message.salt)
        : password;
    this.#method = method;
    this.#phase = 'password-sent';
    return [{ type: 'send', bytes: encodePasswordMessage(text) }];
  }

  #startSasl(mechanisms: string[]): StartupAction[] {
    const { tls, channelBinding, certificateDer } = this.#options;
    if (!tls && mechanisms.includes('SCRAM-SHA-256-PLUS')) {
      // A PLUS offer without TLS is impossible from a real server (libpq refuses it the same way).
      throw new ProtocolError('the server offered SCRAM-SHA-256-PLUS over a connection without TLS', {
        messageType: 'AuthenticationSASL',
      });
    }
    const plusOffered = mechanisms.includes('SCRAM-SHA-256-PLUS');
    const bindingData = this.#bindingData(tls, channelBinding, certificateDer, plusOffered);
    const choice = chooseSaslMechanism(mechanisms, { channelBinding, bindingData });
    const password = this.#requirePassword(choice.mechanism);
    this.#scram = new ScramClient({
      password,
      mechanism: choice.mechanism,
      ...(choice.useBinding ? { channelBinding: { type: 'tls-server-end-point', data: bindingData! } } : {}),
      // Over TLS the client supports binding whatever the certificate, so a plain SCRAM exchange says `y,,`
      // (libpq does the same): `n,,` over TLS would let a stripped PLUS offer go unnoticed by the server.
      clientSupportsBinding: tls && channelBinding !== 'disable',
      ...(this.#options.nonce === undefined ? {} : { nonce: this.#options.nonce }),
      ...(this.#options.maxScramIterations === undefined
        ? {}
        : { maxIterations: this.#options.maxScramIterations }),
    });
    this.#method = choice.mechanism;
    this.#phase = 'sasl-first';
    return [
      { type: 'send', bytes: encodeSASLInitialResponse(choice.mechanism, this.#scram.clientFirstMessage()) },
    ];
  }

  /**
   * The tls-server-end-point hash, or null when binding is off or not needed. Like libpq, a PLUS offer over
   * TLS is taken whenever channel binding is not disabled: when the certificate's hash cannot be determined
   * (Ed25519, Ed448, RSA-PSS, unknown signature), that is fatal with `prefer` as with `require`. Falling
   * back to plain SCRAM would let a man in the middle holding such a certificate strip the binding.
   */
  #bindingData(
    tls: boolean,
    channelBinding: StartupMachineOptions['channelBinding'],
    certificateDer: Uint8Array | null,
    plusOffered: boolean,
  ): Uint8Array | null {
    if (!tls || channelBinding === 'disable') {
      return null;
    }
    if (channelBinding === 'prefer' && !plusOffered) {
      // Nothing to bind to; the `y,,` header tells the server that we could have.
      return null;
    }
    if (certificateDer === null) {
      if (channelBinding === 'require') {
        return null; // chooseSaslMechanism explains the missing certificate.
      }
      throw new AuthenticationError(
        'PGNUDGE_ERR_CHANNEL_BINDING',
        'the server offered SCRAM-SHA-256-PLUS, but no TLS server certificate is available to bind to; ' +
          "pgnudge does not fall back to unbound SCRAM. Set channelBinding: 'disable' (channel_binding=disable) " +
          'to connect without channel binding.',
      );
    }
    try {
      return tlsServerEndPointHash(certificateDer);
    } catch (error) {
      if (channelBinding === 'require' || !(error instanceof AuthenticationError)) {
        throw error;
      }
      throw new AuthenticationError(
        'PGNUDGE_ERR_CHANNEL_BINDING',
        'the server offered SCRAM-SHA-256-PLUS and pgnudge does not fall back to unbound SCRAM, which a man in ' +
          `the middle holding such a certificate could force; ${error.message}`,
        { cause: error },
      );
    }
  }

  #requirePassword(method: string): string {
    const password = this.#options.password();
    if (password === undefined) {
      throw new AuthenticationError(
        'PGNUDGE_ERR_AUTH_FAILED',
        `the server requires a password (${method}) for user "${this.#options.user}", but none was given. ` +
          'Set it in the connection string, PGPASSWORD, or ~/.pgpass.',
      );
    }
    return password;
  }
}

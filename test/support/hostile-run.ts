// Running the real client against a HostileServer: settings that point at the fake, the checks every
// hostile case shares (typed error, no secret, no hang, socket closed, nothing leaked to the process).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PgnudgeError, PgnudgeErrorCode } from '../../src/errors.js';
import {
  type ConnectionOptions,
  type ConnectionSettings,
  resolveConnectionSettings,
} from '../../src/transport/settings.js';
import { makeCa } from './cluster.js';
import type { HostileServer } from './hostile-server.js';
import { NO_FILES_IO } from './live-connection.js';
import { waitFor, withDeadline } from './wait.js';

/** The password every case configures: no error, log line or byte on a plaintext link may carry it. */
export const PASSWORD = 'hostile-Secret-4f9c';

/** Each hostile case must end well inside this: one connect attempt, no retry loop, no hang. */
export const CASE_DEADLINE_MS = 5_000;
/** connect_timeout for cases that end by silence; short, so a silent stage costs little. */
export const CONNECT_TIMEOUT_MS = 600;

/** Connection options for the fake: plaintext, the case password, a short connect_timeout. */
export function fakeOptions(fake: HostileServer) {
  return {
    host: fake.host,
    port: fake.port,
    user: 'hostile',
    password: PASSWORD,
    database: 'postgres',
    sslmode: 'disable',
    connectTimeout: CONNECT_TIMEOUT_MS,
  } as const satisfies ConnectionOptions;
}

/** Settings for the fake, resolved with an empty environment and no files. */
export function fakeSettings(fake: HostileServer, options: ConnectionOptions = {}): ConnectionSettings {
  return resolveConnectionSettings({ ...fakeOptions(fake), ...options }, {}, NO_FILES_IO);
}

/**
 * A logger that keeps every line, trace included (the connection traces each message it sends and
 * reads), to check what was reported and that no line has the password. A feed passes it trace lines
 * only with `logLevel: 'trace'`.
 */
export function recordingLogger() {
  const lines: { level: string; message: string }[] = [];
  const at = (level: string) => (message: string) => lines.push({ level, message });
  const logger = {
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  };
  return { lines, logger };
}

/** What a case expects the client to end with. */
export interface Expected {
  type: abstract new (...args: never[]) => PgnudgeError;
  code: PgnudgeErrorCode;
  message: RegExp;
}

/** Asserts `error` is the expected typed error and that neither it nor its causes carry the password. */
export function assertTyped(error: unknown, expected: Expected): asserts error is PgnudgeError {
  assert.ok(
    error instanceof expected.type,
    `expected ${expected.type.name}, got ${(error as Error)?.constructor?.name}: ${(error as Error)?.message}`,
  );
  assert.equal(error.code, expected.code, error.message);
  assert.match(error.message, expected.message);
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    assert.ok(!e.message.includes(PASSWORD), `the password leaked into: ${e.message}`);
    assert.ok(!String(e.stack).includes(PASSWORD), 'the password leaked into a stack trace');
  }
}

/** Awaits `promise`, which must reject within the case deadline; returns what it rejected with. */
export async function rejection(promise: Promise<unknown>, what: string): Promise<unknown> {
  try {
    await withDeadline(promise, CASE_DEADLINE_MS, what);
  } catch (error) {
    assert.ok(!(error instanceof Error && error.message.startsWith('timed out after')), `hang: ${what}`);
    return error;
  }
  assert.fail(`${what}: expected a rejection, but it succeeded`);
}

/** Waits until the fake sees every client socket closed. */
export async function socketsClosed(fake: HostileServer): Promise<void> {
  await waitFor(() => fake.sessions.length > 0 && fake.open === 0, {
    timeoutMs: 2_000,
    what: `the client to close its socket (${fake.open} open)`,
  });
}

/**
 * Collects uncaught exceptions and unhandled rejections while installed. A hostile byte must end in a
 * typed rejection, never in a throw from a socket callback that only the process would see.
 */
export class ProcessLeakGuard {
  readonly leaks: unknown[] = [];
  readonly #onLeak = (error: unknown) => this.leaks.push(error);

  install(): void {
    process.on('uncaughtException', this.#onLeak);
    process.on('unhandledRejection', this.#onLeak);
  }

  uninstall(): void {
    process.off('uncaughtException', this.#onLeak);
    process.off('unhandledRejection', this.#onLeak);
  }

  /** Fails when anything leaked since the last check (after a macrotask, so late rejections count). */
  async assertNone(what: string): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    const leaks = this.leaks.splice(0);
    assert.deepEqual(
      leaks.map((e) => String((e as Error)?.stack ?? e)),
      [],
      `${what}: uncaught exception or unhandled rejection`,
    );
  }
}

/** A throwaway self-signed certificate for the fake's TLS stages; `remove()` deletes the files. */
export function tlsMaterial(): { cert: Buffer; key: Buffer; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'pgnudge-hostile-'));
  const made = makeCa(dir, 'server', 'localhost');
  return {
    cert: readFileSync(made.cert),
    key: readFileSync(made.key),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

// The bench's handle on one contender child: forks it, collects its messages, and waits on them
// (event-driven, with deadlines) so that the bench process itself stays idle while it measures.
import { type ChildProcess, fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withDeadline } from '../../test/support/wait.js';
import type { ChildConfig, ChildMessage } from './child-protocol.js';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'contender-child.js');

export class ContenderProcess {
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #error: string | undefined;
  #listeners = new Set<() => void>();
  /** Arrival times of the probe table's changes. */
  readonly wakes: number[] = [];
  ready: Extract<ChildMessage, { type: 'ready' }> | undefined;
  bulkFirstAt: number | undefined;
  bulkDone: Extract<ChildMessage, { type: 'bulk-done' }> | undefined;
  measuring = false;

  private constructor(config: ChildConfig, execArgv: string[]) {
    this.#child = fork(CHILD, [JSON.stringify(config)], {
      execArgv,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.#exited = new Promise((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.once('exit', (code, signal) => {
      this.#error ??= code === 0 ? undefined : `the child exited with ${signal ?? code}`;
      this.#notify();
    });
    this.#child.on('message', (message: ChildMessage) => {
      if (message.type === 'ready') this.ready ??= message;
      else if (message.type === 'wake') this.wakes.push(message.at);
      else if (message.type === 'bulk-first') this.bulkFirstAt = message.at;
      else if (message.type === 'bulk-done') this.bulkDone = message;
      else if (message.type === 'measuring') this.measuring = true;
      else this.#error = message.message;
      this.#notify();
    });
  }

  /** Forks the contender and waits until it is ready. */
  static async start(config: ChildConfig, execArgv: string[] = []): Promise<ContenderProcess> {
    const process = new ContenderProcess(config, execArgv);
    try {
      await process.until(() => process.ready !== undefined, 60_000, `${config.contender} to be ready`);
    } catch (error) {
      await process.close();
      throw error;
    }
    return process;
  }

  /** The process whose CPU and memory are the contender's. */
  get pid(): number {
    return this.ready!.pid;
  }

  /** Whether the contender runs in a process of its own (pg_recvlogical), not in the Node child. */
  get external(): boolean {
    return this.ready!.pid !== this.#child.pid;
  }

  /** Resolves once `condition` holds, re-checked on every message; rejects on a child error. */
  until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
    let listener = () => {};
    const met = new Promise<void>((resolve, reject) => {
      listener = () => {
        if (this.#error !== undefined) reject(new Error(`${what}: ${this.#error}`));
        else if (condition()) resolve();
      };
      this.#listeners.add(listener);
      listener();
    });
    return withDeadline(met, timeoutMs, what).finally(() => this.#listeners.delete(listener));
  }

  #notify(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  /** Starts the child's event-loop delay monitor for the drain and waits until it runs. */
  async measureDrain(): Promise<void> {
    this.#child.send({ type: 'measure-drain' });
    await this.until(() => this.measuring, 30_000, 'the child to start measuring');
  }

  /** Asks the contender to close and waits for the child to end; kills it after a deadline. */
  async close(): Promise<void> {
    // A child that is already going away may drop the request; the deadline below covers it.
    if (this.#child.connected) this.#child.send({ type: 'close' }, () => {});
    await withDeadline(this.#exited, 30_000, 'the contender child to exit').catch(() => {
      this.#child.kill('SIGKILL');
    });
  }
}

// The messages between the comparison bench and a contender's child process (bench/support/
// contender-child.ts). Times are nowMs() wall-clock milliseconds, comparable across the processes.
import type { Target } from '../contenders/contender.js';

export interface ChildConfig {
  contender: string;
  target: Target;
  /** The table whose every change is reported back (latency probes). */
  probeTable: string;
  /** The table of the bulk transaction, and how many rows it will carry. */
  bulkTable: string;
  bulkRows: number;
}

export type ChildMessage =
  /** Connected; connectMs from calling start() to ready(); pid is the process to measure. */
  | { type: 'ready'; at: number; connectMs: number; pid: number }
  /** A change of the probe table reached the contender. */
  | { type: 'wake'; at: number }
  /** The bulk transaction's first change reached the contender. */
  | { type: 'bulk-first'; at: number }
  /**
   * Every row of the bulk transaction is accounted for (contenders that count rows only), with the
   * child's event-loop delay from `measure-drain` on (null where the contender runs in another process).
   */
  | { type: 'bulk-done'; at: number; counted: number; eventLoopDelayP99Ms: number | null }
  /** The event-loop delay monitor runs: the bench may start the bulk transaction. */
  | { type: 'measuring' }
  | { type: 'error'; message: string };

export type ParentMessage = { type: 'close' } | { type: 'measure-drain' };

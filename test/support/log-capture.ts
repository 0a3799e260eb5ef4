// A feed's or bridge's log as a test sees it: every line by level, and waits, with deadlines, for the
// warnings and errors a failure is logged as.
import { waitFor } from './wait.js';

/** Log lines by level, so tests can wait for a feed's warnings. */
export class LogCapture {
  readonly lines: { level: string; message: string }[] = [];
  readonly logger = {
    info: (message: string) => this.lines.push({ level: 'info', message }),
    warn: (message: string) => this.lines.push({ level: 'warn', message }),
    error: (message: string) => this.lines.push({ level: 'error', message }),
  };

  /** Warnings and errors (a failure is logged as one or the other) at or after index `from`. */
  failures(from = 0): string[] {
    return this.lines
      .slice(from)
      .filter((line) => line.level !== 'info')
      .map((line) => line.message);
  }

  /** Index to pass to later waits, so they only look at lines logged after this point. */
  mark(): number {
    return this.lines.length;
  }

  /** Waits for a warning or error matching `pattern` at or after `from`; returns it. */
  async failure(pattern: RegExp, from = 0, timeoutMs = 15_000): Promise<string> {
    return waitFor(() => this.failures(from).find((line) => pattern.test(line)), {
      timeoutMs,
      what: `a logged failure matching ${pattern} (have ${JSON.stringify(this.failures(from))})`,
    });
  }
}

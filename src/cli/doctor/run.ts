// `pgnudge doctor` (contract §5): gathers facts (gather.ts), turns them into checks with a copy-paste fix for
// the platform it runs on (checks.ts, fixes.ts), and prints them (format.ts).
import { checkPublication } from '../../decode/pgoutput-options.js';
import { parseTableName, type TableName } from '../../feed/tables.js';
import type { BoundLogger } from '../../logger.js';
import { type ConnectionSettings, describeTarget } from '../../transport/settings.js';
import type { Palette } from '../color.js';
import { evaluateDoctor } from './checks.js';
import type { DoctorReport, DoctorWatch } from './facts.js';
import { formatDoctorHuman, formatDoctorJson } from './format.js';
import { gatherDoctorFacts, toFailure } from './gather.js';

/** What `pgnudge doctor` needs from the command line and the process. */
export interface DoctorRun {
  settings: ConnectionSettings;
  /** The publication and tables a feed will read (--publication, --table), checked too. */
  watch?: DoctorWatch;
  json: boolean;
  write(text: string): void;
  logger?: BoundLogger;
  probeTimeoutMs?: number;
  /** --table: also check that these tables exist. */
  tables?: readonly TableName[];
  /** Colour for the human report (a terminal's). */
  paint?: Palette;
}

/**
 * The publication and tables from --publication and --table, checked by the rules a feed's options follow
 * (a ConfigError, exit 2, for a bad one). With a publication, doctor also checks that it covers the tables.
 */
export function doctorWatch(
  publication: string | undefined,
  tables: readonly string[] | undefined,
): DoctorWatch {
  if (publication !== undefined) checkPublication(publication);
  return {
    publication: publication ?? null,
    tables: tables === undefined ? null : tables.map((entry) => parseTableName(entry)),
  };
}

/** Runs every check and prints the report. Returns the exit status: 0 when a feed can run, else 1. */
export async function runDoctor(run: DoctorRun): Promise<number> {
  let report: DoctorReport;
  const first = run.settings.hosts[0];
  const target = {
    target: describeTarget(run.settings),
    host: first?.host ?? '',
    port: first?.port ?? 0,
  };
  try {
    const facts = await gatherDoctorFacts(run.settings, target, {
      ...(run.logger ? { logger: run.logger } : {}),
      ...(run.watch ? { watch: run.watch } : {}),
      ...(run.probeTimeoutMs === undefined ? {} : { probeTimeoutMs: run.probeTimeoutMs }),
      ...(run.tables === undefined ? {} : { tables: run.tables }),
    });
    report = evaluateDoctor(facts);
  } catch (error) {
    // gatherDoctorFacts catches what it expects; anything else still becomes a failed check, not a stack.
    report = evaluateDoctor({
      ...target,
      user: run.settings.user,
      replicationSession: false,
      plugins: {},
      connectionError: toFailure(error),
    });
  }
  run.write(`${run.json ? formatDoctorJson(report) : formatDoctorHuman(report, run.paint)}\n`);
  return report.ok ? 0 : 1;
}

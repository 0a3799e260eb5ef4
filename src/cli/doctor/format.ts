// Doctor's two outputs: lines for people, one JSON document for scripts.
import type { DoctorReport } from './facts.js';
import { PLATFORM_NAMES } from './platform.js';

const MARK = { ok: '✓', fail: '✗', skip: '-', warning: '!' } as const;

/** The report for people: one line per check, and the fix indented under each failed one. */
export function formatDoctorHuman(report: DoctorReport): string {
  const lines = [`pgnudge doctor: ${report.target} (${PLATFORM_NAMES[report.platform]})`, ''];
  const width = Math.max(...report.checks.map((check) => check.name.length));
  for (const check of report.checks) {
    const mark = check.ok ? MARK.ok : check.skipped ? MARK.skip : check.warning ? MARK.warning : MARK.fail;
    lines.push(`${mark} ${check.name.padEnd(width)}  ${check.detail}`);
    if (check.fix) for (const line of check.fix.split('\n')) lines.push(`    ${line}`);
  }
  lines.push('');
  if (report.ok) {
    const warned = report.checks.some((check) => check.warning);
    lines.push(
      `OK: a feed can run here, with ${report.plugin}${warned ? ', but it will miss what the checks under ! say' : ''}.`,
    );
  } else {
    lines.push('NOT READY: a feed cannot run yet. Apply the fixes under ✗ and run pgnudge doctor again.');
  }
  return lines.join('\n');
}

/** The `--json` document: `{ ok, plugin, checks: [{ name, ok, detail, fix }], platform }`. */
export function formatDoctorJson(report: DoctorReport): string {
  return JSON.stringify({
    ok: report.ok,
    plugin: report.plugin,
    checks: report.checks.map(({ name, ok, detail, fix, skipped, warning }) =>
      skipped
        ? { name, ok, detail, fix, skipped }
        : warning
          ? { name, ok, detail, fix, warning }
          : { name, ok, detail, fix },
    ),
    platform: report.platform,
  });
}

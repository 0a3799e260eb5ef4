// Doctor's two outputs: lines for people, one JSON document for scripts.
import { type Palette, PLAIN } from '../color.js';
import type { DoctorReport } from './facts.js';
import { PLATFORM_NAMES } from './platform.js';

const MARK = { ok: '✓', fail: '✗', skip: '-', warning: '!' } as const;

/** The report for people: one line per check, and the fix indented under each failed one; painted on a terminal. */
export function formatDoctorHuman(report: DoctorReport, paint: Palette = PLAIN): string {
  const lines = [`pgnudge doctor: ${report.target} (${PLATFORM_NAMES[report.platform]})`, ''];
  const width = Math.max(...report.checks.map((check) => check.name.length));
  for (const check of report.checks) {
    const mark = check.ok
      ? paint.green(MARK.ok)
      : check.skipped
        ? paint.dim(MARK.skip)
        : check.warning
          ? paint.yellow(MARK.warning)
          : paint.red(MARK.fail);
    lines.push(`${mark} ${check.name.padEnd(width)}  ${check.detail}`);
    if (check.fix) for (const line of check.fix.split('\n')) lines.push(`    ${line}`);
  }
  lines.push('');
  const warned = report.checks.some((check) => check.warning);
  const missing = warned ? ', but it will miss what the checks under ! say' : '';
  if (report.ok && report.feed === 'WalFeed') {
    lines.push(`${paint.green('OK')}: a feed can run here, with ${report.plugin}${missing}.`);
    if (report.rawFeed) lines.push('A RawFeed (pgnudge watch --physical) can run here too.');
  } else if (report.ok && report.feed === 'RawFeed') {
    lines.push(
      `${paint.green('OK')}: a RawFeed can run here: pgnudge watch --physical (no slot; the whole cluster's WAL crosses the network).`,
      'A WalFeed (logical decoding, only the changes) cannot run yet: apply the fixes under ✗ for it.',
    );
  } else {
    lines.push(
      `${paint.red('NOT READY')}: a feed cannot run yet. Apply the fixes under ✗ and run pgnudge doctor again.`,
    );
  }
  return lines.join('\n');
}

/** The `--json` document: `{ ok, plugin, feed, checks: [{ name, ok, detail, fix }], platform }`. */
export function formatDoctorJson(report: DoctorReport): string {
  return JSON.stringify({
    ok: report.ok,
    plugin: report.plugin,
    feed: report.feed,
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

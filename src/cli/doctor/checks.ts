// Doctor's verdict: facts in, checks out, in order, each failed one with its fix. Pure.
import type { PluginName } from '../../decode/change.js';
import {
  formatCreatePublication,
  formatPublishedTable,
  LISTED_TABLES,
  publicationWarnings,
} from '../../feed/publication.js';
import { formatPayload } from '../../feed/tables.js';
import { describeMissingTable, describeWatched } from '../../feed/watched-tables.js';
import {
  type CheckName,
  type DoctorCheck,
  type DoctorFacts,
  type DoctorReport,
  type Failure,
  type PublicationReport,
  probedPlugins,
} from './facts.js';
import { type PlatformFixes, platformFixes } from './fixes.js';
import { detectPlatform, isPoolerRefusal, poolerHint } from './platform.js';

const MIN_SERVER_VERSION_NUM = 150000;
/** The first major whose WAL a RawFeed cannot read. */
const MAX_RAW_SERVER_VERSION_NUM = 190000;

function authDetail(facts: DoctorFacts): string {
  const c = facts.connection;
  if (!c) return '';
  return `${c.tls ? 'over TLS' : 'without TLS'}, authenticated with ${c.authMethod}`;
}

/** Turns facts into checks, in order, each failed one with its fix. Pure. */
export function evaluateDoctor(facts: DoctorFacts): DoctorReport {
  const platform = detectPlatform(facts);
  const fixes = platformFixes(platform, facts.user);
  const checks: DoctorCheck[] = [];
  const pass = (name: CheckName, detail: string) => checks.push({ name, ok: true, detail, fix: null });
  const fail = (name: CheckName, detail: string, fix: string) =>
    checks.push({ name, ok: false, detail, fix });
  const skip = (name: CheckName, detail: string) =>
    checks.push({ name, ok: false, detail, fix: null, skipped: true });
  const warn = (name: CheckName, detail: string, fix: string) =>
    checks.push({ name, ok: false, detail, fix, warning: true });

  if (facts.connectionError || !facts.connection) {
    const failure = facts.connectionError ?? { code: 'PGNUDGE_ERR_CONNECTION', message: 'no session' };
    fail('connection', failure.message, fixes.connection(failure, facts.target));
    return { ok: false, plugin: null, feed: null, rawFeed: false, checks, platform, target: facts.target };
  }
  pass('connection', `connected to ${facts.target} ${authDetail(facts)}`);

  // server_version
  if (facts.serverVersionNum === undefined) skip('server_version', 'the server did not report its version');
  else if (facts.serverVersionNum >= MIN_SERVER_VERSION_NUM)
    pass(
      'server_version',
      `PostgreSQL ${facts.serverVersion ?? facts.serverVersionNum} (15 or later needed)`,
    );
  else
    fail(
      'server_version',
      `PostgreSQL ${facts.serverVersion ?? facts.serverVersionNum} is older than 15`,
      fixes.version(),
    );

  // replication: the REPLICATION attribute (or an equivalent grant), and a session that opens.
  const startup = facts.replicationStartupError;
  const poolerRefused = isPoolerRefusal(startup);
  const attributes = [
    facts.rolSuper ? 'SUPERUSER' : undefined,
    facts.rolReplication ? 'REPLICATION' : undefined,
    ...(facts.memberOf ?? []).filter((role) => role === 'rds_replication').map((role) => `member of ${role}`),
  ].filter((x): x is string => x !== undefined);
  const mayReplicate = attributes.length > 0;
  const roleText = `role ${facts.user}`;
  if (facts.replicationSession) {
    pass(
      'replication',
      `${roleText} opened a replication session${mayReplicate ? ` (${attributes.join(', ')})` : ''}`,
    );
  } else if (
    startup?.code === 'PGNUDGE_ERR_REPLICATION_DENIED' &&
    startup.sqlState === '28000' &&
    mayReplicate
  ) {
    fail('replication', `${roleText} has ${attributes.join(', ')}, but: ${startup.message}`, fixes.hba());
  } else if (
    startup?.code === 'PGNUDGE_ERR_REPLICATION_DENIED' ||
    (facts.rolReplication !== undefined && !mayReplicate)
  ) {
    fail(
      'replication',
      `${roleText} has neither REPLICATION nor SUPERUSER${startup ? `: ${startup.message}` : ''}`,
      fixes.replication(),
    );
  } else if (startup?.sqlState === '53300') {
    // Too many walsenders: reported under wal_senders; the role itself may well be fine.
    if (mayReplicate) pass('replication', `${roleText} has ${attributes.join(', ')}`);
    else skip('replication', `${roleText}: could not tell (${startup.message})`);
  } else if (poolerRefused) {
    if (mayReplicate) pass('replication', `${roleText} has ${attributes.join(', ')}`);
    else skip('replication', `${roleText}: could not tell through the pooler`);
  } else {
    fail(
      'replication',
      `the replication session was refused${startup ? `: ${startup.message}` : ''}`,
      mayReplicate ? fixes.hba() : fixes.replication(),
    );
  }

  // wal_level
  const walLevel = facts.settings?.wal_level;
  if (walLevel === undefined) skip('wal_level', 'could not read wal_level');
  else if (walLevel === 'logical') pass('wal_level', 'wal_level = logical');
  else fail('wal_level', `wal_level = ${walLevel}; logical decoding needs logical`, fixes.walLevel());

  // a hot standby (contract R26): what a feed there needs
  if (facts.inRecovery === true) evaluateStandby(facts, platform, fixes, { pass, fail, skip });

  // free replication slots and WAL senders
  const maxSlots = numberSetting(facts, 'max_replication_slots');
  if (maxSlots === undefined || facts.usedReplicationSlots === undefined)
    skip('replication_slots', 'could not count replication slots');
  else {
    const free = maxSlots - facts.usedReplicationSlots;
    const detail = `${free} of max_replication_slots = ${maxSlots} free`;
    if (free >= 1) pass('replication_slots', detail);
    else fail('replication_slots', `${detail}: a feed needs one`, fixes.maxSetting('max_replication_slots'));
  }
  const maxSenders = numberSetting(facts, 'max_wal_senders');
  if (startup?.sqlState === '53300') {
    fail('wal_senders', `no WAL sender free: ${startup.message}`, fixes.maxSetting('max_wal_senders'));
  } else if (maxSenders === undefined || facts.usedWalSenders === undefined)
    skip('wal_senders', 'could not count WAL senders');
  else {
    const free = maxSenders - facts.usedWalSenders;
    const detail = `${free} of max_wal_senders = ${maxSenders} free for a feed`;
    if (free >= 1) pass('wal_senders', detail);
    else fail('wal_senders', `${detail}: a feed needs one`, fixes.maxSetting('max_wal_senders'));
  }

  // plugins, by temporary slot
  const plugin = evaluatePlugins(facts, fixes, { pass, fail, skip }, walLevel, checks);

  // the publication a feed with --publication reads (contract R25)
  if (facts.publication !== undefined) evaluatePublication(facts.publication, { pass, fail, skip, warn });

  // direct connection, as far as it can be told
  const hint = poolerHint(facts);
  if (poolerRefused) {
    fail(
      'direct_connection',
      `a pooler refused the replication session: ${startup?.message}`,
      fixes.direct(),
    );
  } else if (facts.replicationSession) {
    const through =
      facts.serverPort != null && facts.port !== facts.serverPort
        ? ` (the server listens on port ${facts.serverPort}, you connected to ${facts.port}: a proxy or port mapping, which replication tolerates)`
        : '';
    pass(
      'direct_connection',
      `${facts.identifySystem ? 'IDENTIFY_SYSTEM answered' : 'the replication session opened'}: replication works on this connection, so no transaction pooler is in the way${through}`,
    );
  } else if (hint) {
    fail('direct_connection', `${hint}; a feed cannot run through it`, fixes.direct());
  } else {
    skip('direct_connection', 'could not tell without a replication session');
  }

  // tables (--table): a feed would run, but wake for nothing until the table exists; doctor says so.
  const tables = facts.tables;
  if (tables !== undefined) {
    if (tables.error !== undefined) skip('tables', `could not look the tables up: ${tables.error}`);
    else if (tables.missing !== undefined && tables.missing.length > 0) {
      fail(
        'tables',
        tables.missing.map(describeMissingTable).join('; '),
        [
          'Check each name as a feed reads it: schema.table, quoted as in SQL where case or',
          'punctuation matters (--table \'"My Schema"."Orders"\'), or create the table. A feed may',
          'watch a table that does not exist yet; it wakes once the table is created.',
        ].join('\n'),
      );
    } else
      pass(
        'tables',
        `${describeWatched(tables.asked)}: ${tables.asked.length === 1 ? 'exists' : 'all exist'}`,
      );
  }

  // physical replication, for a RawFeed (contract R27): no slot, no plugin, wal_level replica is enough.
  const rawFeed = evaluatePhysical(facts, fixes, { pass, fail, skip }, checks);

  const blocking = checks.some(
    (check) =>
      !check.ok &&
      !check.skipped &&
      !check.warning &&
      !check.name.startsWith('plugin_') &&
      check.name !== 'physical_replication' &&
      check.name !== 'tables',
  );
  // WalFeed first when both can run: it receives only the changes, a RawFeed the whole cluster's WAL.
  const feed = plugin !== null && !blocking ? 'WalFeed' : rawFeed ? 'RawFeed' : null;
  // A missing watched table fails either feed kind alike: it would run, and wake for nothing; so does a
  // publication asked about that a feed could not read through (--publication).
  const unusable = checks.some(
    (check) =>
      (check.name === 'tables' || check.name === 'publication') &&
      !check.ok &&
      !check.skipped &&
      !check.warning,
  );
  return {
    ok: feed !== null && !unusable,
    plugin,
    feed,
    rawFeed,
    checks,
    platform,
    target: facts.target,
  };
}

/** The physical_replication check; returns whether a RawFeed can run. */
function evaluatePhysical(
  facts: DoctorFacts,
  fixes: PlatformFixes,
  record: Recorders,
  earlier: readonly DoctorCheck[],
): boolean {
  const name: CheckName = 'physical_replication';
  const num = facts.serverVersionNum;
  const readable = num !== undefined && num >= MIN_SERVER_VERSION_NUM && num < MAX_RAW_SERVER_VERSION_NUM;
  if (facts.physicalSession === undefined) {
    record.skip(name, 'not probed');
    return false;
  }
  if (facts.physicalSession) {
    if (!readable) {
      record.fail(
        name,
        `a physical replication session opened, but RawFeed reads the WAL of PostgreSQL 15 to 18 only (this is ${facts.serverVersion ?? num ?? 'unknown'})`,
        'Use WalFeed (logical decoding), or a pgnudge release that knows this major.',
      );
      return false;
    }
    record.pass(
      name,
      'a physical replication session opened: a RawFeed (pgnudge watch --physical) can stream here, with no slot',
    );
    return true;
  }
  const failure = facts.physicalStartupError ?? { message: 'refused' };
  const reported = earlier.some((check) => check.name === 'replication' && !check.ok && !check.skipped);
  if (failure.code === 'PGNUDGE_ERR_REPLICATION_DENIED' && failure.sqlState === '42501') {
    record.fail(
      name,
      `RawFeed's physical replication session was refused: ${failure.message}`,
      reported ? 'Fix replication (above); then this check can pass.' : fixes.replication(),
    );
  } else if (failure.sqlState === '53300') {
    record.fail(
      name,
      `no WAL sender free for a physical session: ${failure.message}`,
      fixes.maxSetting('max_wal_senders'),
    );
  } else {
    record.fail(
      name,
      `RawFeed's physical replication session was refused: ${failure.message}`,
      fixes.physicalHba(),
    );
  }
  return false;
}

function numberSetting(facts: DoctorFacts, name: string): number | undefined {
  const value = facts.settings?.[name];
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

type Recorders = {
  pass(name: CheckName, detail: string): void;
  fail(name: CheckName, detail: string, fix: string): void;
  skip(name: CheckName, detail: string): void;
};

/** PostgreSQL 16+ tells a standby's wal_level error from its own: "... on the primary". */
const ON_PRIMARY = /on the primary/;

function evaluateStandby(
  facts: DoctorFacts,
  platform: DoctorReport['platform'],
  fixes: PlatformFixes,
  record: Recorders,
): void {
  const version = facts.serverVersion ?? String(facts.serverVersionNum ?? '?');
  const what = `a hot standby of PostgreSQL ${version}`;
  if (facts.serverVersionNum !== undefined && facts.serverVersionNum < 160000) {
    record.fail(
      'standby',
      `${what}: logical decoding on a standby needs 16 or later`,
      fixes.standbyVersion(),
    );
    return;
  }
  const unsupported = fixes.replicaDecoding();
  if (unsupported !== null && (platform === 'aurora' || platform === 'neon')) {
    record.fail('standby', `${what} on a platform whose replicas do not decode logically`, unsupported);
    return;
  }
  const feedback = facts.settings?.hot_standby_feedback;
  if (feedback !== undefined && feedback !== 'on') {
    record.fail(
      'standby',
      `${what} with hot_standby_feedback = ${feedback}: the primary may vacuum away catalog rows its slot needs, which ends the feed's slot (it reconnects and resyncs, again and again)`,
      fixes.feedback(),
    );
    return;
  }
  const probes = Object.values(facts.plugins);
  const primaryRefused = probes.find(
    (probe) => probe !== undefined && !probe.ok && ON_PRIMARY.test(probe.failure.message),
  );
  if (primaryRefused !== undefined && !primaryRefused.ok) {
    record.fail(
      'standby',
      `${what}, but its primary's wal_level is not logical (${primaryRefused.failure.message})`,
      fixes.primaryWalLevel(),
    );
    return;
  }
  const created = probes.some((probe) => probe?.ok === true);
  const slot = facts.settings?.primary_slot_name;
  record.pass(
    'standby',
    `${what}: hot_standby_feedback = ${feedback ?? '?'}; ${
      created
        ? "the primary's wal_level is logical (a slot was created here)"
        : "the primary's wal_level could not be told (no slot was created here)"
    }${slot === '' ? '; no primary_slot_name, so the feedback holds only while the standby is connected' : ''}; creating a slot here waits for the primary's next running-transactions record (SELECT pg_log_standby_snapshot() on the primary ends the wait)${unsupported === null ? '' : `. ${unsupported}`}`,
  );
}

/** The publication check: exists, what it covers, what it hides from the watched tables. */
function evaluatePublication(
  report: PublicationReport,
  record: Recorders & { warn(name: CheckName, detail: string, fix: string): void },
): void {
  const name = JSON.stringify(report.name);
  if (report.error !== undefined) {
    record.skip('publication', `could not read publication ${name} from the catalog: ${report.error}`);
    return;
  }
  const create = formatCreatePublication(report.name, report.keys);
  const createText = [create.statement, ...create.notes.map((note) => `-- ${note}`)].join('\n');
  if (report.facts === null) {
    record.fail(
      'publication',
      `publication ${name} does not exist in this database; pgnudge never creates one`,
      `As the tables' owner${report.keys === null ? ' (FOR ALL TABLES: a superuser)' : ''}:\n${createText}`,
    );
    return;
  }
  const facts = report.facts;
  const parts: string[] = [];
  if (facts.allTables) parts.push('FOR ALL TABLES');
  if (report.schemas.length > 0) parts.push(`TABLES IN SCHEMA ${report.schemas.join(', ')}`);
  if (report.tables.length > 0) {
    const shown = report.tables.slice(0, LISTED_TABLES).map(formatPublishedTable).join(', ');
    parts.push(`FOR TABLE ${shown}${report.tables.length > LISTED_TABLES ? ', …' : ''}`);
  }
  if (parts.length === 0) parts.push('no tables');
  const missing = report.coverage.filter((c) => !c.exists).map((c) => JSON.stringify(formatPayload(c.table)));
  const detail = `publication ${name}: ${parts.join('; ')}; publish_via_partition_root ${facts.viaRoot ? 'on' : 'off'}${
    missing.length > 0 ? `; ${missing.join(', ')} ${missing.length === 1 ? 'does' : 'do'} not exist yet` : ''
  }`;
  const problems = publicationWarnings(facts, report.coverage);
  // Key-only: every watched table listed with a column list. Otherwise the server sends whole rows.
  const keyOnly =
    report.keys !== null &&
    !facts.allTables &&
    report.keys.every(
      (key) =>
        !key.exists ||
        report.tables.some(
          (t) =>
            t.columns !== null && t.table.schema === key.table.schema && t.table.table === key.table.table,
        ),
    );
  const suggestion =
    report.keys === null || keyOnly
      ? null
      : `A key-only publication costs the server less per row; for these tables:\n${formatCreatePublication(`${report.name}_keys`, report.keys).statement}`;
  if (problems.length > 0) {
    record.warn(
      'publication',
      `${detail}. ${problems.join('. ')}`,
      suggestion ?? "As the publication's owner, change it as said above.",
    );
    return;
  }
  record.pass('publication', suggestion === null ? detail : `${detail}. ${suggestion.replace('\n', ' ')}`);
}

function evaluatePlugins(
  facts: DoctorFacts,
  fixes: PlatformFixes,
  record: Recorders,
  walLevel: string | undefined,
  earlier: readonly DoctorCheck[],
): PluginName | null {
  const probes = facts.plugins;
  // A cause already reported above gets a pointer, not the same fix again.
  const reported = (name: CheckName, fix: string) =>
    earlier.some((check) => check.name === name && !check.ok && !check.skipped)
      ? `Fix ${name} (above); then this check can pass.`
      : fix;
  const worked = (plugin: PluginName) => probes[plugin]?.ok === true;
  const blocked = (failure: Failure): { why: string; fix: string } | undefined => {
    if (ON_PRIMARY.test(failure.message))
      return {
        why: "logical decoding is blocked: the primary's wal_level is not logical",
        fix: reported('standby', fixes.primaryWalLevel()),
      };
    if (failure.code === 'PGNUDGE_ERR_WAL_LEVEL' || (walLevel !== undefined && walLevel !== 'logical'))
      return {
        why: 'logical decoding is blocked: wal_level is not logical',
        fix: reported('wal_level', fixes.walLevel()),
      };
    if (failure.sqlState === '53400' || /replication slots are in use/i.test(failure.message))
      return {
        why: 'logical decoding is blocked: no free replication slot',
        fix: reported('replication_slots', fixes.maxSetting('max_replication_slots')),
      };
    if (failure.timedOut && facts.inRecovery)
      return {
        why: `${failure.message}, or the primary has logged no running-transactions record meanwhile`,
        fix: 'On the primary: SELECT pg_log_standby_snapshot(); (it logs one at once), then try again; if it still waits, find and end the long-running transaction on the primary (pg_stat_activity).',
      };
    if (failure.timedOut)
      return {
        why: failure.message,
        fix: 'Find and end the long-running transaction (SELECT pid, xact_start, query FROM pg_stat_activity WHERE xact_start IS NOT NULL ORDER BY xact_start), then try again.',
      };
    return undefined;
  };
  const probed = probedPlugins(facts.publication !== undefined);
  for (const plugin of probed) {
    const name: CheckName = `plugin_${plugin}`;
    const probe = probes[plugin];
    if (probe === undefined) {
      record.skip(
        name,
        facts.probeAbort ??
          (facts.replicationSession
            ? `${plugin} was not probed`
            : `${plugin} not probed: creating a slot needs a replication session`),
      );
      continue;
    }
    if (probe.ok) {
      record.pass(name, `created and dropped a temporary slot with ${plugin}`);
      continue;
    }
    const failure = probe.failure;
    if (plugin === 'pgoutput') {
      // Built into PostgreSQL: it cannot be missing, so the cause is decoding itself.
      const cause = blocked(failure);
      record.fail(
        name,
        cause
          ? `${cause.why} (${failure.message})`
          : `creating a temporary slot with pgoutput failed: ${failure.message}`,
        cause?.fix ?? 'Fix the cause above and run pgnudge doctor again.',
      );
      continue;
    }
    const other: PluginName = plugin === 'wal2json' ? 'test_decoding' : 'wal2json';
    if (failure.sqlState === '42501' && /output plugin/.test(failure.message)) {
      record.fail(
        name,
        `${plugin} is installed but not trusted for REPLICATION roles (${failure.message})`,
        fixes.untrustedPlugin(plugin, worked(other)),
      );
      continue;
    }
    const missing = failure.code === 'PGNUDGE_ERR_PLUGIN_MISSING' || failure.sqlState === '58P01';
    if (missing) {
      record.fail(
        name,
        `${plugin} is not installed on the server (${failure.message})`,
        plugin === 'wal2json' ? fixes.wal2json(worked(other)) : fixes.testDecoding(),
      );
      continue;
    }
    // Not a missing file: if the other plugin failed too, decoding itself is blocked, not this plugin.
    const cause = blocked(failure);
    if (cause && !worked(other)) {
      record.fail(name, `${cause.why} (${failure.message})`, cause.fix);
      continue;
    }
    record.fail(
      name,
      `creating a temporary slot with ${plugin} failed: ${failure.message}`,
      plugin === 'wal2json' ? fixes.wal2json(worked(other)) : fixes.testDecoding(),
    );
  }
  return probed.find(worked) ?? null;
}

// Where a server runs, told from the facts: its settings, roles, version string and host name, and the
// host names and ports of the transaction poolers in front of the managed platforms.
import type { DoctorFacts, Failure, Platform } from './facts.js';

export const PLATFORM_NAMES: Record<Platform, string> = {
  rds: 'Amazon RDS for PostgreSQL',
  aurora: 'Amazon Aurora PostgreSQL',
  azure: 'Azure Database for PostgreSQL flexible server',
  cloudsql: 'Google Cloud SQL for PostgreSQL',
  supabase: 'Supabase',
  neon: 'Neon',
  'self-managed': 'self-managed PostgreSQL',
};

function hasSetting(facts: DoctorFacts, pattern: RegExp): boolean {
  return Object.keys(facts.settings ?? {}).some((name) => pattern.test(name));
}

/** Fingerprints the platform from settings, roles, the version string and the host name. */
export function detectPlatform(facts: DoctorFacts): Platform {
  const host = facts.host.toLowerCase();
  const roles = new Set(facts.platformRoles ?? []);
  const version = facts.versionString ?? '';
  if (
    facts.auroraFunction ||
    hasSetting(facts, /^(aurora|apg)[._]/) ||
    /\.cluster-(ro-)?[a-z0-9]+\.[a-z0-9-]+\.rds\.amazonaws\.com$/.test(host)
  )
    return 'aurora';
  if (
    hasSetting(facts, /^rds\./) ||
    roles.has('rds_superuser') ||
    /\brds\b/i.test(version) ||
    host.endsWith('.rds.amazonaws.com')
  )
    return 'rds';
  if (
    hasSetting(facts, /^azure\./) ||
    roles.has('azure_pg_admin') ||
    host.endsWith('.postgres.database.azure.com')
  )
    return 'azure';
  if (hasSetting(facts, /^cloudsql\./) || roles.has('cloudsqlsuperuser')) return 'cloudsql';
  if (roles.has('supabase_admin') || host.endsWith('.supabase.co') || host.endsWith('.supabase.com'))
    return 'supabase';
  if (hasSetting(facts, /^neon\./) || roles.has('neon_superuser') || host.endsWith('.neon.tech'))
    return 'neon';
  return 'self-managed';
}

/** The roles whose existence tells the platform apart; gather.ts asks which exist and which the user holds. */
export const PLATFORM_ROLES: readonly string[] = [
  'rds_superuser',
  'rds_replication',
  'azure_pg_admin',
  'cloudsqlsuperuser',
  'supabase_admin',
  'neon_superuser',
];

/** Host names and ports of known transaction poolers (PgBouncer's default port, Supabase, Neon). */
export function poolerHint(facts: DoctorFacts): string | undefined {
  const host = facts.host.toLowerCase();
  if (/-pooler\./.test(host)) return `the host name ${facts.host} is Neon's pooled endpoint`;
  if (host.endsWith('pooler.supabase.com'))
    return `the host name ${facts.host} is Supabase's connection pooler`;
  if (facts.port === 6432) return 'port 6432 is PgBouncer’s default port';
  if (facts.port === 6543 && host.includes('supabase')) return "port 6543 is Supabase's transaction pooler";
  return undefined;
}

const POOLER_ERROR = /unsupported startup parameter|pgbouncer|supavisor|pooler|odyssey|pgcat/i;

/** Whether a startup refusal came from a pooler rather than PostgreSQL. */
export function isPoolerRefusal(failure: Failure | undefined): boolean {
  return failure !== undefined && POOLER_ERROR.test(failure.message);
}

// The StartupMessage's parameters: who connects where, the server settings pinned for the session's kind
// (the packet outranks ALTER ROLE / ALTER DATABASE ... SET, contract R21), and the kind of session.
import { ConfigError } from '../errors.js';
import type { ReplicationMode } from './connection.js';
import type { ConnectionSettings } from './settings.js';

/**
 * What a session depends on, pinned for every session of a mode. A walsender must deliver NoticeResponse:
 * wal2json reports a change to a table without a replica identity only as a WARNING, and
 * `client_min_messages = error` set on the role or database would drop it, and with it the wakeup.
 * docs/how-it-works.md lists every setting the feed relies on.
 */
export function pinnedSettingsFor(replication: ReplicationMode): Readonly<Record<string, string>> {
  return replication === 'database' ? { client_min_messages: 'notice' } : {};
}

/** Startup parameters pgnudge sets itself; `pinnedSettings` may not name them. */
const OWN_PARAMETERS = new Set([
  'user',
  'database',
  'replication',
  'options',
  'application_name',
  'client_encoding',
]);
const SETTING_NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;

/** The StartupMessage parameters: who and where, the pinned settings, and the session's kind. */
export function startupParameters(
  settings: ConnectionSettings,
  replication: ReplicationMode,
  pinnedSettings: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const params: Record<string, string> = {
    user: settings.user,
    database: settings.database,
    // Every text pgnudge reads (names, notices, errors) is decoded as UTF-8.
    client_encoding: 'UTF8',
  };
  for (const [name, value] of Object.entries({
    ...pinnedSettingsFor(replication),
    ...pinnedSettings,
  })) {
    if (!SETTING_NAME.test(name) || OWN_PARAMETERS.has(name)) {
      throw new ConfigError(
        `pinnedSettings cannot set ${JSON.stringify(name)}: give server settings by name (e.g. client_min_messages), not ${[...OWN_PARAMETERS].join(', ')}`,
        'pinnedSettings',
      );
    }
    if (typeof value !== 'string') {
      throw new ConfigError(`pinnedSettings.${name} must be a string, not ${typeof value}`, 'pinnedSettings');
    }
    params[name] = value;
  }
  if (settings.applicationName !== undefined) params.application_name = settings.applicationName;
  if (replication === 'database') params.replication = 'database';
  if (replication === 'physical') params.replication = 'true';
  return params;
}

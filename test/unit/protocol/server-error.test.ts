import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ServerErrorFields } from '../../../src/errors.js';
import { classifyServerError, serverErrorFromFields } from '../../../src/protocol/server-error.js';

const fields = (sqlState: string, message: string, severity = 'FATAL'): ServerErrorFields => ({
  severity,
  sqlState,
  message,
});

describe('classifyServerError', () => {
  const cases: [string, ServerErrorFields, 'startup' | 'query', string, boolean][] = [
    [
      'bad password',
      fields('28P01', 'password authentication failed for user "bob"'),
      'startup',
      'PGNUDGE_ERR_AUTH_FAILED',
      false,
    ],
    [
      'unknown role',
      fields('28000', 'role "bob" does not exist'),
      'startup',
      'PGNUDGE_ERR_AUTH_FAILED',
      false,
    ],
    [
      'no pg_hba entry (normal)',
      fields('28000', 'no pg_hba.conf entry for host "10.0.0.1", user "bob", database "app", no encryption'),
      'startup',
      'PGNUDGE_ERR_AUTH_FAILED',
      false,
    ],
    [
      'no pg_hba entry for a replication connection',
      fields(
        '28000',
        'no pg_hba.conf entry for replication connection from host "10.0.0.1", user "bob", no encryption',
      ),
      'startup',
      'PGNUDGE_ERR_REPLICATION_DENIED',
      false,
    ],
    [
      'PG 15 no REPLICATION',
      fields('42501', 'must be superuser or replication role to start walsender'),
      'startup',
      'PGNUDGE_ERR_REPLICATION_DENIED',
      false,
    ],
    [
      'PG 16+ no REPLICATION',
      {
        ...fields('42501', 'permission denied to start WAL sender'),
        detail: 'Only roles with the REPLICATION attribute may start a WAL sender process.',
      },
      'startup',
      'PGNUDGE_ERR_REPLICATION_DENIED',
      false,
    ],
    [
      'unknown database',
      fields('3D000', 'database "nope" does not exist'),
      'startup',
      'PGNUDGE_ERR_UNKNOWN_DATABASE',
      false,
    ],
    [
      'wal_level (PG 15/16)',
      fields('55000', 'logical decoding requires wal_level >= logical', 'ERROR'),
      'query',
      'PGNUDGE_ERR_WAL_LEVEL',
      false,
    ],
    [
      'wal_level (PG 17+)',
      fields('55000', 'logical decoding requires "wal_level" >= "logical"', 'ERROR'),
      'query',
      'PGNUDGE_ERR_WAL_LEVEL',
      false,
    ],
    [
      'missing plugin',
      fields('58P01', 'could not access file "wal2json": No such file or directory', 'ERROR'),
      'query',
      'PGNUDGE_ERR_PLUGIN_MISSING',
      false,
    ],
    [
      'plugin installed but not in output_plugin_libraries (15.20+)',
      fields('42501', 'library "wal2json" may not be used as an output plugin', 'ERROR'),
      'query',
      'PGNUDGE_ERR_PLUGIN_MISSING',
      false,
    ],
    [
      'all slots in use',
      fields('53400', 'all replication slots are in use', 'ERROR'),
      'query',
      'PGNUDGE_ERR_SERVER',
      true,
    ],
    [
      'too many connections',
      fields('53300', 'sorry, too many clients already'),
      'startup',
      'PGNUDGE_ERR_SERVER',
      true,
    ],
    [
      'starting up',
      fields('57P03', 'the database system is starting up'),
      'startup',
      'PGNUDGE_ERR_SERVER',
      true,
    ],
    [
      'syntax error',
      fields('42601', 'syntax error at or near "x"', 'ERROR'),
      'query',
      'PGNUDGE_ERR_SERVER',
      false,
    ],
    [
      'a missing publication, at stream time (PG 15–17)',
      fields('42704', 'publication "app" does not exist', 'ERROR'),
      'query',
      'PGNUDGE_ERR_PUBLICATION_MISSING',
      false,
    ],
    [
      'a relation that does not exist is no publication',
      fields('42704', 'relation "publication" does not exist', 'ERROR'),
      'query',
      'PGNUDGE_ERR_SERVER',
      false,
    ],
    [
      "wal_level on a standby's primary (PG 16/17)",
      fields('55000', 'logical decoding on standby requires wal_level >= logical on the primary', 'ERROR'),
      'query',
      'PGNUDGE_ERR_WAL_LEVEL',
      false,
    ],
    [
      'decoding on a standby of PostgreSQL 15',
      fields('55000', 'logical decoding cannot be used while in recovery', 'ERROR'),
      'query',
      'PGNUDGE_ERR_SERVER',
      false,
    ],
    [
      'other 55000',
      fields('55000', 'replication slot "x" is active for PID 1', 'ERROR'),
      'query',
      'PGNUDGE_ERR_SERVER',
      false,
    ],
  ];
  for (const [name, f, context, code, retryable] of cases) {
    it(`${name} → ${code}${retryable ? ' (retryable)' : ''}`, () => {
      const c = classifyServerError(f, context);
      assert.equal(c.code, code);
      assert.equal(c.retryable, retryable);
      if (code !== 'PGNUDGE_ERR_SERVER') {
        assert.ok(c.fix !== undefined && c.fix.length > 10);
      }
    });
  }

  it('a standby: the fix is for its primary, or for the version', () => {
    const primary = classifyServerError(
      fields(
        '55000',
        'logical decoding on standby requires "wal_level" >= "logical" on the primary',
        'ERROR',
      ),
      'query',
    );
    assert.match(primary.fix!, /set wal_level = logical on its primary .* restart the primary/);
    const old = classifyServerError(
      fields('55000', 'logical decoding cannot be used while in recovery', 'ERROR'),
      'query',
    );
    assert.match(old.fix!, /needs PostgreSQL 16 or later: connect to the primary/);
  });

  it('a missing publication: the fix is the CREATE PUBLICATION its owner runs, never ours', () => {
    // The server prints the name as it is, quotes included.
    const c = classifyServerError(fields('42704', 'publication "App "x"" does not exist', 'ERROR'), 'query');
    assert.match(c.fix!, /^pgnudge never creates a publication: .*CREATE PUBLICATION "App ""x""" FOR TABLE/);
    assert.match(c.fix!, /pgnudge doctor --publication/);
  });

  it('names the missing plugin in the fix', () => {
    const c = classifyServerError(
      fields('58P01', 'could not access file "wal2json": No such file or directory'),
      'query',
    );
    assert.match(c.fix!, /"wal2json"/);
  });

  it('tells how to trust a plugin that output_plugin_libraries leaves out', () => {
    const c = classifyServerError(
      fields('42501', 'library "wal2json" may not be used as an output plugin'),
      'query',
    );
    assert.match(c.fix!, /output_plugin_libraries = 'pgoutput, test_decoding, wal2json'/);
  });

  it('names the role in the REPLICATION fix, quoted so it can be pasted', () => {
    const denied = fields('42501', 'permission denied to start WAL sender');
    assert.match(classifyServerError(denied, 'startup').fix!, /ALTER ROLE <role> WITH REPLICATION;/);
    assert.match(
      classifyServerError(denied, 'startup', { user: 'App "ro"' }).fix!,
      /ALTER ROLE "App ""ro""" WITH REPLICATION;/,
    );
  });

  it('a pg_hba.conf refusal of a logical walsender names the database line, never the replication keyword (issue 21)', () => {
    for (const message of [
      'no pg_hba.conf entry for host "10.0.0.1", user "bob", database "shop", no encryption',
      'pg_hba.conf rejects connection for host "10.0.0.1", user "bob", database "shop", SSL encryption',
    ]) {
      const c = classifyServerError(fields('28000', message), 'startup', { user: 'bob' });
      assert.equal(c.code, 'PGNUDGE_ERR_AUTH_FAILED', message);
      assert.match(c.fix!, /host shop bob <client-ip>\/32 scram-sha-256 \(or "all" in the database column\)/);
      assert.match(c.fix!, /the "replication" keyword covers physical replication only/);
    }
    // A database named like the keyword is not read as a replication refusal.
    const named = classifyServerError(
      fields(
        '28000',
        'no pg_hba.conf entry for host "h", user "bob", database "replication_db", no encryption',
      ),
      'startup',
      { user: 'Bob' },
    );
    assert.equal(named.code, 'PGNUDGE_ERR_AUTH_FAILED');
    assert.match(named.fix!, /host replication_db "Bob" <client-ip>/);
    const keyword = classifyServerError(
      fields('28000', 'no pg_hba.conf entry for host "h", user "u", database "all", no encryption'),
      'startup',
    );
    assert.match(keyword.fix!, /host "all" <role> <client-ip>/);
  });

  it('a physical walsender refused by pg_hba.conf needs the replication keyword', () => {
    const c = classifyServerError(
      fields('28000', 'pg_hba.conf rejects replication connection for host "h", user "bob", no encryption'),
      'startup',
      { user: 'bob' },
    );
    assert.equal(c.code, 'PGNUDGE_ERR_REPLICATION_DENIED');
    assert.match(c.fix!, /host replication bob <client-ip>\/32 scram-sha-256/);
  });

  it("PgBouncer's refusal of a startup parameter is fatal, with the pooler fix (issue 21)", () => {
    const refusal = fields('08P01', 'unsupported startup parameter: replication');
    const c = classifyServerError(refusal, 'startup');
    assert.equal(c.code, 'PGNUDGE_ERR_POOLER');
    assert.equal(c.retryable, false);
    assert.match(
      c.fix!,
      /^Connect to PostgreSQL itself \(usually port 5432\), not PgBouncer or another pooler/,
    );
    // PgBouncer names the first parameter it refuses: a setting pgnudge pins comes before replication.
    assert.equal(
      classifyServerError(fields('08P01', 'unsupported startup parameter: client_min_messages'), 'startup')
        .code,
      'PGNUDGE_ERR_POOLER',
    );
    // Any other 08P01 stays a retryable protocol violation.
    assert.equal(
      classifyServerError(fields('08P01', 'invalid length of startup packet'), 'startup').retryable,
      true,
    );
  });

  it('does not double a period the server already put at the end', () => {
    const e = serverErrorFromFields(fields('3D000', 'database "nope" does not exist.'), 'startup');
    assert.match(e.message, /does not exist\. Create the database/);
  });

  it('builds a ServerError carrying the fix', () => {
    const e = serverErrorFromFields(fields('3D000', 'database "nope" does not exist'), 'startup');
    assert.equal(e.code, 'PGNUDGE_ERR_UNKNOWN_DATABASE');
    assert.equal(e.retryable, false);
    assert.match(e.message, /^FATAL 3D000: database "nope" does not exist\. Create the database/);
  });
});

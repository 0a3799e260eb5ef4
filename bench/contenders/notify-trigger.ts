// LISTEN/NOTIFY fed by a statement-level AFTER trigger on every bench table: one notification per
// statement naming the table, delivered at COMMIT. It learns that a table changed, never how many rows.
import pg from 'pg';
import { login, tls } from './connection.js';
import type { Contender, Running, Sink, Target } from './contender.js';

const CHANNEL = 'bench_changes';
const triggerName = (table: string) => `bench_notify_${table.split('.').pop()}`;

export const notifyTrigger: Contender = {
  name: 'notify-trigger',
  countsRows: false,
  walsender: false,
  async prepare(admin, target) {
    await admin.query(`
      CREATE FUNCTION bench_notify() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('${CHANNEL}', TG_TABLE_SCHEMA || '.' || TG_TABLE_NAME);
        RETURN NULL;
      END $$`);
    for (const table of target.tables) {
      await admin.query(
        `CREATE TRIGGER ${triggerName(table)} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON ${table}
         FOR EACH STATEMENT EXECUTE FUNCTION bench_notify()`,
      );
    }
  },
  async cleanup(admin, target) {
    for (const table of target.tables)
      await admin.query(`DROP TRIGGER IF EXISTS ${triggerName(table)} ON ${table}`);
    await admin.query('DROP FUNCTION IF EXISTS bench_notify()');
  },
  async start(target: Target, sink: Sink): Promise<Running> {
    const client = new pg.Client({
      ...login(target),
      ssl: tls(target),
      application_name: target.applicationName,
    });
    client.on('notification', (message) => {
      if (message.channel === CHANNEL && message.payload) sink.woke(message.payload);
    });
    client.on('error', (error) => sink.fail(error));
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    sink.ready();
    return { close: () => client.end() };
  },
};

// postgres.js `sql.subscribe('*', ...)`: pgoutput through a publication the bench creates for it (whole
// rows: the one pgnudge-pgoutput reads too); the callback runs once per row change, so it counts rows.
import postgres from 'postgres';
import { login, tls } from './connection.js';
import type { Contender, Running, Sink, Target } from './contender.js';
import { PUBLICATIONS, withPublication } from './publication.js';

export const postgresjsSubscribe: Contender = withPublication('full', () => ({
  name: 'postgresjs-subscribe',
  countsRows: true,
  walsender: true,
  async start(target: Target, sink: Sink): Promise<Running> {
    const { host, port, database, user, password } = login(target);
    const sql = postgres({
      host,
      port,
      database,
      username: user,
      password,
      ssl: tls(target) || false,
      publications: PUBLICATIONS.full,
      onnotice: () => {},
    });
    await sql.subscribe(
      '*',
      (_row, info) => sink.rows(`${info.relation.schema}.${info.relation.table}`, 1),
      () => sink.ready(),
      () => sink.fail(new Error('postgres.js subscription failed')),
    );
    return {
      async close() {
        await sql.end({ timeout: 5 });
      },
    };
  },
}));

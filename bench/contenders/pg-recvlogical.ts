// The floor: PostgreSQL's own C client, pg_recvlogical, on a slot it creates (--create-slot --start),
// with the plugin options pgnudge uses, writing each change as a line to a file in tmpfs with fsync off
// (-F 0): as cheap for it as /dev/null, and it never blocks, unlike a pipe whose reader falls behind.
// A Node wrapper (this child) follows the file through inotify to timestamp and count the lines; the
// CPU and memory reported are those of the pg_recvlogical process alone (Running.pid).
import { spawn } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readSync,
  rmSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { serverInstall } from '../../test/support/cluster.js';
import { waitFor } from '../../test/support/wait.js';
import { libpqSsl, login, tls } from './connection.js';
import type { Contender, Plugin, Running, Sink, Target } from './contender.js';

const OPTIONS: Record<Plugin, string[]> = {
  wal2json: ['format-version=2', 'include-transaction=false', 'include-types=false'],
  test_decoding: ['skip-empty-xacts=1', 'include-xids=0'],
};

/** pg_recvlogical of the server's major, or null when that installation has none. */
export function recvlogicalBinary(major: number): string | null {
  const install = serverInstall(major);
  const bin = install ? join(install.bin, 'pg_recvlogical') : null;
  return bin && existsSync(bin) ? bin : null;
}

/** The table a line of output names: `table public.t: INSERT: ...` or `{"action":"I","schema":...}`. */
function tableOf(line: string, plugin: Plugin): string | null {
  if (plugin === 'test_decoding') {
    if (!line.startsWith('table ')) return null;
    const end = line.indexOf(': ', 6);
    return end < 0 ? null : line.slice(6, end);
  }
  const schemaAt = line.indexOf('"schema":"');
  const tableAt = line.indexOf('"table":"', schemaAt);
  if (schemaAt < 0 || tableAt < 0) return null;
  const schema = line.slice(schemaAt + 10, line.indexOf('"', schemaAt + 10));
  return `${schema}.${line.slice(tableAt + 9, line.indexOf('"', tableAt + 9))}`;
}

/** Calls `onLines` with each batch of complete lines appended to `file`, woken by inotify. */
function followLines(file: string, onLines: (lines: string[]) => void): { close(): void } {
  const fd = openSync(file, 'r');
  const buffer = Buffer.alloc(1 << 20);
  let partial = '';
  const drain = () => {
    for (;;) {
      const read = readSync(fd, buffer, 0, buffer.length, null);
      if (read === 0) return;
      const lines = (partial + buffer.toString('utf8', 0, read)).split('\n');
      partial = lines.pop() ?? '';
      onLines(lines);
    }
  };
  const watcher = watch(file, drain);
  // inotify coalesces events but never loses the last one; the timer only guards against surprises.
  const timer = setInterval(drain, 100);
  drain();
  return {
    close() {
      clearInterval(timer);
      watcher.close();
      closeSync(fd);
    },
  };
}

export function pgRecvlogical(plugin: Plugin): Contender {
  return {
    name: `pg_recvlogical-${plugin}`,
    plugin,
    countsRows: true,
    walsender: true,
    async start(target: Target, sink: Sink): Promise<Running> {
      const binary = recvlogicalBinary(target.info.major);
      if (binary === null) throw new Error(`no pg_recvlogical for PostgreSQL ${target.info.major}`);
      const { host, port, database, user, password } = login(target);
      const slot = `bench_recv_${process.pid}`;
      const conninfo = `host=${host} port=${port} dbname=${database} user=${user} ${libpqSsl(target)}`;
      const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'pgnudge-recvlogical-'));
      const outFile = join(dir, 'out');
      writeFileSync(outFile, '');
      const args = ['-d', conninfo, '-S', slot, '-P', plugin, '--create-slot', '--start'];
      args.push('-f', outFile, '-F', '0', '-v');
      for (const option of OPTIONS[plugin]) args.push('-o', option);
      const proc = spawn(binary, args, {
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', PGPASSWORD: password },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      let ready = false;
      proc.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        stderr += chunk;
        if (!ready && stderr.includes('streaming initiated')) {
          ready = true;
          sink.ready();
        }
      });
      const follower = followLines(outFile, (lines) => {
        // One report per table per read: the wrapper's work stays small next to what it measures.
        const counts = new Map<string, number>();
        for (const line of lines) {
          const table = tableOf(line, plugin);
          if (table !== null) counts.set(table, (counts.get(table) ?? 0) + 1);
        }
        for (const [table, count] of counts) sink.rows(table, count);
      });
      let closing = false;
      const exited = new Promise<void>((resolve) => proc.once('close', () => resolve()));
      proc.once('exit', (code, signal) => {
        if (!closing)
          sink.fail(new Error(`pg_recvlogical exited (${signal ?? code}): ${stderr.slice(-500)}`));
      });
      return {
        pid: proc.pid!,
        async close() {
          closing = true;
          proc.kill('SIGINT');
          await exited;
          follower.close();
          rmSync(dir, { recursive: true, force: true });
          const admin = new pg.Client({ ...login(target), ssl: tls(target) });
          await admin.connect();
          try {
            await waitFor(
              async () => {
                await admin.query(
                  'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
                  [slot],
                );
                return true;
              },
              { timeoutMs: 10_000, what: `slot ${slot} to be dropped` },
            );
          } finally {
            await admin.end();
          }
        },
      };
    },
  };
}

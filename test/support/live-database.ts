// What a live test file starts from: the cluster the runner booted and a scratch database of its own
// (so files run in parallel without sharing writes), and an empty HOME for the CLI children it spawns.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { type ClusterInfo, liveCluster, runSql, scratchDatabase } from './cluster.js';

/** A database of one test file, dropped by `drop()`. */
export type ScratchDatabase = Awaited<ReturnType<typeof scratchDatabase>>;

/**
 * The live cluster and a fresh database named after `prefix`, with `setup` SQL run in it. Call it from a
 * `before` hook and drop the database in `after`:
 *   before(async () => ({ info, db } = await openLiveDatabase('feed', 'CREATE TABLE ...')));
 *   after(() => db?.drop());
 */
export async function openLiveDatabase(
  prefix: string,
  setup?: string,
): Promise<{ info: ClusterInfo; db: ScratchDatabase }> {
  const info = await liveCluster();
  const db = await scratchDatabase(info, prefix);
  if (setup !== undefined) await runSql(info, setup, db.name);
  return { info, db };
}

/**
 * An empty directory to use as HOME, so no ~/.pgpass or ~/.postgresql of the machine running the tests
 * reaches a CLI child; made now, removed when the file's tests end.
 */
export function emptyHome(prefix: string): string {
  const home = mkdtempSync(join(tmpdir(), `pgnudge-${prefix}-home-`));
  after(() => rmSync(home, { recursive: true, force: true }));
  return home;
}

/** Every password the harness knows: none may reach an error message or the CLI's output. */
export function harnessPasswords(info: ClusterInfo): string[] {
  return [info.superuser, ...Object.values(info.roles)].map((role) => role.password).filter(Boolean);
}

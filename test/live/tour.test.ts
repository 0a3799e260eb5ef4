// The README's 60-second tour works as written for a new user (issue 21): in a project made with
// `npm init -y` and the README's own commands, the packed tarball installed, the README's tsconfig.json and
// sample compiled with TypeScript and run by this Node (20 in CI) against the live cluster, with the
// connection in the PG* variables as the README says. It prints the Resync, and a batch once a row is
// inserted; its `await using` runs on Node 20 only as the README's tsconfig compiles it. (test/unit/docs/samples.test.ts type-checks every sample against the sources; this one runs.)
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ClusterInfo, runSql } from '../support/cluster.js';
import { emptyHome, openLiveDatabase, type ScratchDatabase } from '../support/live-database.js';
import { repoPath } from '../support/repo.js';
import { runsInAnotherSuite } from '../support/run-once.js';
import { waitFor } from '../support/wait.js';

const TEST = { timeout: 300_000 } as const;

/** The README's tour section: its shell commands, its tsconfig.json and its sample, as a user copies them. */
function tour(): { commands: string[]; tsconfig: string; sample: string } {
  const readme = readFileSync(repoPath('README.md'), 'utf8');
  const start = readme.indexOf('## The 60-second tour');
  assert.ok(start >= 0, 'the README has the tour');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const block = (language: string) => {
    const match = new RegExp(`^\`\`\`${language}\\n([\\s\\S]*?)^\`\`\``, 'm').exec(section);
    assert.ok(match?.[1], `the tour has a ${language} block`);
    return match[1];
  };
  const commands = block('sh')
    .split('\n')
    .flatMap((line) => line.split('&&'))
    .map((command) => command.trim())
    .filter(Boolean);
  return { commands, tsconfig: block('json'), sample: block('ts') };
}

function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8' });
  assert.equal(result.status, 0, `${command} ${args.join(' ')}:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

let skip: string | undefined;
let info: ClusterInfo;
let db: ScratchDatabase;
let scratch: string | undefined;
const home = emptyHome('tour');
before(async () => {
  ({ info, db } = await openLiveDatabase(
    'tour',
    'CREATE TABLE public.orders (id int PRIMARY KEY); CREATE TABLE public.stations (id int PRIMARY KEY)',
  ));
  skip = runsInAnotherSuite(info);
});
after(async () => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
  await db?.drop();
});

test(
  'the README tour, from npm init -y, compiles and runs on this Node and prints the items',
  TEST,
  async (t) => {
    if (skip) return t.skip(skip);
    const { commands, tsconfig, sample } = tour();
    scratch = mkdtempSync(join(tmpdir(), 'pgnudge-tour-'));
    const packed = JSON.parse(
      run('npm', ['pack', '--json', '--pack-destination', scratch], repoPath()).replace(/^[^[]*/, ''),
    );
    const tarball = join(scratch, (packed as { filename: string }[])[0]!.filename);
    const project = join(scratch, 'tour');
    mkdirSync(project);

    // The README's commands as written, except that installs come from here, not the registry: pgnudge
    // is the packed tarball, and typescript and @types/node are the repository's own.
    for (const command of commands) {
      const [program, ...args] = command.split(/\s+/);
      assert.equal(program, 'npm', `the tour runs only npm: ${command}`);
      if (args[0] !== 'install') {
        run('npm', args, project);
        continue;
      }
      const names = args.slice(1).filter((arg) => !arg.startsWith('-'));
      for (const name of names) {
        if (name === 'pgnudge')
          run('npm', ['install', '--no-audit', '--no-fund', '--offline', tarball], project);
        else {
          mkdirSync(join(project, 'node_modules', name, '..'), { recursive: true });
          symlinkSync(repoPath('node_modules', name), join(project, 'node_modules', name));
        }
      }
    }
    const manifest = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8')) as { type?: string };
    assert.equal(manifest.type, 'module', 'the commands make an ES module package');

    writeFileSync(join(project, 'tsconfig.json'), tsconfig);
    writeFileSync(join(project, 'tour.ts'), sample);
    run(process.execPath, [join(project, 'node_modules/typescript/bin/tsc')], project);

    const role = info.roles.replication;
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: home,
      PGHOST: info.host,
      PGPORT: String(info.port),
      PGUSER: role.user,
      PGPASSWORD: role.password,
      PGDATABASE: db.name,
      ...(info.caFile ? { PGSSLMODE: 'verify-full', PGSSLROOTCERT: info.caFile } : {}),
    };
    const child: ChildProcess = spawn(process.execPath, ['tour.js'], { cwd: project, env });
    t.after(() => child.kill('SIGKILL'));
    let output = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    const printed = (line: string) =>
      waitFor(
        () => {
          if (child.exitCode !== null) throw new Error(`the tour exited with ${child.exitCode}:\n${output}`);
          return output.split('\n').includes(line);
        },
        { timeoutMs: 30_000, what: `the tour to print "${line}" (so far: ${JSON.stringify(output)})` },
      );
    await printed('resync (connected): reload everything');
    await runSql(info, 'INSERT INTO public.orders VALUES (1)', db.name);
    await printed('public.orders ×1: reload it');
  },
);

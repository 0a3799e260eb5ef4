// The CLI process ends by itself after a usage error, whatever the flags before it armed (contract R10):
// a feed refused at construction must leave no timer behind to keep the process alive.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { errorResponse, HostileServer } from '../../support/hostile-server.js';
import { withDeadline } from '../../support/wait.js';

/** The compiled CLI beside this compiled test. */
const MAIN = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));

/** Runs `pgnudge ...args` with an empty environment; resolves with its status and stderr once it exits. */
function run(args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [MAIN, ...args], { env: {}, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) =>
    child.once('close', (code) => resolve({ code, stderr })),
  );
  return withDeadline(exited, 10_000, `pgnudge ${args.join(' ')} to exit`).finally(() =>
    child.kill('SIGKILL'),
  );
}

describe('pgnudge exits after a usage error', () => {
  for (const command of ['watch', 'listen', 'bridge']) {
    test(`${command} with a bad DSN prints the error and exits 2`, async () => {
      const flags = command === 'listen' ? ['--debounce', '10'] : ['--failsafe', '1000'];
      const channel = command === 'watch' ? [] : ['--channel', 'orders', '--insecure'];
      const { code, stderr } = await run([
        command,
        ...channel,
        ...flags,
        '--dsn',
        'host=127.0.0.1 sslmode=bogus',
      ]);
      assert.equal(code, 2, stderr);
      assert.match(stderr, /^pgnudge: sslmode "bogus" is not one of/);
    });
  }

  for (const command of ['listen', 'bridge']) {
    test(`${command} without a secret or --insecure refuses to start and exits 2 (contract R29)`, async () => {
      const { code, stderr } = await run([command, '--channel', 'orders', '--dsn', 'host=127.0.0.1']);
      assert.equal(code, 2, stderr);
      assert.match(
        stderr,
        /^pgnudge: Notify(Bridge|Feed) needs the secret its bridges and listeners share \(option secret; pgnudge reads PGNUDGE_SECRET or --secret-file\).*Set insecure: true \(--insecure\)/,
      );
      assert.match(stderr, /\(PGNUDGE_ERR_CONFIG\)/);
    });
  }
});

describe('a server error reaches the terminal printable', () => {
  test('escape sequences and a forged line in the server message are escaped; exit 1', async () => {
    const fake = await HostileServer.start({
      startup: () =>
        errorResponse({
          S: 'FATAL',
          V: 'FATAL',
          C: '3D000',
          M: 'database "shop\u001b[2J\n2024-01-01T00:00:00.000Z ERROR forged\u202e" does not exist',
        }),
    });
    try {
      const { code, stderr } = await run([
        'watch',
        '--dsn',
        `host=127.0.0.1 port=${fake.port} user=u dbname=shop sslmode=disable`,
        '-v',
      ]);
      assert.equal(code, 1, stderr);
      assert.doesNotMatch(stderr, /[\u001b\u202e]/);
      assert.ok(
        stderr.includes(
          'database "shop\\u001b[2J\\n2024-01-01T00:00:00.000Z ERROR forged\\u202e" does not exist',
        ),
        stderr,
      );
      assert.equal(stderr.split('\n').filter((line) => line.includes('forged')).length, 1, stderr);
    } finally {
      await fake.close();
    }
  });
});

// Where the CLI gets the fan-out secret (contract R29): PGNUDGE_SECRET or --secret-file, checked before it
// is read. Real files in a temporary directory; the ownership rules, which need another user, on facts.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  checkSecretFileFacts,
  cliChannelAuth,
  MAX_SECRET_FILE_BYTES,
  nodeSecretFileIo,
  readSecretFile,
  resolveCliSecret,
  type SecretFileIo,
} from '../../../src/cli/secret.js';
import { ConfigError } from '../../../src/errors.js';

const SECRET = 'k3Q9r2ZxV7pL0sTw4yN8bHc6mJ1dFgAe';
const dir = mkdtempSync(join(tmpdir(), 'pgnudge-secret-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
function file(content: string | Uint8Array, mode = 0o600): string {
  const path = join(dir, `secret-${files++}`);
  writeFileSync(path, content);
  chmodSync(path, mode);
  return path;
}

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString('utf8');

function refuses(action: () => unknown, message: RegExp): void {
  assert.throws(action, (error: unknown) => {
    assert.ok(error instanceof ConfigError, String(error));
    assert.match(error.message, message);
    assert.ok(!error.message.includes(SECRET), 'the message never shows the secret');
    return true;
  });
}

describe('readSecretFile', () => {
  test('reads a private file and strips one trailing newline (LF or CRLF), nothing else', () => {
    assert.equal(text(readSecretFile(file(SECRET))), SECRET);
    assert.equal(text(readSecretFile(file(`${SECRET}\n`))), SECRET);
    assert.equal(text(readSecretFile(file(`${SECRET}\r\n`))), SECRET);
    assert.equal(text(readSecretFile(file(`${SECRET}\n\n`))), `${SECRET}\n`);
    assert.equal(text(readSecretFile(file(` ${SECRET} \n`))), ` ${SECRET} `);
    assert.equal(text(readSecretFile(file(`${SECRET}\r`))), `${SECRET}\r`);
  });

  test('binary secrets are read as bytes', () => {
    const bytes = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 255) % 256);
    assert.deepEqual([...readSecretFile(file(bytes))], [...bytes]);
  });

  test('an empty file, or one holding only a newline, is refused', () => {
    refuses(() => readSecretFile(file('')), /is empty; write the secret into it/);
    refuses(() => readSecretFile(file('\n')), /is empty/);
    refuses(() => readSecretFile(file('\r\n')), /is empty/);
  });

  test('a secret too short is refused with the file named', () => {
    refuses(
      () => readSecretFile(file('short\n')),
      /the secret in --secret-file ".*" must be 16 to 4096 bytes; it is 5/,
    );
  });

  test('a file others can read or write is refused before it is read', () => {
    for (const mode of [0o644, 0o640, 0o604, 0o620, 0o602, 0o666]) {
      refuses(
        () => readSecretFile(file(SECRET, mode)),
        /can be read or changed by other users \(mode 06\d\d\).*chmod 600/,
      );
    }
  });

  test('a file larger than the cap is refused before it is read', () => {
    refuses(
      () => readSecretFile(file('x'.repeat(MAX_SECRET_FILE_BYTES + 1))),
      /is 4099 bytes; a secret is at most 4096 bytes/,
    );
    assert.equal(readSecretFile(file(`${'x'.repeat(4096)}\r\n`)).byteLength, 4096);
  });

  test('a directory, a FIFO and a device are refused without blocking', () => {
    const sub = join(dir, 'a-directory');
    mkdirSync(sub, { mode: 0o700 });
    refuses(() => readSecretFile(sub), /is not a regular file/);
    const fifo = join(dir, 'a-fifo');
    assert.equal(spawnSync('mkfifo', ['-m', '600', fifo]).status, 0, 'mkfifo');
    refuses(() => readSecretFile(fifo), /is not a regular file/);
    refuses(() => readSecretFile('/dev/zero'), /is not a regular file/);
  });

  test('a symbolic link to a private file is followed (as mounted secrets are)', () => {
    const target = file(`${SECRET}\n`);
    const link = join(dir, 'a-link');
    symlinkSync(target, link);
    assert.equal(text(readSecretFile(link)), SECRET);
  });

  test('a missing file says so', () => {
    refuses(() => readSecretFile(join(dir, 'nope')), /--secret-file ".*nope" does not exist/);
  });

  test('a file swapped between the check and the open is refused', () => {
    const path = file(SECRET);
    const swapped: SecretFileIo = {
      ...nodeSecretFileIo,
      fstat: (fd) => ({ ...nodeSecretFileIo.fstat(fd), ino: -1 }),
    };
    refuses(() => readSecretFile(path, swapped), /changed while it was being opened/);
  });

  test('a file that grows past the cap after the check is not read beyond it', () => {
    const path = file(SECRET);
    let reads = 0;
    const endless: SecretFileIo = {
      ...nodeSecretFileIo,
      read: (_fd, into) => {
        reads += 1;
        into.fill(0x78);
        return into.byteLength;
      },
    };
    refuses(() => readSecretFile(path, endless), /is longer than 4098 bytes/);
    assert.equal(reads, 1);
  });
});

describe('checkSecretFileFacts', () => {
  const facts = (uid: number, mode: number, size = 40) => ({ isFile: true, uid, mode, size });

  test("libpq's rule: the user's own file 0600 or less; root's 0640 or less", () => {
    for (const [uid, mode] of [
      [1000, 0o600],
      [1000, 0o400],
      [0, 0o640],
      [0, 0o440],
      [0, 0o600],
    ] as const) {
      assert.doesNotThrow(
        () => checkSecretFileFacts('f', facts(uid, mode), 1000),
        `${uid} ${mode.toString(8)}`,
      );
    }
    refuses(() => checkSecretFileFacts('f', facts(1000, 0o640), 1000), /chmod 600/);
    refuses(
      () => checkSecretFileFacts('f', facts(0, 0o660), 1000),
      /u=rw,g=r \(0640\) when owned by root: chmod 640/,
    );
    refuses(() => checkSecretFileFacts('f', facts(0, 0o644), 1000), /mode 0644/);
    refuses(() => checkSecretFileFacts('f', facts(0, 0o640), 0), /chmod 600/);
  });

  test("another user's file is refused", () => {
    refuses(
      () => checkSecretFileFacts('f', facts(1001, 0o600), 1000),
      /owned by the user running pgnudge or by root; it is owned by uid 1001/,
    );
  });

  test('without user ids (Windows), permissions are not checked, type and size are', () => {
    assert.doesNotThrow(() => checkSecretFileFacts('f', facts(0, 0o666), null));
    refuses(
      () => checkSecretFileFacts('f', { ...facts(0, 0o600), isFile: false }, null),
      /not a regular file/,
    );
    refuses(() => checkSecretFileFacts('f', facts(0, 0o600, 5000), null), /is 5000 bytes/);
  });
});

describe('resolveCliSecret', () => {
  test('PGNUDGE_SECRET as is (no newline stripped), or the file, or nothing', () => {
    assert.equal(resolveCliSecret(undefined, { PGNUDGE_SECRET: `${SECRET}\n` }), `${SECRET}\n`);
    assert.equal(text(resolveCliSecret(file(SECRET), {}) as Uint8Array), SECRET);
    assert.equal(resolveCliSecret(undefined, {}), undefined);
  });

  test('both, an empty variable, or a short one is a ConfigError', () => {
    refuses(
      () => resolveCliSecret(file(SECRET), { PGNUDGE_SECRET: SECRET }),
      /give the secret once: PGNUDGE_SECRET or --secret-file, not both/,
    );
    refuses(() => resolveCliSecret(undefined, { PGNUDGE_SECRET: '' }), /PGNUDGE_SECRET is set but empty/);
    refuses(
      () => resolveCliSecret(undefined, { PGNUDGE_SECRET: 'short' }),
      /^PGNUDGE_SECRET must be 16 to 4096 bytes/,
    );
  });
});

describe('cliChannelAuth', () => {
  test('the secret, or insecure, or neither (the class then refuses and says how to give one)', () => {
    assert.deepEqual(cliChannelAuth({}, { PGNUDGE_SECRET: SECRET }), { secret: SECRET });
    assert.equal(text(cliChannelAuth({ secretFile: file(SECRET) }, {}).secret as Uint8Array), SECRET);
    assert.deepEqual(cliChannelAuth({ insecure: true }, {}), { insecure: true });
    assert.deepEqual(cliChannelAuth({}, {}), {});
  });

  test('--insecure with a secret is a ConfigError naming where the secret came from', () => {
    refuses(
      () => cliChannelAuth({ insecure: true }, { PGNUDGE_SECRET: SECRET }),
      /^--insecure turns authentication off, but a secret is given \(PGNUDGE_SECRET\); drop one of them$/,
    );
    refuses(
      () => cliChannelAuth({ insecure: true, secretFile: file(SECRET) }, {}),
      /a secret is given \(--secret-file\)/,
    );
  });
});

// The serve token (src/http/token.ts, src/cli/token-file.ts): what counts as a token, where a request
// presents it, the comparison, and the file rules (owner-only, one trailing newline stripped).
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { readTokenFile, resolveToken } from '../../../src/cli/token-file.js';
import { ConfigError } from '../../../src/errors.js';
import { presentedToken, TokenCheck, validateToken } from '../../../src/http/token.js';

const TOKEN = '0123456789abcdef0123';

describe('token', () => {
  test('valid tokens: at least 16 visible ASCII characters; the error never shows the token', () => {
    assert.equal(validateToken(TOKEN, 'PGNUDGE_TOKEN'), TOKEN);
    for (const bad of ['short-token', `${TOKEN} x`, `${TOKEN}\u00e9`, `${TOKEN}\n`, '']) {
      assert.throws(
        () => validateToken(bad, 'PGNUDGE_TOKEN'),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.option === 'PGNUDGE_TOKEN' &&
          (bad === '' || !error.message.includes(bad)),
        JSON.stringify(bad),
      );
    }
  });

  test('presented as Authorization: Bearer (any case), else ?token=; another scheme presents nothing', () => {
    const none = new URLSearchParams();
    assert.equal(presentedToken(`Bearer ${TOKEN}`, none), TOKEN);
    assert.equal(presentedToken(`bearer   ${TOKEN}`, none), TOKEN);
    assert.equal(presentedToken(`Basic ${TOKEN}`, new URLSearchParams({ token: TOKEN })), undefined);
    assert.equal(presentedToken('Bearer', none), undefined);
    assert.equal(presentedToken(undefined, new URLSearchParams({ token: TOKEN })), TOKEN);
    assert.equal(presentedToken(undefined, none), undefined);
  });

  test('TokenCheck matches only the token itself', () => {
    const check = new TokenCheck(TOKEN);
    assert.equal(check.matches(TOKEN), true);
    for (const other of [undefined, '', TOKEN.slice(0, -1), `${TOKEN}x`, TOKEN.toUpperCase()]) {
      assert.equal(check.matches(other), false, JSON.stringify(other));
    }
  });
});

describe('token file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pgnudge-token-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string, mode: number) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    chmodSync(path, mode);
    return path;
  };

  test('an owner-only file, one trailing newline (LF or CRLF) stripped', () => {
    assert.equal(readTokenFile(file('lf', `${TOKEN}\n`, 0o600)), TOKEN);
    assert.equal(readTokenFile(file('crlf', `${TOKEN}\r\n`, 0o400)), TOKEN);
    assert.equal(readTokenFile(file('bare', TOKEN, 0o600)), TOKEN);
    assert.throws(
      () => readTokenFile(file('two', `${TOKEN}\n\n`, 0o600)),
      /control/,
      'only one newline is stripped',
    );
  });

  test('refused: readable or writable by others, not a file, missing, empty', () => {
    for (const mode of [0o644, 0o640, 0o604, 0o620]) {
      assert.throws(
        () => readTokenFile(file(`m${mode.toString(8)}`, TOKEN, mode)),
        (error: unknown) =>
          error instanceof ConfigError && /chmod 600/.test(error.message) && !error.message.includes(TOKEN),
        mode.toString(8),
      );
    }
    const sub = join(dir, 'sub');
    mkdirSync(sub, { mode: 0o700 });
    assert.throws(() => readTokenFile(sub), /not a regular file/);
    assert.throws(() => readTokenFile(join(dir, 'missing')), /cannot read --token-file .*ENOENT/);
    assert.throws(() => readTokenFile(file('empty', '', 0o600)), /0 characters/);
  });

  test('--token-file wins over PGNUDGE_TOKEN; neither is null; an empty variable is an error', () => {
    const path = file('win', `${TOKEN}\n`, 0o600);
    assert.equal(resolveToken(path, { PGNUDGE_TOKEN: 'ffffffffffffffffffff' }), TOKEN);
    assert.equal(resolveToken(undefined, { PGNUDGE_TOKEN: TOKEN }), TOKEN);
    assert.equal(resolveToken(undefined, {}), null);
    assert.throws(() => resolveToken(undefined, { PGNUDGE_TOKEN: '' }), ConfigError);
  });
});

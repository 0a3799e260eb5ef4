import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

// The codec must stay sans-io: scan the compiled protocol folder (next to this test's build output).
const here = fileURLToPath(new URL('.', import.meta.url));
const protocolDir = join(here, '../../../src/protocol');

describe('src/protocol is sans-io', () => {
  it('imports no socket, TLS, timer or process module and uses no timers', () => {
    const files = readdirSync(protocolDir).filter((f) => f.endsWith('.js') || f.endsWith('.ts'));
    assert.ok(files.length >= 10, `found the protocol sources in ${protocolDir}`);
    for (const file of files) {
      const source = readFileSync(join(protocolDir, file), 'utf8');
      assert.doesNotMatch(source, /from ['"](node:)?(net|tls|timers|process|dgram|http|https|fs)['"]/, file);
      assert.doesNotMatch(source, /\b(setTimeout|setInterval|setImmediate|process\.)/, file);
      assert.doesNotMatch(
        source,
        /from ['"]\.\.\/(?!errors\.js)/,
        `${file} imports only ../errors.js from outside`,
      );
    }
  });
});

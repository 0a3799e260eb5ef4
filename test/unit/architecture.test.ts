// The folder layout is the architecture: protocol <- decode <- feed <- fanout/cli, transport -> protocol,
// and http (Server-Sent Events, the hub, metrics) beside them, knowing of the feed only its items and stats.
// This test keeps it true: no upward imports, the sans-io layers touch no socket, timer or process, and
// only the channel modules import node:diagnostics_channel.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { repoPath } from '../support/repo.js';

const LAYERS = [
  'errors',
  'option-rules',
  'as-pgnudge-error',
  'logger',
  'protocol',
  'decode',
  'transport',
  'feed',
  'fanout',
  'http',
  'cli',
] as const;
type Layer = (typeof LAYERS)[number];

/**
 * The root helpers every layer may use, beside errors.ts: one rule per option value (option-rules) and
 * one way to file a foreign exception (as-pgnudge-error), so that no layer writes its own.
 */
const ROOT: readonly Layer[] = ['errors', 'option-rules', 'as-pgnudge-error'];

/** What each layer may import from the others (besides itself). */
const ALLOWED: Record<Layer, readonly Layer[]> = {
  errors: [],
  'option-rules': ['errors'],
  'as-pgnudge-error': ['errors'],
  logger: [],
  protocol: [...ROOT],
  decode: [...ROOT],
  transport: [...ROOT, 'logger', 'protocol'],
  feed: [...ROOT, 'logger', 'protocol', 'decode', 'transport'],
  fanout: [...ROOT, 'logger', 'protocol', 'transport', 'feed'],
  http: [...ROOT, 'logger', 'feed'],
  cli: [...ROOT, 'logger', 'protocol', 'decode', 'transport', 'feed', 'fanout', 'http'],
};

/** Within a layer it may import, the only files a layer may reach (http works on any feed's items). */
const ONLY_FILES: Partial<Record<Layer, Partial<Record<Layer, readonly string[]>>>> = {
  http: { feed: ['feed/items.js', 'feed/stats.js'] },
};

/** Files of the pure layers that are allowed to touch timers or I/O: the thin shells. */
const SHELLS = new Set([
  'feed/clock.ts',
  'feed/feed.ts',
  'http/event-stream.ts',
  'http/event-hub.ts',
  'http/server.ts',
]);
const PURE_LAYERS: readonly Layer[] = [
  'option-rules',
  'as-pgnudge-error',
  'protocol',
  'decode',
  'feed',
  'http',
];
/** The fan-out's shells; everything else in src/fanout (wire format, tracker, keys, election) is pure. */
const FANOUT_SHELLS = new Set([
  'fanout/bridge.ts',
  'fanout/notify-feed.ts',
  'fanout/source.ts',
  'fanout/broker-feed.ts',
  'fanout/broker-link.ts',
  'fanout/redis.ts',
  'fanout/nats.ts',
]);
/** Files that hold browser code as text: its timers run in the page, so only their imports are checked. */
const BROWSER_TEXT = new Set(['http/page.ts']);
const IO_IMPORT =
  /from ['"](node:)?(net|tls|timers|timers\/promises|dgram|http|https|fs|fs\/promises|child_process|process)['"]/;
const IO_USE = /\b(setTimeout|setInterval|setImmediate|process\.|Date\.now\(\))/;
/** The only files that publish on node:diagnostics_channel: the channels' own modules (contract R32). */
const CHANNEL_MODULES = new Set(['feed/diagnostics.ts', 'http/diagnostics.ts']);
const CHANNEL_IMPORT = /from ['"](node:)?diagnostics_channel['"]/;

function sources(): { path: string; layer: Layer; text: string }[] {
  const root = repoPath('src');
  const found: { path: string; layer: Layer; text: string }[] = [];
  for (const entry of readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    const path = join(entry.parentPath, entry.name).slice(root.length + 1);
    const top = path.includes('/') ? path.split('/')[0] : path.replace(/\.ts$/, '');
    if (top === 'index') continue;
    assert.ok(
      (LAYERS as readonly string[]).includes(top as string),
      `src/${path} is outside the known layers`,
    );
    found.push({ path, layer: top as Layer, text: readFileSync(join(root, path), 'utf8') });
  }
  return found;
}

describe('architecture', () => {
  const files = sources();

  test('no layer imports one above it', () => {
    for (const file of files) {
      for (const match of file.text.matchAll(/(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
        const target = match[1] as string;
        const resolved = join(file.path, '..', target);
        const layer = (
          resolved.includes('/') ? resolved.split('/')[0] : resolved.replace(/\.js$/, '')
        ) as Layer;
        if (layer === file.layer) continue;
        assert.ok(
          ALLOWED[file.layer].includes(layer),
          `src/${file.path} imports ${target}: ${file.layer} may not depend on ${layer}`,
        );
        const only = ONLY_FILES[file.layer]?.[layer];
        assert.ok(
          only === undefined || only.includes(resolved),
          `src/${file.path} imports ${target}: ${file.layer} may use only ${only?.join(', ')} of ${layer}`,
        );
      }
    }
  });

  test('protocol, decode, the feed engine and the fan-out core are sans-io (only the shells touch sockets and timers)', () => {
    let checked = 0;
    for (const file of files) {
      const pure =
        PURE_LAYERS.includes(file.layer) || (file.layer === 'fanout' && !FANOUT_SHELLS.has(file.path));
      if (!pure || SHELLS.has(file.path)) continue;
      checked += 1;
      // Comments may name what the code avoids ("setTimeout's limit"); only code counts.
      const code = file.text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
      assert.doesNotMatch(code, IO_IMPORT, `src/${file.path} imports an I/O module`);
      if (BROWSER_TEXT.has(file.path)) continue;
      assert.doesNotMatch(code, IO_USE, `src/${file.path} reads a clock, sets a timer or touches process`);
    }
    assert.ok(checked >= 20, `checked ${checked} pure files`);
  });

  test('only the channel modules import node:diagnostics_channel (the feed and the hub publish through them)', () => {
    for (const file of files) {
      if (CHANNEL_MODULES.has(file.path)) continue;
      assert.doesNotMatch(file.text, CHANNEL_IMPORT, `src/${file.path} imports node:diagnostics_channel`);
    }
    for (const path of CHANNEL_MODULES) {
      assert.match(files.find((file) => file.path === path)?.text ?? '', CHANNEL_IMPORT, path);
    }
  });
});

// The node:http side of serve (src/http/server.ts) on a real server on port 0, fed by a scripted feed:
// the token on every path but /healthz, the routes, the page's CSP, /events over a real socket, and a
// client that stops reading cut off (its socket destroyed) while another receives everything.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Batch, NudgeEvent, Resync } from '../../../src/feed/items.js';
import { EventHub } from '../../../src/http/event-hub.js';
import { PAGE_HTML } from '../../../src/http/page.js';
import { createRequestHandler } from '../../../src/http/server.js';
import { TokenCheck } from '../../../src/http/token.js';
import { bindLogger } from '../../../src/logger.js';
import { ScriptedFeed, StatefulScriptedFeed } from '../../support/scripted-feed.js';
import { SseParser } from '../../support/sse-parser.js';
import { waitFor, withDeadline } from '../../support/wait.js';

const TOKEN = 'test-token-0123456789';

function start(
  hub: EventHub,
  token: string | null,
  feed?: StatefulScriptedFeed,
): Promise<{ server: Server; base: string }> {
  const server = createServer(
    { noDelay: true },
    createRequestHandler({
      hub,
      token: token === null ? null : new TokenCheck(token),
      log: bindLogger(undefined),
      ...(feed ? { stats: () => feed.stats() } : {}),
    }),
  );
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      resolve({ server, base: `http://127.0.0.1:${port}` });
    }),
  );
}

function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Reads an event stream with fetch until `until` holds for its events; then aborts it. */
async function readEvents(
  url: string,
  until: (events: { event: string; data: string }[]) => boolean,
  init: RequestInit = {},
) {
  const controller = new AbortController();
  const response = await fetch(url, { ...init, signal: controller.signal });
  assert.equal(response.status, 200);
  const parser = new SseParser();
  const events: { event: string; data: string }[] = [];
  const decoder = new TextDecoder();
  const reader = response.body!.getReader();
  try {
    while (!until(events)) {
      const { done, value } = await reader.read();
      if (done) break;
      events.push(...parser.push(decoder.decode(value, { stream: true })));
    }
  } finally {
    controller.abort();
  }
  return { response, events, retry: parser.retry };
}

describe('serve routes with a token', () => {
  const feed = new StatefulScriptedFeed();
  const hub = new EventHub(feed, { keepAlive: null });
  let server: Server;
  let base: string;
  before(async () => {
    ({ server, base } = await start(hub, TOKEN, feed));
  });
  after(async () => {
    await hub.close();
    await stop(server);
  });

  test('/healthz needs no token: 503 until the feed is live, then 200 {"ok":true}', async () => {
    const before = await fetch(`${base}/healthz`);
    assert.equal(before.status, 503);
    assert.deepEqual(await before.json(), { ok: false });
    feed.state = 'streaming';
    feed.push(new Resync('connected'));
    await waitFor(() => hub.live, { what: 'the hub to go live' });
    const live = await fetch(`${base}/healthz`);
    assert.equal(live.status, 200);
    assert.equal(live.headers.get('content-type'), 'application/json');
    assert.equal(await live.text(), '{"ok":true}', 'exactly the body contract R31 names');
    // The feed lost its stream: 503 until it streams again and its Resync went out.
    feed.state = 'backoff';
    assert.equal((await fetch(`${base}/healthz`)).status, 503);
    feed.state = 'streaming';
    assert.equal((await fetch(`${base}/healthz`)).status, 503, 'not before the Resync');
    feed.push(new Resync('reconnected'));
    await waitFor(() => hub.live, { what: 'the hub to go live again' });
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
  });

  test('every other path, known or not, answers 401 without the right token', async () => {
    for (const path of ['/', '/events', '/metrics', '/nope', `/events?token=${TOKEN}x`]) {
      const response = await fetch(`${base}${path}`);
      assert.equal(response.status, 401, path);
      assert.equal(response.headers.get('www-authenticate'), 'Bearer realm="pgnudge"');
      await response.text();
    }
    const wrong = await fetch(`${base}/metrics`, {
      headers: { authorization: 'Bearer wrong-token-0123456789' },
    });
    assert.equal(wrong.status, 401);
    await wrong.text();
  });

  test('with the token (header or ?token=): 404 for unknown paths, 405 for other methods', async () => {
    const auth = { authorization: `Bearer ${TOKEN}` };
    const missing = await fetch(`${base}/nope`, { headers: auth });
    assert.equal(missing.status, 404);
    await missing.text();
    const post = await fetch(`${base}/metrics?token=${TOKEN}`, { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
    await post.text();
  });

  test('GET / is the page, with a CSP that allows exactly its own script and style', async () => {
    const response = await fetch(`${base}/?token=${TOKEN}`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(response.headers.get('referrer-policy'), 'no-referrer');
    const html = await response.text();
    assert.equal(html, PAGE_HTML);
    const csp = response.headers.get('content-security-policy') ?? '';
    const hash = (text: string) => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
    const script = /<script>([\s\S]*)<\/script>/.exec(html)?.[1] ?? '';
    const style = /<style>([\s\S]*)<\/style>/.exec(html)?.[1] ?? '';
    assert.match(csp, new RegExp(`script-src ${hash(script).replace(/[+/]/g, '\\$&')}`));
    assert.match(csp, new RegExp(`style-src ${hash(style).replace(/[+/]/g, '\\$&')}`));
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /connect-src 'self'/);
    assert.doesNotMatch(html, /https?:\/\//, 'nothing is loaded from elsewhere');
  });

  test('GET /events: retry, the stream’s own Resync, then batches as the --json lines; /metrics counts it', async () => {
    const batch = new Batch([new NudgeEvent('public.orders', 7, new Date('2026-01-01T00:00:00Z'))]);
    let pushed = false;
    const { response, events, retry } = await readEvents(
      `${base}/events`,
      (got) => {
        if (got.length === 1 && !pushed) {
          pushed = true;
          feed.push(batch);
        }
        return got.length === 2;
      },
      { headers: { authorization: `bearer ${TOKEN}` } },
    );
    assert.equal(response.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    assert.equal(response.headers.get('cache-control'), 'no-cache');
    assert.ok(retry !== null && retry >= 1000 && retry < 3000);
    assert.deepEqual(events, [
      { event: 'resync', data: '{"type":"resync","reason":"connected"}' },
      { event: 'batch', data: JSON.stringify(batch) },
    ]);
    await waitFor(() => hub.counters().clients === 0, { what: 'the closed stream to leave the hub' });
    const metrics = await (await fetch(`${base}/metrics?token=${TOKEN}`)).text();
    assert.match(metrics, /^pgnudge_live 1$/m);
    // The feed's numbers come from its stats() (sampleStats), the streams' from the hub.
    assert.match(metrics, /^pgnudge_state\{state="streaming"\} 1$/m);
    assert.match(metrics, /^pgnudge_batches_total 12$/m);
    assert.match(metrics, /^pgnudge_lag_bytes 10$/m);
    assert.match(metrics, /^pgnudge_sse_clients 0$/m);
    assert.match(metrics, /^pgnudge_sse_clients_opened_total 1$/m);
  });
});

describe('serve without a token', () => {
  test('every path answers without one', async (t) => {
    const feed = new ScriptedFeed();
    const hub = new EventHub(feed, { keepAlive: null });
    const { server, base } = await start(hub, null);
    t.after(async () => {
      await hub.close();
      await stop(server);
    });
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    await page.text();
    const metrics = await fetch(`${base}/metrics`);
    assert.equal(metrics.status, 200);
    await metrics.text();
  });
});

describe('a client that stops reading', () => {
  test('is cut off (its socket destroyed) while another client receives every item', {
    timeout: 30_000,
  }, async (t) => {
    const feed = new ScriptedFeed();
    const hub = new EventHub(feed, { keepAlive: null, maxBufferedBytes: 64 * 1024 });
    const { server, base } = await start(hub, null);
    t.after(async () => {
      await hub.close();
      await stop(server);
    });
    feed.push(new Resync('connected'));
    await waitFor(() => hub.live, { what: 'live' });

    // The staller sends its request, then never reads: its kernel buffers fill, then its hub queue.
    const port = Number(new URL(base).port);
    const serverSockets: Socket[] = [];
    server.on('connection', (socket: Socket) => serverSockets.push(socket));
    const staller = connect(port, '127.0.0.1');
    t.after(() => staller.destroy());
    staller.write('GET /events HTTP/1.1\r\nHost: x\r\n\r\n');
    staller.pause();
    // Its end of the connection on the server: the one that must be destroyed.
    const stallerSide = () => serverSockets.find((socket) => socket.remotePort === staller.localPort);
    await waitFor(() => hub.counters().clients === 1, { what: 'the staller subscribed' });

    // A batch of ~100 KiB, pushed until the staller is cut off; the reader must get each one.
    const events = Array.from(
      { length: 1500 },
      (_, i) => new NudgeEvent(`public.table_${i}`, 1, new Date(0)),
    );
    const big = new Batch(events);
    let sent = 0;
    const reading = readEvents(
      `${base}/events`,
      (got) => got.filter((e) => e.event === 'batch').length === sent && hub.counters().clientsDropped === 1,
    );
    await waitFor(() => hub.counters().clients === 2, { what: 'the reader subscribed' });
    await waitFor(
      () => {
        if (hub.counters().clientsDropped === 1) return true;
        feed.push(big);
        sent += 1;
        return false;
      },
      { what: 'the staller to be cut off', timeoutMs: 20_000, intervalMs: 5 },
    );
    await waitFor(() => stallerSide()?.destroyed, {
      what: 'the staller’s socket to be destroyed',
      timeoutMs: 5000,
    });
    const { events: got } = await withDeadline(reading, 20_000, 'the reader to get every batch');
    assert.equal(got.filter((e) => e.event === 'batch').length, sent);
    assert.ok(sent > 1);
    assert.equal(hub.counters().clientsDropped, 1);
  });
});

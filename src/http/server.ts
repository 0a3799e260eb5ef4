// The node:http side of `pgnudge serve` (contract R31): routes, the token check, and a web stream written
// to a response with backpressure. No framework: four routes do not need one.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FeedStats } from '../feed/stats.js';
import type { BoundLogger } from '../logger.js';
import type { EventHub } from './event-hub.js';
import { formatExposition, METRICS_CONTENT_TYPE, serveMetricFamilies } from './metrics.js';
import { PAGE_CSP, PAGE_HTML } from './page.js';
import { EVENT_STREAM_HEADERS } from './sse.js';
import { presentedToken, type TokenCheck } from './token.js';

/** What the request handler serves from. */
export interface ServeContext {
  hub: EventHub;
  /** null: no token required (serve then listens on loopback only). */
  token: TokenCheck | null;
  log: BoundLogger;
  /** The served feed's stats, for /metrics; without them /metrics reports only liveness and the streams. */
  stats?: () => FeedStats;
}

const ROUTES = new Set(['/', '/events', '/metrics', '/healthz']);
const NO_STORE = { 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' };

/** The request listener for node:http's createServer. */
export function createRequestHandler(
  context: ServeContext,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://pgnudge.invalid');
    } catch {
      return plain(res, 400, 'bad request target\n');
    }
    const path = url.pathname;
    if (path === '/healthz') {
      if (!allowMethod(req, res)) return;
      const live = context.hub.live;
      res.writeHead(live ? 200 : 503, { 'content-type': 'application/json', ...NO_STORE });
      res.end(live ? '{"ok":true}' : '{"ok":false}');
      return;
    }
    // Before the route is known: a client without the token learns nothing, not even which paths exist.
    if (
      context.token !== null &&
      !context.token.matches(presentedToken(req.headers.authorization, url.searchParams))
    ) {
      res.writeHead(401, {
        'www-authenticate': 'Bearer realm="pgnudge"',
        'content-type': 'text/plain',
        ...NO_STORE,
      });
      res.end('a token is required: Authorization: Bearer <token>, or ?token=<token> in the URL\n');
      return;
    }
    if (!ROUTES.has(path))
      return plain(res, 404, 'not found: the paths are /, /events, /metrics and /healthz\n');
    if (!allowMethod(req, res)) return;
    if (path === '/events') return void serveEvents(context, req, res);
    if (path === '/metrics') {
      const text = formatExposition(
        serveMetricFamilies({
          live: context.hub.live,
          hub: context.hub.counters(),
          feed: context.stats?.() ?? null,
        }),
      );
      res.writeHead(200, { 'content-type': METRICS_CONTENT_TYPE, ...NO_STORE });
      res.end(text);
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': PAGE_CSP,
      'referrer-policy': 'no-referrer',
      ...NO_STORE,
    });
    res.end(PAGE_HTML);
  };
}

function allowMethod(req: IncomingMessage, res: ServerResponse): boolean {
  if (req.method === 'GET' || req.method === 'HEAD') return true;
  res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
  res.end('only GET and HEAD\n');
  return false;
}

function plain(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain', ...NO_STORE });
  res.end(text);
}

async function serveEvents(context: ServeContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method === 'HEAD') {
    res.writeHead(200, EVENT_STREAM_HEADERS);
    res.end();
    return;
  }
  const { hub, log } = context;
  const stream = hub.subscribe();
  const peer = `${req.socket.remoteAddress}:${req.socket.remotePort}`;
  log.debug(`event stream opened for ${peer} (${hub.counters().clients} open)`);
  res.writeHead(200, EVENT_STREAM_HEADERS);
  await writeStream(stream, res);
  log.debug(`event stream closed for ${peer} (${hub.counters().clients} open)`);
}

/**
 * Writes `stream` to `res`, reading the next chunk only once the socket took the last one ('drain'): a
 * client that stops reading stops the reads, and its hub queue fills until the hub cuts it off. When the
 * stream errors (cut off, or the feed failed) the socket is destroyed at once, even mid-wait, since a client
 * that does not read would never let an orderly end through. The client leaving cancels the stream.
 */
export async function writeStream(stream: ReadableStream<Uint8Array>, res: ServerResponse): Promise<void> {
  const reader = stream.getReader();
  const closed = new Promise<void>((resolve) => res.once('close', resolve));
  void closed.then(() => reader.cancel().catch(() => {}));
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        res.end();
        return;
      }
      if (!res.write(value)) {
        let onDrain = () => {};
        const drained = new Promise<void>((resolve) => {
          onDrain = resolve;
          res.once('drain', resolve);
        });
        try {
          await Promise.race([drained, closed, reader.closed]);
        } finally {
          res.off('drain', onDrain);
        }
      }
      if (res.destroyed) return;
    }
  } catch {
    // A reset, not an orderly close: the kernel drops what the client never read at once, rather than
    // keep trying to deliver it.
    if (res.socket && !res.socket.destroyed) res.socket.resetAndDestroy();
    else res.destroy();
  }
}

// The live page of `pgnudge serve` (GET /): one self-contained HTML document, no fonts, scripts or styles
// from elsewhere. It reads /events with EventSource, with the token taken from its own URL (?token=...).
// Kept as a string in a module so it ships inside dist/ with the code that serves it.
import { createHash } from 'node:crypto';

const STYLE = `
:root { color-scheme: dark; --bg: #0f1115; --panel: #171a21; --line: #262b36; --text: #e6e9ef; --dim: #8b93a7;
  --hot: #ffb020; --ok: #3ecf8e; --warn: #f0b429; --bad: #ef5b5b; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text);
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", sans-serif; }
header { display: flex; align-items: center; gap: 16px; padding: 14px 20px; border-bottom: 1px solid var(--line); }
h1 { font-size: 17px; margin: 0; font-weight: 650; letter-spacing: .2px; }
#state { padding: 3px 10px; border-radius: 999px; font-size: 12px; font-weight: 600; background: var(--line); }
#state[data-state=live] { background: #143d2c; color: var(--ok); }
#state[data-state=waiting], #state[data-state=reconnecting], #state[data-state=connecting] { background: #3d3214; color: var(--warn); }
#state[data-state=offline], #state[data-state=unauthorized] { background: #3d1717; color: var(--bad); }
.stats { margin-left: auto; display: flex; gap: 22px; color: var(--dim); font-size: 12px; }
.stats b { display: block; color: var(--text); font-size: 18px; font-variant-numeric: tabular-nums; }
main { display: grid; grid-template-columns: 1fr 320px; gap: 16px; padding: 16px 20px; }
@media (max-width: 860px) { main { grid-template-columns: 1fr; } }
section h2 { font-size: 12px; text-transform: uppercase; letter-spacing: .8px; color: var(--dim); margin: 0 0 8px; font-weight: 600; }
#tiles { display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 10px; }
.tile { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 10px 12px; transition: opacity .4s; }
.tile.stale { opacity: .4; }
.tile.hot { animation: flash 1.6s ease-out; }
@keyframes flash { 0% { background: #5a3d05; border-color: var(--hot); } 100% { background: var(--panel); border-color: var(--line); } }
.name { font-size: 13px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.name .schema { color: var(--dim); }
.count { font-size: 30px; font-weight: 700; font-variant-numeric: tabular-nums; line-height: 1.15; }
.meta { color: var(--dim); font-size: 12px; font-variant-numeric: tabular-nums; }
.meta .delta { color: var(--hot); font-weight: 600; }
#empty { color: var(--dim); padding: 22px 4px; }
.panel { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 10px 12px; margin-bottom: 16px; }
canvas { width: 100%; height: 120px; display: block; }
#resyncs { list-style: none; margin: 0; padding: 0; font-size: 13px; }
#resyncs li { padding: 4px 0; border-top: 1px solid var(--line); }
#resyncs li:first-child { border-top: 0; }
#resyncs .reason { font-weight: 600; color: var(--warn); }
#resyncs .when { color: var(--dim); float: right; font-variant-numeric: tabular-nums; }
`;

// Kept to plain ES2017 and free of template literals, so it needs no build step and no escaping here.
// biome-ignore lint/complexity/noUselessStringRaw: a backslash added to the script later must reach the page as written
const SCRIPT = String.raw`
'use strict';
(function () {
  var MEANING = {
    connected: 'stream is live: reload everything',
    reconnected: 'the feed reconnected: reload everything',
    overflow: 'too many changes piled up: reload everything',
    failsafe: 'periodic failsafe: reload everything',
    bridge: 'the bridge resynced: reload everything'
  };
  var token = new URLSearchParams(location.search).get('token');
  var query = token ? '?token=' + encodeURIComponent(token) : '';
  var tilesEl = document.getElementById('tiles');
  var emptyEl = document.getElementById('empty');
  var stateEl = document.getElementById('state');
  var resyncsEl = document.getElementById('resyncs');
  var canvas = document.getElementById('chart');
  var tiles = new Map();
  var seconds = new Map();
  var totals = { changes: 0, batches: 0 };
  var source = null;
  var retryMs = 1000;
  var retryTimer = null;

  function setState(state, text) {
    stateEl.dataset.state = state;
    stateEl.textContent = text;
  }
  function clock(date) {
    return date.toTimeString().slice(0, 8);
  }
  function emit(item) {
    // receivedAt: epoch milliseconds, finer than Date.now(), for anyone measuring delivery.
    var receivedAt = performance.timeOrigin + performance.now();
    window.dispatchEvent(new CustomEvent('pgnudge', { detail: { item: item, receivedAt: receivedAt } }));
  }
  function setText(id, value) {
    document.getElementById(id).textContent = value;
  }

  function tileFor(payload) {
    var tile = tiles.get(payload);
    if (tile) return tile;
    var el = document.createElement('div');
    el.className = 'tile';
    el.dataset.table = payload;
    var name = document.createElement('div');
    name.className = 'name';
    name.title = payload;
    var dot = payload.indexOf('.');
    var schema = document.createElement('span');
    schema.className = 'schema';
    schema.textContent = dot > 0 ? payload.slice(0, dot + 1) : '';
    name.appendChild(schema);
    name.appendChild(document.createTextNode(dot > 0 ? payload.slice(dot + 1) : payload));
    var count = document.createElement('div');
    count.className = 'count';
    var meta = document.createElement('div');
    meta.className = 'meta';
    el.appendChild(name);
    el.appendChild(count);
    el.appendChild(meta);
    tile = { el: el, count: count, meta: meta, total: 0, last: 0 };
    tiles.set(payload, tile);
    var keys = Array.from(tiles.keys()).sort();
    var next = tiles.get(keys[keys.indexOf(payload) + 1]);
    tilesEl.insertBefore(el, next ? next.el : null);
    emptyEl.hidden = true;
    return tile;
  }

  function onBatch(batch) {
    var now = Date.now();
    var sum = 0;
    batch.events.forEach(function (event) {
      var tile = tileFor(event.payload);
      tile.total += event.count;
      tile.last = now;
      sum += event.count;
      tile.count.textContent = tile.total.toLocaleString();
      tile.meta.textContent = '';
      var delta = document.createElement('span');
      delta.className = 'delta';
      delta.textContent = '+' + event.count.toLocaleString();
      tile.meta.appendChild(delta);
      tile.meta.appendChild(document.createTextNode(' at ' + clock(new Date(now))));
      tile.el.classList.remove('stale', 'hot');
      void tile.el.offsetWidth;
      tile.el.classList.add('hot');
    });
    var second = Math.floor(now / 1000);
    seconds.set(second, (seconds.get(second) || 0) + sum);
    totals.changes += sum;
    totals.batches += 1;
    setText('changes', totals.changes.toLocaleString());
    setText('batches', totals.batches.toLocaleString());
    draw();
  }

  function onResync(resync) {
    // Reload everything: what the tiles said may be stale now. Keep them, dimmed, so the layout stays put.
    tiles.forEach(function (tile) {
      tile.total = 0;
      tile.count.textContent = '0';
      tile.meta.textContent = 'reloaded';
      tile.el.classList.remove('hot');
      tile.el.classList.add('stale');
    });
    totals.changes = 0;
    totals.batches = 0;
    setText('changes', '0');
    setText('batches', '0');
    setText('since', clock(new Date()));
    var li = document.createElement('li');
    var reason = document.createElement('span');
    reason.className = 'reason';
    reason.textContent = resync.reason;
    var when = document.createElement('span');
    when.className = 'when';
    when.textContent = clock(new Date());
    li.appendChild(when);
    li.appendChild(reason);
    li.appendChild(document.createTextNode(' ' + (MEANING[resync.reason] || 'reload everything')));
    resyncsEl.insertBefore(li, resyncsEl.firstChild);
    while (resyncsEl.children.length > 8) resyncsEl.removeChild(resyncsEl.lastChild);
    setState('live', 'live');
  }

  function connect() {
    retryTimer = null;
    setState('connecting', 'connecting');
    source = new EventSource('events' + query);
    source.onopen = function () {
      retryMs = 1000;
      setState('waiting', 'waiting for the feed');
    };
    source.addEventListener('resync', function (message) {
      var item = JSON.parse(message.data);
      emit(item);
      onResync(item);
    });
    source.addEventListener('batch', function (message) {
      var item = JSON.parse(message.data);
      emit(item);
      onBatch(item);
    });
    source.onerror = function () {
      if (source.readyState === EventSource.CONNECTING) {
        setState('reconnecting', 'reconnecting');
        return;
      }
      // CLOSED: the browser gave up (a non-200 answer, e.g. a proxy's 502 while serve restarts). Try again
      // with backoff, and say so if the cause is a wrong token.
      source.close();
      fetch(location.pathname + query, { method: 'HEAD', cache: 'no-store' }).then(function (response) {
        if (response.status === 401) setState('unauthorized', 'wrong or missing token');
        else setState('offline', 'offline: retrying');
      }, function () {
        setState('offline', 'offline: retrying');
      });
      if (retryTimer === null) retryTimer = setTimeout(connect, retryMs * (0.5 + Math.random()));
      retryMs = Math.min(retryMs * 2, 30000);
    };
  }

  function draw() {
    var ratio = window.devicePixelRatio || 1;
    var width = canvas.clientWidth;
    var height = canvas.clientHeight;
    if (canvas.width !== Math.round(width * ratio)) canvas.width = Math.round(width * ratio);
    if (canvas.height !== Math.round(height * ratio)) canvas.height = Math.round(height * ratio);
    var ctx = canvas.getContext('2d');
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    var now = Math.floor(Date.now() / 1000);
    var span = 60;
    var values = [];
    var max = 0;
    for (var i = span - 1; i >= 0; i--) {
      var value = seconds.get(now - i) || 0;
      values.push(value);
      if (value > max) max = value;
    }
    seconds.forEach(function (_, second) {
      if (second < now - span) seconds.delete(second);
    });
    var top = max > 0 ? max : 1;
    var bar = width / span;
    ctx.fillStyle = '#262b36';
    ctx.fillRect(0, height - 1, width, 1);
    ctx.fillStyle = '#ffb020';
    values.forEach(function (value, index) {
      if (value === 0) return;
      var h = Math.max(2, (value / top) * (height - 18));
      ctx.fillRect(index * bar + 1, height - 1 - h, Math.max(1, bar - 2), h);
    });
    ctx.fillStyle = '#8b93a7';
    ctx.font = '11px system-ui, sans-serif';
    ctx.fillText('peak ' + max.toLocaleString() + '/s', 4, 11);
    setText('rate', (values[span - 1] || 0).toLocaleString());
  }

  setInterval(function () {
    draw();
    var now = Date.now();
    tiles.forEach(function (tile) {
      if (tile.last && now - tile.last > 60000) tile.el.classList.add('stale');
    });
  }, 1000);
  window.addEventListener('resize', draw);
  draw();
  connect();
})();
`;

const BODY = `
<header>
  <h1>pgnudge</h1><span id="state" data-state="connecting">connecting</span>
  <div class="stats">
    <div><b id="rate">0</b>changes/s</div>
    <div><b id="changes">0</b>changes</div>
    <div><b id="batches">0</b>batches</div>
    <div><b id="since">-</b>since resync</div>
  </div>
</header>
<main>
  <section>
    <h2>Tables</h2>
    <div id="tiles"></div>
    <div id="empty">No changes yet. Each table gets a tile the first time it changes.</div>
  </section>
  <aside>
    <section class="panel"><h2>Changes per second, last 60 s</h2><canvas id="chart"></canvas></section>
    <section class="panel"><h2>Resyncs</h2><ul id="resyncs"></ul></section>
  </aside>
</main>`;

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/** The live page. */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>pgnudge live</title>
<style>${STYLE}</style>
</head>
<body>${BODY}
<script>${SCRIPT}</script>
</body>
</html>
`;

/**
 * The page's Content-Security-Policy: its own inline script and style by hash, EventSource and fetch to
 * this origin only, nothing else from anywhere (and no framing, no forms, no base URL).
 */
export const PAGE_CSP = [
  "default-src 'none'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

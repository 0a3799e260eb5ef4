// `pgnudge serve` with many browsers (contract R31): one `pgnudge serve` child (one walsender) on a PostgreSQL
// it boots itself, 200 Node SSE clients in this process and one real page in chromium (when installed).
// Prints serve's RSS and CPU and commit → client latency (p50/p99/max) for the Node clients and, measured
// in the page, for the browser; writes bench/results/serve-latest.json. Asserts nothing.
// Run: node scripts/bench.mjs serve
//   PGNUDGE_BENCH_PG=17           the major to boot
//   PGNUDGE_BENCH_WRITES=200      single-row commits, each waited for at every client
//   PGNUDGE_BENCH_CLIENTS=200     Node SSE clients
//   PGNUDGE_BENCH_DEBOUNCE=0      serve's --debounce
//   PGNUDGE_BENCH_OUT=<file>      where to write the JSON (default bench/results/serve-latest.json)
//   PGNUDGE_SCREENSHOT=<file>     also save the page as PNG once the writes are done (the README's picture)
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { CliProcess, connectionUrl } from '../test/support/cli-process.js';
import { Cluster, runSql, scratchDatabase } from '../test/support/cluster.js';
import { SseClient } from '../test/support/sse-client.js';
import { waitFor } from '../test/support/wait.js';
import {
  latencySummary,
  loadAverage,
  machineInfo,
  nowMs,
  peakRssMiB,
  pgClient,
  processCpuSeconds,
} from './support/measure.js';

const MAJOR = Number(process.env.PGNUDGE_BENCH_PG ?? 17);
const WRITES = Number(process.env.PGNUDGE_BENCH_WRITES ?? 200);
const CLIENTS = Number(process.env.PGNUDGE_BENCH_CLIENTS ?? 200);
const DEBOUNCE = process.env.PGNUDGE_BENCH_DEBOUNCE ?? '0';
const WARMUP_WRITES = 5;
const TOKEN = 'bench-token-0123456789abcdef0123';
const CHROMIUM = '/usr/bin/chromium';
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The RSS of `pid` now, in MiB (VmRSS). */
function rssMiB(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) / 1024;
}

async function openPage(
  base: string,
): Promise<{ context: BrowserContext; page: Page; profile: string } | null> {
  if (!existsSync(CHROMIUM)) {
    console.log(`${CHROMIUM} is not installed: no in-page figures`);
    return null;
  }
  const profile = mkdtempSync(join(tmpdir(), 'pgnudge-bench-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  await page.addInitScript(
    "window.__arrivals = []; window.addEventListener('pgnudge', (e) => { if (e.detail.item.type === 'batch') window.__arrivals.push(e.detail.receivedAt); });",
  );
  await page.goto(`${base}/?token=${TOKEN}`);
  await page.waitForSelector('#state[data-state="live"]', { timeout: 30_000 });
  return { context, page, profile };
}

const loadAverageAtStart = loadAverage();
const cluster = await Cluster.start({ major: MAJOR });
const home = mkdtempSync(join(tmpdir(), 'pgnudge-bench-home-'));
let serve: CliProcess | null = null;
const clients: SseClient[] = [];
let browser: Awaited<ReturnType<typeof openPage>> = null;
try {
  const info = cluster.info;
  const db = await scratchDatabase(info, 'bench_serve');
  // Writes go round the tables so the page shows several tiles; each write is still one batch.
  const tables = ['public.orders', 'public.stations', 'public.invoices', 'inventory.stock'];
  await runSql(
    info,
    `CREATE SCHEMA inventory; ${tables.map((t) => `CREATE TABLE ${t} (id int);`).join(' ')}`,
    db.name,
  );
  serve = new CliProcess(
    [
      'serve',
      '--port',
      '0',
      '--debounce',
      DEBOUNCE,
      '--dsn',
      connectionUrl(info, db.name, info.roles.replication),
    ],
    { home, env: { PGNUDGE_TOKEN: TOKEN } },
  );
  const base = (await serve.match(/^serving (http:\/\/[^/\s]+)\//m, 'the serving line', 30_000))[1] as string;
  const pid = serve.child.pid as number;
  const rssIdle = rssMiB(pid);
  for (let i = 0; i < CLIENTS; i++) clients.push(new SseClient(`${base}/events?token=${TOKEN}`));
  await waitFor(() => clients.every((client) => client.items()[0]?.type === 'resync'), {
    timeoutMs: 60_000,
    what: `every one of ${CLIENTS} clients' opening Resync`,
  });
  browser = await openPage(base);
  const rssConnected = rssMiB(pid);
  const page = browser?.page;
  const pageArrivals = async (): Promise<number[]> =>
    page ? ((await page.evaluate('window.__arrivals')) as number[]) : [];

  const writer = pgClient(info, db.name);
  await writer.connect();
  const nodeLatencies: number[] = [];
  const pageLatencies: number[] = [];
  let cpuStart = 0;
  let wallStart = 0;
  try {
    for (let i = 0; i < WARMUP_WRITES + WRITES; i++) {
      if (i === WARMUP_WRITES) {
        cpuStart = processCpuSeconds(pid);
        wallStart = nowMs();
      }
      const before = clients.map((client) => client.events.length);
      const pageBefore = (await pageArrivals()).length;
      await writer.query('BEGIN');
      await writer.query(`INSERT INTO ${tables[i % tables.length]} (id) VALUES (1)`);
      const committed = nowMs();
      await writer.query('COMMIT');
      await waitFor(() => clients.every((client, k) => client.events.length > (before[k] ?? 0)), {
        timeoutMs: 30_000,
        intervalMs: 2,
        what: `write ${i} at all ${CLIENTS} clients`,
      });
      let arrivals: number[] = [];
      if (page) {
        arrivals = await waitFor(
          async () => {
            const got = await pageArrivals();
            return got.length > pageBefore ? got : undefined;
          },
          { timeoutMs: 30_000, intervalMs: 2, what: `write ${i} in the page` },
        );
      }
      if (i < WARMUP_WRITES) continue;
      for (const [k, client] of clients.entries()) {
        nodeLatencies.push((client.events[before[k] ?? 0]?.at ?? Number.NaN) - committed);
      }
      if (page) pageLatencies.push((arrivals[pageBefore] ?? Number.NaN) - committed);
    }
  } finally {
    await writer.end();
  }
  const cpuSeconds = processCpuSeconds(pid) - cpuStart;
  const screenshot = process.env.PGNUDGE_SCREENSHOT;
  if (page && screenshot) {
    await page.setViewportSize({ width: 1100, height: 520 });
    await page.screenshot({ path: resolve(root, screenshot) });
    console.log(`saved the page to ${screenshot}`);
  }
  const wallSeconds = (nowMs() - wallStart) / 1000;
  const node = latencySummary(nodeLatencies);
  const inPage = pageLatencies.length > 0 ? latencySummary(pageLatencies) : null;
  const figures = {
    clients: CLIENTS + (page ? 1 : 0),
    writes: WRITES,
    debounce: Number(DEBOUNCE),
    serve: {
      rssIdleMiB: Number(rssIdle.toFixed(1)),
      rssConnectedMiB: Number(rssConnected.toFixed(1)),
      peakRssMiB: Number(peakRssMiB(pid).toFixed(1)),
      cpuSeconds: Number(cpuSeconds.toFixed(3)),
      cpuPercentOfOneCore: Number(((100 * cpuSeconds) / wallSeconds).toFixed(1)),
      cpuMsPerWrite: Number(((1000 * cpuSeconds) / WRITES).toFixed(3)),
    },
    latencyNodeClients: { samples: nodeLatencies.length, ...node },
    latencyInPage: inPage && { samples: pageLatencies.length, ...inPage },
  };
  console.log(
    `serve with ${figures.clients} streams: RSS ${rssIdle.toFixed(1)} MiB idle, ${rssConnected.toFixed(1)} MiB connected, peak ${figures.serve.peakRssMiB} MiB; CPU ${cpuSeconds.toFixed(2)} s over ${wallSeconds.toFixed(1)} s (${figures.serve.cpuPercentOfOneCore}% of a core, ${figures.serve.cpuMsPerWrite} ms per write)`,
  );
  console.log(
    `commit → ${CLIENTS} Node clients: p50 ${node.p50.toFixed(2)} ms, p99 ${node.p99.toFixed(2)} ms, max ${node.max.toFixed(2)} ms (${nodeLatencies.length} samples)`,
  );
  if (inPage) {
    console.log(
      `commit → the page (chromium): p50 ${inPage.p50.toFixed(2)} ms, p99 ${inPage.p99.toFixed(2)} ms, max ${inPage.max.toFixed(2)} ms (${pageLatencies.length} samples)`,
    );
  }
  const out = process.env.PGNUDGE_BENCH_OUT ?? join(root, 'bench/results/serve-latest.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(
    out,
    `${JSON.stringify(
      {
        bench: 'serve',
        ...machineInfo(info.version, loadAverageAtStart),
        setup: `one \`pgnudge serve\` child (--debounce ${DEBOUNCE}, TLS verify-full + SCRAM to PostgreSQL on 127.0.0.1); ${CLIENTS} SSE clients over node:http in the bench process and one chromium page; latency = the client receives the batch event − just before the writer sends COMMIT; serve's CPU and RSS from /proc`,
        ...figures,
      },
      null,
      2,
    )}\n`,
  );
  console.log(`wrote ${out}`);
} finally {
  for (const client of clients) client.close();
  if (browser) {
    await browser.context.close();
    rmSync(browser.profile, { recursive: true, force: true });
  }
  serve?.kill('SIGTERM');
  await serve?.exited;
  cluster.stop();
  rmSync(home, { recursive: true, force: true });
}

// The live page of `pgnudge serve` in a real browser (Debian's chromium driven by playwright-core): it
// connects with the token from its own URL, a commit lights up the table's tile with its count, and when
// serve restarts, EventSource reconnects and the page shows the new stream's Resync. No console error
// (a CSP violation would be one). PGNUDGE_SCREENSHOT=<file> also saves its picture (the README's comes from
// bench/serve.bench.ts, whose writes fill the chart).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, type TestContext, test } from 'node:test';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { CliProcess, connectionUrl } from '../support/cli-process.js';
import {
  type ClusterInfo,
  freePort,
  liveCluster,
  repoPath,
  runSql,
  scratchDatabase,
  strictLive,
} from '../support/cluster.js';
import { onlyOneMajor } from '../support/one-major.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'browser-test-token-0123456789abcdef';
const WAIT = { timeout: 30_000 };

let info: ClusterInfo;
let db: { name: string; drop(): Promise<void> };
let home: string;
let skip: string | undefined;

before(async () => {
  if (!existsSync(CHROMIUM)) {
    skip = `${CHROMIUM} is not installed (apt-get install chromium)`;
    if (strictLive) throw new Error(skip);
    return;
  }
  info = await liveCluster();
  skip = onlyOneMajor(info, 'the live page');
  if (skip) return;
  db = await scratchDatabase(info, 'serve_page');
  home = mkdtempSync(join(tmpdir(), 'pgnudge-page-home-'));
  await runSql(
    info,
    `CREATE TABLE public.orders (id serial PRIMARY KEY);
     CREATE TABLE public.stations (id serial PRIMARY KEY);
     CREATE TABLE public.invoices (id serial PRIMARY KEY);
     CREATE SCHEMA inventory;
     CREATE TABLE inventory.stock (id serial PRIMARY KEY);`,
    db.name,
  );
});

after(async () => {
  await db?.drop();
  if (home) rmSync(home, { recursive: true, force: true });
});

const sql = (text: string) => runSql(info, text, db.name);

function serve(t: TestContext, port: number, token = TOKEN): Promise<CliProcess> {
  const cli = new CliProcess(
    ['serve', '--port', String(port), '--dsn', connectionUrl(info, db.name, info.roles.replication)],
    {
      home,
      env: { PGNUDGE_TOKEN: token },
      after: (fn) => t.after(fn),
    },
  );
  return cli.match(/^serving http:/m, 'the serving line').then(() => cli);
}

async function launch(t: TestContext): Promise<{ context: BrowserContext; page: Page; problems: string[] }> {
  const profile = mkdtempSync(join(tmpdir(), 'pgnudge-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1100, height: 560 },
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
  t.after(async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    // A failed EventSource or HEAD request while serve is down is expected; anything else is a bug.
    if (
      message.type() === 'error' &&
      !/ERR_CONNECTION_REFUSED|ERR_EMPTY_RESPONSE|net::/.test(message.text())
    ) {
      problems.push(`console: ${message.text()}`);
    }
  });
  return { context, page, problems };
}

/** Waits until the tile of `table` shows `count`. */
function waitForCount(page: Page, table: string, count: string) {
  return page.waitForSelector(`.tile[data-table="${table}"] .count:text-is("${count}")`, WAIT);
}

const tileCount = (page: Page, table: string) =>
  page.locator(`.tile[data-table="${table}"] .count`).textContent({ timeout: 30_000 });

describe('the live page in chromium', { timeout: 150_000 }, () => {
  test('tiles count commits; after serve restarts, EventSource reconnects and the page resyncs', {
    timeout: 120_000,
  }, async (t) => {
    if (skip) return t.skip(skip);
    const port = await freePort();
    const first = await serve(t, port);
    const { page, problems } = await launch(t);
    await page.goto(`http://127.0.0.1:${port}/?token=${TOKEN}`);
    await page.waitForSelector('#state[data-state="live"]', WAIT);
    assert.equal(await page.locator('#resyncs li').count(), 1);
    assert.match((await page.locator('#resyncs li').first().textContent()) ?? '', /connected/);

    await sql('INSERT INTO public.orders DEFAULT VALUES; INSERT INTO public.orders DEFAULT VALUES;');
    await sql('INSERT INTO public.orders DEFAULT VALUES');
    await waitForCount(page, 'public.orders', '3');
    assert.equal(await tileCount(page, 'public.orders'), '3');

    // Some traffic on several tables, for the picture: tiles, the chart, the totals.
    await sql('INSERT INTO public.stations SELECT FROM generate_series(1, 120)');
    await sql('INSERT INTO inventory.stock SELECT FROM generate_series(1, 40)');
    await sql('INSERT INTO public.invoices SELECT FROM generate_series(1, 7)');
    await waitForCount(page, 'public.invoices', '7');
    const shot = join(home, 'serve-page.png');
    await page.screenshot({ path: shot });
    const size = statSync(shot).size;
    assert.ok(size < 150 * 1024, `the screenshot is ${size} bytes`);
    const target = process.env.PGNUDGE_SCREENSHOT;
    if (target) {
      const { writeFileSync } = await import('node:fs');
      writeFileSync(resolve(repoPath(), target), readFileSync(shot));
    }

    first.kill('SIGTERM');
    assert.equal(await first.status(), 0);
    await page.waitForSelector('#state:not([data-state="live"])', WAIT);
    await serve(t, port);
    await page.waitForSelector('#resyncs li:nth-child(2)', WAIT);
    await page.waitForSelector('#state[data-state="live"]', WAIT);
    assert.equal(await tileCount(page, 'public.orders'), '0', 'the resync reset the tiles');
    assert.equal(await page.locator('.tile.stale').count(), 4, 'and dimmed them');
    await sql('INSERT INTO public.orders DEFAULT VALUES');
    await waitForCount(page, 'public.orders', '1');
    assert.deepEqual(problems, []);
  });

  test('serve back with another token: the page says the token is wrong instead of spinning', {
    timeout: 60_000,
  }, async (t) => {
    if (skip) return t.skip(skip);
    const port = await freePort();
    const first = await serve(t, port);
    const { page } = await launch(t);
    await page.goto(`http://127.0.0.1:${port}/?token=${TOKEN}`);
    await page.waitForSelector('#state[data-state="live"]', WAIT);
    first.kill('SIGTERM');
    assert.equal(await first.status(), 0);
    // A rotated token: the browser's reconnect is refused (401), so EventSource gives up for good.
    await serve(t, port, 'rotated-token-0123456789abcdef');
    await page.waitForSelector('#state[data-state="unauthorized"]', WAIT);
    assert.equal(await page.locator('#state').textContent(), 'wrong or missing token');
  });
});

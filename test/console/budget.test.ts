/**
 * The console's budgets: at most 250 KB of gzipped JavaScript, and the first render of a
 * 100,000-key account (the table and "1–50 of 100,000") within 1 s on this machine, from a cold
 * browser (nothing cached) to the rows on screen. The account is made by `npm run seed`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { CONSOLE_DIR, type ConsoleManifest } from '../../src/console';
import { ensureBuilt } from '../helpers/bundles';
import { describeWithChromium, launchChromium } from '../helpers/chromium';
import { childToken, startChildServer, type ChildServer } from '../helpers/child-server';
import { createDurableDatabase, type DurableDatabase } from '../helpers/database';
import { runSeed } from '../helpers/seed';

const ROOT = path.resolve(__dirname, '../..');
const RESULTS = path.join(ROOT, 'test-results');
const JS_BUDGET = 250 * 1024;
const FIRST_RENDER_BUDGET_MS = 1000;
const describeBrowser = describeWithChromium(__filename);

jest.setTimeout(240_000);

test('the console\'s JavaScript is at most 250 KB gzipped', async () => {
  await ensureBuilt('console');
  const manifest = JSON.parse(fs.readFileSync(path.join(CONSOLE_DIR, 'manifest.json'), 'utf8')) as ConsoleManifest;
  const js = fs.statSync(path.join(CONSOLE_DIR, `${manifest.script}.gz`)).size;
  const css = fs.statSync(path.join(CONSOLE_DIR, `${manifest.style}.gz`)).size;
  console.log(`console bundle: ${(js / 1024).toFixed(1)} KB of JavaScript and ${(css / 1024).toFixed(1)} KB of CSS, gzipped (budget ${JS_BUDGET / 1024} KB of JavaScript)`);
  expect(js).toBeLessThanOrEqual(JS_BUDGET);
  // one script: nothing else is loaded later
  expect(fs.readdirSync(CONSOLE_DIR).filter((f) => f.endsWith('.js'))).toEqual([manifest.script]);
});

describeBrowser('first render of a 100,000-key account', () => {
  let database: DurableDatabase;
  let server: ChildServer;
  let browser: Browser;

  beforeAll(async () => {
    await ensureBuilt('console');
    database = await createDurableDatabase();
    const seeded = await runSeed(database.env,
      ['--accounts', '1', '--keys', '100000', '--big-account-keys', '100000', '--teams', '40', '--usage-days', '2', '--verifications', '20000']);
    if (seeded.code !== 0) throw new Error(`seed failed:\n${seeded.output}`);
    server = await startChildServer({ ...database.env, MIGRATE_ON_START: 'false' }, 60_000);
    browser = await launchChromium();
  }, 200_000);

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
    await database?.drop();
  });

  /**
   * One cold load (a new browser context: no cache, no session): the time from the navigation's
   * start to the frame in which the 50 rows and "1–50 of 100,000" are on screen, by the page's
   * own clock (an observer installed before the page's script runs).
   */
  async function coldLoad(token: string, screenshot: string | null): Promise<number> {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    try {
      await context.addInitScript((t: string) => {
        const g = globalThis as unknown as {
          sessionStorage: { setItem(k: string, v: string): void };
          document: { querySelector(s: string): { textContent: string | null } | null; querySelectorAll(s: string): { length: number } };
          MutationObserver: new (cb: () => void) => { observe(target: unknown, options: unknown): void; disconnect(): void };
          performance: { now(): number };
          requestAnimationFrame(cb: () => void): void;
          firstRender?: number;
        };
        g.sessionStorage.setItem('qckeys-console-token', t);
        const observer = new g.MutationObserver(() => {
          if (g.document.querySelector('.range')?.textContent?.includes('of 100,000') && g.document.querySelectorAll('tbody tr').length === 50) {
            observer.disconnect();
            // the next frame is the one that shows it
            g.requestAnimationFrame(() => { g.firstRender = g.performance.now(); });
          }
        });
        observer.observe(g.document, { childList: true, subtree: true, characterData: true });
      }, token);
      const page = await context.newPage();
      await page.goto(`${server.baseUrl}/console`);
      await page.waitForFunction(() => (globalThis as unknown as { firstRender?: number }).firstRender !== undefined, undefined, { timeout: 30_000 });
      const firstRender = await page.evaluate(() => (globalThis as unknown as { firstRender: number }).firstRender);
      // the page goes on to ask for the filters' counts (counted afresh the first time): the next
      // cold load starts once they are shown, not while the service still counts for this one
      await page.getByRole('checkbox', { name: /^Active \(/ }).waitFor({ timeout: 60_000 });
      if (screenshot) await page.screenshot({ path: screenshot });
      return firstRender;
    } finally {
      await context.close();
    }
  }

  test('the table and "1–50 of 100,000" within 1 s, from a cold browser', async () => {
    const token = await childToken({ account: 'seed-000', roles: ['admin'], sub: 'budget' });
    fs.mkdirSync(RESULTS, { recursive: true });
    // A trial is three cold loads; its median is the figure. Other test files load the same two
    // cores: a trial that misses is run again, at most three in all, and every trial is printed.
    let median = Infinity;
    for (let trial = 1; trial <= 3 && median > FIRST_RENDER_BUDGET_MS; trial++) {
      const times: number[] = [];
      for (let i = 0; i < 3; i++) times.push(await coldLoad(token, trial === 1 && i === 0 ? path.join(RESULTS, 'console-100k.png') : null));
      median = [...times].sort((a, b) => a - b)[1]!;
      console.log(`first render of the 100,000-key account, trial ${trial}: ${times.map((t) => t.toFixed(0)).join(', ')} ms (median ${median.toFixed(0)} ms, budget ${FIRST_RENDER_BUDGET_MS} ms)`);
    }
    expect(median).toBeLessThanOrEqual(FIRST_RENDER_BUDGET_MS);
  });
});

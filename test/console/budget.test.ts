/**
 * The console's budgets: at most 250 KB of gzipped JavaScript; and the first render of a
 * 100,000-key account (the table and "1–50 of 100,000"), from a cold browser (nothing cached) to
 * the rows on screen. Its budget, 1 s, is a figure of `npm run bench:console` (measured with
 * nothing else running, beside the page's first request alone); here, beside the other test
 * files on the same cores, the page must render it, and well within the time a console that
 * read every key would take. The account is made by `npm run seed`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { CONSOLE_DIR, type ConsoleManifest } from '../../src/console';
import { ensureBuilt } from '../helpers/bundles';
import { consoleFirstRender, describeWithChromium, launchChromium } from '../helpers/chromium';
import { childToken, startChildServer, type ChildServer } from '../helpers/child-server';
import { createDurableDatabase, type DurableDatabase } from '../helpers/database';
import { runSeed } from '../helpers/seed';

const ROOT = path.resolve(__dirname, '../..');
const RESULTS = path.join(ROOT, 'test-results');
const JS_BUDGET = 250 * 1024;
// other test files share the cores: medians of 345-2,041 ms were seen in CI runs
const REGRESSION_BOUND_MS = 5000;
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

  test('the table and "1–50 of 100,000" from a cold browser, far within the time of reading every key', async () => {
    const token = await childToken({ account: 'seed-000', roles: ['admin'], sub: 'budget' });
    fs.mkdirSync(RESULTS, { recursive: true });
    const times: number[] = [];
    for (let i = 0; i < 3; i++) times.push(await consoleFirstRender(browser, server.baseUrl, token, '100,000', i === 0 ? path.join(RESULTS, 'console-100k.png') : null));
    const median = [...times].sort((a, b) => a - b)[1]!;
    console.log(`first render of the 100,000-key account: ${times.map((t) => t.toFixed(0)).join(', ')} ms (median ${median.toFixed(0)} ms; the 1 s budget is measured by npm run bench:console)`);
    expect(median).toBeLessThanOrEqual(REGRESSION_BOUND_MS);
  });
});

/**
 * The GraphQL IDE in a real browser: Debian's chromium driven by playwright-core. Loads /graphql,
 * puts a bearer token in the headers pane, runs an `apiKeys` query and reads the result pane.
 * Skipped only when /usr/bin/chromium is missing outside CI; in CI it must run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { seedAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';
import { ensureBuilt } from '../helpers/bundles';
import { describeWithChromium, launchChromiumContext } from '../helpers/chromium';

// what the page functions below use of the browser's DOM (this project compiles without the DOM library)
declare const document: { querySelector(selector: string): { textContent: string | null; children: { length: number } } | null };

const SCREENSHOT = path.resolve(__dirname, '../../test-results/ide.png');
const describeBrowser = describeWithChromium(__filename);

jest.setTimeout(180_000);

describeBrowser('GraphQL IDE in chromium', () => {
  let server: TestServer;
  let context: BrowserContext;
  let userDataDir: string;

  beforeAll(async () => {
    await ensureBuilt('ide');
    server = await startTestServer();
    userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qckeys-chromium-'));
    context = await launchChromiumContext(userDataDir, { width: 1400, height: 900 });
  });

  afterAll(async () => {
    await context?.close();
    await server?.stop();
    if (userDataDir) fs.rmSync(userDataDir, { recursive: true, force: true });
  });

  /** Replaces the content of the Monaco editor inside `container` with `text`. */
  async function fillEditor(page: Page, container: string, text: string) {
    const editor = page.locator(`${container} .monaco-editor`).first();
    await editor.waitFor({ state: 'visible' });
    await editor.click();
    await page.keyboard.press('ControlOrMeta+KeyA');
    await page.keyboard.press('Delete');
    // insertText types the text as one input, without the editor's auto-closing brackets
    await page.keyboard.insertText(text);
  }

  test('runs an apiKeys query with a bearer token from the headers pane', async () => {
    const acme = await seedAccount(server, 'acme');
    const key = await acme.createKey({ name: 'Browser-Key-7Q' });
    const origin = new URL(server.baseUrl).origin;

    const page = await context.newPage();
    const requests: string[] = [];
    const problems: string[] = [];
    context.on('request', (request) => requests.push(request.url()));
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' && /Content Security Policy|Refused to/i.test(message.text())) problems.push(`console: ${message.text()}`);
    });

    const response = await page.goto(`${server.baseUrl}/graphql`, { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    expect(response?.headers()['content-type']).toMatch(/^text\/html/);
    await page.locator('.graphiql-container').waitFor({ state: 'visible', timeout: 60_000 });

    // the headers pane is open and pre-filled with the Authorization template
    const headersTab = page.locator('.graphiql-editor-tools button[data-name="headers"]');
    await headersTab.click();
    await page.waitForFunction(() => document.querySelector('.graphiql-editor-tool .graphiql-editor:not(.hidden)')?.textContent?.includes('Authorization'));
    await fillEditor(page, '.graphiql-editor-tool .graphiql-editor:not(.hidden)', JSON.stringify({ Authorization: `Bearer ${acme.viewer}` }));

    // one line (typed line breaks would be auto-indented), then the IDE's prettify button formats it
    await fillEditor(page, '.graphiql-query-editor', 'query Keys { apiKeys(first: 10) { totalCount edges { node { id name status expiresAt } } } }');
    await page.locator('.graphiql-toolbar button[aria-label^="Prettify"]').click();
    // prettier is loaded on demand from the bundle's chunks: the query now spans several lines
    await page.waitForFunction(() => (document.querySelector('.graphiql-query-editor .view-lines')?.children.length ?? 0) > 3);
    await page.locator('.graphiql-execute-button').click();

    try {
      await page.waitForFunction(
        (name) => document.querySelector('.graphiql-response')?.textContent?.includes(name) ?? false,
        key.name, { timeout: 30_000 },
      );
    } catch (err) {
      fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
      await page.screenshot({ path: SCREENSHOT.replace(/\.png$/, '-failure.png') });
      throw err;
    }
    const result = (await page.locator('.graphiql-response').textContent()) ?? '';
    expect(result).toContain(key.id);
    expect(result).toContain('totalCount');

    fs.mkdirSync(path.dirname(SCREENSHOT), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });

    expect(problems).toEqual([]);
    // every request stayed on the service: the page, its assets, workers and the GraphQL POSTs
    const outside = requests.filter((url) => !url.startsWith(`${origin}/`) && !url.startsWith('data:') && !url.startsWith('blob:'));
    expect(outside).toEqual([]);
    expect(requests.some((url) => url.startsWith(`${origin}/ide/`))).toBe(true);
    expect(requests.filter((url) => url === `${origin}/graphql`).length).toBeGreaterThan(0);
    expect(new URL(origin).hostname).toBe('127.0.0.1');
    await page.close();
  });
});

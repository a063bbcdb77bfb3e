import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium, which the browser tests and the console's benchmark drive through playwright-core. */
export const CHROMIUM = '/usr/bin/chromium';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

export const launchChromium = (): Promise<Browser> => chromium.launch({ executablePath: CHROMIUM, args: ARGS });

/** A persistent context (a profile directory of its own), as the IDE test uses. */
export const launchChromiumContext = (userDataDir: string, viewport: { width: number; height: number }) =>
  chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport });

/**
 * One cold load of the admin console (a new browser context: no cache, no session) with `token`:
 * the time from the navigation's start to the frame in which the first page's 50 rows and
 * "1–50 of `total`" are on screen, by the page's own clock (an observer installed before the
 * page's script runs). The load ends once the page has shown its filters' counts, which it asks
 * for next (counted afresh the first time), so that a next load does not share the service with it.
 */
export async function consoleFirstRender(browser: Browser, baseUrl: string, token: string, total: string, screenshot: string | null = null): Promise<number> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  try {
    await context.addInitScript(({ t, range }: { t: string; range: string }) => {
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
        if (g.document.querySelector('.range')?.textContent?.includes(range) && g.document.querySelectorAll('tbody tr').length === 50) {
          observer.disconnect();
          // the next frame is the one that shows it
          g.requestAnimationFrame(() => { g.firstRender = g.performance.now(); });
        }
      });
      observer.observe(g.document, { childList: true, subtree: true, characterData: true });
    }, { t: token, range: `of ${total}` });
    const page = await context.newPage();
    await page.goto(`${baseUrl}/console`);
    await page.waitForFunction(() => (globalThis as unknown as { firstRender?: number }).firstRender !== undefined, undefined, { timeout: 30_000 });
    const firstRender = await page.evaluate(() => (globalThis as unknown as { firstRender: number }).firstRender);
    await page.getByRole('checkbox', { name: /^Active \(/ }).waitFor({ timeout: 60_000 });
    if (screenshot) await page.screenshot({ path: screenshot });
    return firstRender;
  } finally {
    await context.close();
  }
}

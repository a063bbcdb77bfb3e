import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';

/** Debian's chromium, which the browser tests drive through playwright-core. */
export const CHROMIUM = '/usr/bin/chromium';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

/**
 * `describe` for tests that need chromium: skipped, with a warning, only when it is missing outside
 * CI; in CI they run (and fail without it).
 */
export function describeWithChromium(file: string): jest.Describe {
  if (fs.existsSync(CHROMIUM) || process.env.CI) return describe;
  console.warn(`${path.relative(path.resolve(__dirname, '../..'), file)} skipped: ${CHROMIUM} is missing (apt-get install -y chromium). In CI it runs and fails without it.`);
  return describe.skip;
}

export const launchChromium = (): Promise<Browser> => chromium.launch({ executablePath: CHROMIUM, args: ARGS });

/** A persistent context (a profile directory of its own), as the IDE test uses. */
export const launchChromiumContext = (userDataDir: string, viewport: { width: number; height: number }) =>
  chromium.launchPersistentContext(userDataDir, { executablePath: CHROMIUM, headless: true, args: ARGS, viewport });

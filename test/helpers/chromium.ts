import fs from 'node:fs';
import path from 'node:path';
import { CHROMIUM } from '../../bench/lib/browser';

export { CHROMIUM, consoleFirstRender, launchChromium, launchChromiumContext } from '../../bench/lib/browser';

/**
 * `describe` for tests that need chromium: skipped, with a warning, only when it is missing outside
 * CI; in CI they run (and fail without it).
 */
export function describeWithChromium(file: string): jest.Describe {
  if (fs.existsSync(CHROMIUM) || process.env.CI) return describe;
  console.warn(`${path.relative(path.resolve(__dirname, '../..'), file)} skipped: ${CHROMIUM} is missing (apt-get install -y chromium). In CI it runs and fails without it.`);
  return describe.skip;
}

import path from 'node:path';
import { createBundlePage, pageHtml, type BundlePage } from './bundle-page';

/**
 * The reference admin console (`console/`, bundled by scripts/build-console.ts into
 * `dist/console`): the API Keys tab built on the public API and the typed client alone, served at
 * `GET /console`.
 */
export const CONSOLE_DIR = path.resolve(__dirname, __filename.endsWith('.ts') ? '../dist/console' : '../console');

/** URL prefix of the bundle's files. */
export const CONSOLE_ASSET_PREFIX = '/console/assets/';

// Everything the page loads comes from the service itself; it talks only to /graphql.
const CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "connect-src 'self'",
  "object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "form-action 'none'",
].join('; ');

export interface ConsoleManifest {
  script: string;
  style: string;
}

/** What the page hands the console: the endpoint, and the development token on a local browser. */
export interface ConsoleConfig {
  endpoint: string;
  devToken: string;
}

function page(manifest: ConsoleManifest, devToken: string): string {
  const config: ConsoleConfig = { endpoint: '/graphql', devToken };
  return pageHtml({
    title: 'API Keys · qckeys console', assetPrefix: CONSOLE_ASSET_PREFIX, style: manifest.style, script: manifest.script,
    configId: 'qckeys-console-config', config, rootId: 'console', noscript: 'The console needs JavaScript. The API itself is at /graphql.',
  });
}

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>qckeys console</title></head>
<body><h1>The console is not built</h1>
<p>Run <code>npm run build</code> and reload. The API itself works: POST queries to <code>/graphql</code>.</p>
</body></html>
`;

export function createConsole(options: { dir?: string; devSecret?: string | null } = {}): BundlePage {
  return createBundlePage<ConsoleManifest>({
    dir: options.dir ?? CONSOLE_DIR,
    assetPrefix: CONSOLE_ASSET_PREFIX,
    isPage: (_req, url) => url.pathname === '/console' || url.pathname === '/console/',
    html: page,
    notBuilt: NOT_BUILT,
    csp: CSP,
    devSecret: options.devSecret,
  });
}

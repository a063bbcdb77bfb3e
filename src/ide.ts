import type http from 'node:http';
import path from 'node:path';
import { createBundlePage, pageHtml, type BundlePage } from './bundle-page';

/** Where `npm run build:ide` (scripts/build-ide.ts) writes the bundle: `dist/ide`. */
export const IDE_DIR = path.resolve(__dirname, __filename.endsWith('.ts') ? '../dist/ide' : '../ide');

/** URL prefix of the bundle's files. */
export const IDE_ASSET_PREFIX = '/ide/';

// Everything the page loads comes from the service itself. Monaco sets inline styles.
const CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
  "font-src 'self' data:", "worker-src 'self'", "connect-src 'self'", "object-src 'none'", "base-uri 'none'",
  "frame-ancestors 'none'", "form-action 'none'",
].join('; ');

interface Manifest {
  script: string;
  style: string;
  workers: { editor: string; json: string; graphql: string };
}

export interface IdeOptions {
  /** The bundle directory (default `dist/ide`). */
  dir?: string;
  /** The development signing secret, when the service runs with one: pre-fills a token for local browsers. */
  devSecret?: string | null;
}

export type Ide = BundlePage;

function page(manifest: Manifest, token: string): string {
  const config = {
    endpoint: '/graphql',
    headers: JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2),
    workers: {
      editor: IDE_ASSET_PREFIX + manifest.workers.editor,
      json: IDE_ASSET_PREFIX + manifest.workers.json,
      graphql: IDE_ASSET_PREFIX + manifest.workers.graphql,
    },
  };
  return pageHtml({
    title: 'qckeys GraphQL IDE', assetPrefix: IDE_ASSET_PREFIX, style: manifest.style, script: manifest.script,
    configId: 'qckeys-ide-config', config, rootId: 'graphiql',
    noscript: 'The GraphQL IDE needs JavaScript. POST queries to /graphql with a bearer token instead.',
  });
}

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>qckeys GraphQL IDE</title></head>
<body><h1>The GraphQL IDE is not built</h1>
<p>Run <code>npm run build</code> (or <code>npm run build:ide</code>) and reload. The API itself works: POST queries to <code>/graphql</code>.</p>
</body></html>
`;

/** Serves the bundled GraphiQL (see scripts/build-ide.ts) from the service itself. */
export function createIde(options: IdeOptions = {}): Ide {
  return createBundlePage<Manifest>({
    dir: options.dir ?? IDE_DIR,
    assetPrefix: IDE_ASSET_PREFIX,
    // `GET /`, or a browser's `GET /graphql`
    isPage: (req: http.IncomingMessage, url: URL) => url.pathname === '/'
      || (url.pathname === '/graphql' && String(req.headers.accept ?? '').includes('text/html')),
    html: page,
    notBuilt: NOT_BUILT,
    csp: CSP,
    devSecret: options.devSecret,
  });
}

import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { signToken } from './auth/tokens';

/** Where `npm run build:ide` (scripts/build-ide.ts) writes the bundle: `dist/ide`. */
export const IDE_DIR = path.resolve(__dirname, __filename.endsWith('.ts') ? '../dist/ide' : '../ide');

/** URL prefix of the bundle's files. */
export const IDE_ASSET_PREFIX = '/ide/';

const CONTENT_TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.ttf': 'font/ttf',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

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

export interface Ide {
  /** Whether this request is for the IDE: `GET /`, a browser's `GET /graphql`, or a bundle file. */
  handles(req: http.IncomingMessage, url: URL): boolean;
  serve(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void>;
}

const escapeJsonForHtml = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');

function isLoopback(req: http.IncomingMessage): boolean {
  const address = req.socket.remoteAddress ?? '';
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

function page(manifest: Manifest, headers: string): string {
  const config = {
    endpoint: '/graphql',
    headers,
    workers: {
      editor: IDE_ASSET_PREFIX + manifest.workers.editor,
      json: IDE_ASSET_PREFIX + manifest.workers.json,
      graphql: IDE_ASSET_PREFIX + manifest.workers.graphql,
    },
  };
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>qckeys GraphQL IDE</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${IDE_ASSET_PREFIX}${manifest.style}">
<script type="application/json" id="qckeys-ide-config">${escapeJsonForHtml(config)}</script>
<script type="module" src="${IDE_ASSET_PREFIX}${manifest.script}"></script>
</head>
<body>
<div id="graphiql"><noscript>The GraphQL IDE needs JavaScript. POST queries to /graphql with a bearer token instead.</noscript></div>
</body>
</html>
`;
}

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>qckeys GraphQL IDE</title></head>
<body><h1>The GraphQL IDE is not built</h1>
<p>Run <code>npm run build</code> (or <code>npm run build:ide</code>) and reload. The API itself works: POST queries to <code>/graphql</code>.</p>
</body></html>
`;

/** Serves the bundled GraphiQL (see scripts/build-ide.ts) from the service itself. */
export function createIde(options: IdeOptions = {}): Ide {
  const dir = path.resolve(options.dir ?? IDE_DIR);
  let devToken: Promise<string> | null = null;
  let manifestCache: { mtimeMs: number; manifest: Manifest } | null = null;

  function manifest(): Manifest | null {
    const file = path.join(dir, 'manifest.json');
    try {
      const { mtimeMs } = fs.statSync(file);
      if (manifestCache?.mtimeMs !== mtimeMs) manifestCache = { mtimeMs, manifest: JSON.parse(fs.readFileSync(file, 'utf8')) as Manifest };
      return manifestCache.manifest;
    } catch {
      return null;
    }
  }

  async function headersTemplate(req: http.IncomingMessage): Promise<string> {
    let token = '';
    // The development token is only offered to a browser on the same machine.
    if (options.devSecret && isLoopback(req)) {
      devToken ??= signToken({ secret: options.devSecret, account: 'demo', roles: ['admin'], subject: 'dev-admin', ttl: '30d' });
      token = await devToken;
    }
    return JSON.stringify({ Authorization: `Bearer ${token}` }, null, 2);
  }

  function send(res: http.ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}, head = false) {
    res.writeHead(status, { 'content-type': type, 'content-length': String(Buffer.byteLength(body)), 'x-content-type-options': 'nosniff', ...headers });
    res.end(head ? undefined : body);
  }

  async function serveAsset(req: http.IncomingMessage, res: http.ServerResponse, url: URL, head: boolean) {
    let relative: string;
    try {
      relative = decodeURIComponent(url.pathname.slice(IDE_ASSET_PREFIX.length));
    } catch {
      return send(res, 400, 'text/plain; charset=utf-8', 'Bad path', {}, head);
    }
    const file = path.resolve(dir, relative);
    const type = CONTENT_TYPES[path.extname(file)];
    // only plain files inside the bundle directory, never the manifest or a dot file
    if (!type || relative.includes('\0') || !file.startsWith(dir + path.sep) || relative === 'manifest.json' || relative.split('/').some((p) => p.startsWith('.'))) {
      return send(res, 404, 'text/plain; charset=utf-8', 'Not found', {}, head);
    }
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    let body: Buffer | null = null;
    let encoding: Record<string, string> = {};
    if (gzip) {
      body = await fs.promises.readFile(`${file}.gz`).catch(() => null);
      if (body) encoding = { 'content-encoding': 'gzip' };
    }
    body ??= await fs.promises.readFile(file).catch(() => null);
    if (!body) return send(res, 404, 'text/plain; charset=utf-8', 'Not found', {}, head);
    // file names carry a content hash: cache them for good
    send(res, 200, type, body, { 'cache-control': 'public, max-age=31536000, immutable', vary: 'accept-encoding', ...encoding }, head);
  }

  return {
    handles(req, url) {
      if (req.method !== 'GET' && req.method !== 'HEAD') return false;
      if (url.pathname === '/' || url.pathname.startsWith(IDE_ASSET_PREFIX)) return true;
      return url.pathname === '/graphql' && String(req.headers.accept ?? '').includes('text/html');
    },
    async serve(req, res, url) {
      const head = req.method === 'HEAD';
      if (url.pathname.startsWith(IDE_ASSET_PREFIX)) return serveAsset(req, res, url, head);
      const built = manifest();
      const common = { 'cache-control': 'no-store', 'content-security-policy': CSP, 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY' };
      if (!built) return send(res, 503, 'text/html; charset=utf-8', NOT_BUILT, common, head);
      send(res, 200, 'text/html; charset=utf-8', page(built, await headersTemplate(req)), common, head);
    },
  };
}

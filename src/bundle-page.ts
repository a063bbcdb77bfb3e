import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { signToken } from './auth/tokens';

/**
 * A page the service serves with a bundle built by esbuild (the GraphQL IDE, the admin console):
 * the HTML, the bundle's hashed files under `assetPrefix` (gzip when accepted, cached for good),
 * and on a browser of the same machine the development admin token, when the service has one.
 */

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

const escapeJsonForHtml = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');

/** A bundled page's HTML: its style sheet and module script, and `config` as JSON for the script to read. */
export function pageHtml(page: {
  title: string; assetPrefix: string; style: string; script: string; configId: string; config: unknown; rootId: string; noscript: string;
}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${page.title}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${page.assetPrefix}${page.style}">
<script type="application/json" id="${page.configId}">${escapeJsonForHtml(page.config)}</script>
<script type="module" src="${page.assetPrefix}${page.script}"></script>
</head>
<body>
<div id="${page.rootId}"><noscript>${page.noscript}</noscript></div>
</body>
</html>
`;
}

function isLoopback(req: http.IncomingMessage): boolean {
  const address = req.socket.remoteAddress ?? '';
  return address === '::1' || address.startsWith('127.') || address.startsWith('::ffff:127.');
}

export interface BundlePageOptions<M> {
  /** The bundle directory, holding `manifest.json`. */
  dir: string;
  /** URL prefix of the bundle's files, e.g. `/ide/`. */
  assetPrefix: string;
  /** Whether a GET or HEAD of this URL (outside the asset prefix) is the page. */
  isPage(req: http.IncomingMessage, url: URL): boolean;
  /** The page's HTML, given the manifest and the token to fill in ('' when none). */
  html(manifest: M, devToken: string): string;
  /** The HTML answered with 503 while the bundle is not built. */
  notBuilt: string;
  /** The Content-Security-Policy of the page. */
  csp: string;
  /** The development signing secret, when the service runs with one. */
  devSecret?: string | null | undefined;
}

export interface BundlePage {
  /** Whether this request is for the page or one of its files. */
  handles(req: http.IncomingMessage, url: URL): boolean;
  serve(req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void>;
}

export function createBundlePage<M>(options: BundlePageOptions<M>): BundlePage {
  const dir = path.resolve(options.dir);
  const prefix = options.assetPrefix;
  let devToken: Promise<string> | null = null;
  let manifestCache: { mtimeMs: number; manifest: M } | null = null;

  function manifest(): M | null {
    const file = path.join(dir, 'manifest.json');
    try {
      const { mtimeMs } = fs.statSync(file);
      if (manifestCache?.mtimeMs !== mtimeMs) manifestCache = { mtimeMs, manifest: JSON.parse(fs.readFileSync(file, 'utf8')) as M };
      return manifestCache.manifest;
    } catch {
      return null;
    }
  }

  /** The development token is only offered to a browser on the same machine. */
  async function tokenFor(req: http.IncomingMessage): Promise<string> {
    if (!options.devSecret || !isLoopback(req)) return '';
    devToken ??= signToken({ secret: options.devSecret, account: 'demo', roles: ['admin'], subject: 'dev-admin', ttl: '30d' });
    return devToken;
  }

  function send(res: http.ServerResponse, status: number, type: string, body: string | Buffer, headers: Record<string, string> = {}, head = false) {
    res.writeHead(status, { 'content-type': type, 'content-length': String(Buffer.byteLength(body)), 'x-content-type-options': 'nosniff', ...headers });
    res.end(head ? undefined : body);
  }

  async function serveAsset(req: http.IncomingMessage, res: http.ServerResponse, url: URL, head: boolean) {
    let relative: string;
    try {
      relative = decodeURIComponent(url.pathname.slice(prefix.length));
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
      return url.pathname.startsWith(prefix) || options.isPage(req, url);
    },
    async serve(req, res, url) {
      const head = req.method === 'HEAD';
      if (url.pathname.startsWith(prefix)) return serveAsset(req, res, url, head);
      const built = manifest();
      const common = { 'cache-control': 'no-store', 'content-security-policy': options.csp, 'referrer-policy': 'no-referrer', 'x-frame-options': 'DENY' };
      if (!built) return send(res, 503, 'text/html; charset=utf-8', options.notBuilt, common, head);
      send(res, 200, 'text/html; charset=utf-8', options.html(built, await tokenFor(req)), common, head);
    },
  };
}

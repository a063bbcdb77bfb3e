/** The IDE's HTTP side: which requests get the page, how the bundle's files are served. */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { decodeJwt } from 'jose';
import { createIde, IDE_DIR } from '../../src/ide';
import { startTestServer, type TestServer } from '../helpers/server';
import { ensureBuilt, rawRequest, serveWith } from '../helpers/bundles';

interface Manifest { script: string; style: string; workers: Record<'editor' | 'json' | 'graphql', string> }

jest.setTimeout(120_000);

let server: TestServer;
let manifest: Manifest;

beforeAll(async () => {
  await ensureBuilt('ide');
  manifest = JSON.parse(fs.readFileSync(path.join(IDE_DIR, 'manifest.json'), 'utf8')) as Manifest;
  server = await startTestServer();
});
afterAll(async () => { await server?.stop(); });

const html = (url: string, init: RequestInit = {}) =>
  fetch(url, { ...init, headers: { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8', ...init.headers } });

/** The JSON the page hands to the IDE script. */
function pageConfig(text: string): { endpoint: string; headers: string; workers: Record<string, string> } {
  const match = /<script type="application\/json" id="qckeys-ide-config">(.*?)<\/script>/s.exec(text);
  if (!match) throw new Error('no IDE config in the page');
  return JSON.parse(match[1]) as never;
}

describe('the page', () => {
  test.each(['/graphql', '/'])('GET %s from a browser is the IDE, served from the service itself', async (route) => {
    const res = await html(`${server.baseUrl}${route}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    const text = await res.text();
    expect(text).toContain(`<script type="module" src="/ide/${manifest.script}"></script>`);
    expect(text).toContain(`<link rel="stylesheet" href="/ide/${manifest.style}">`);
    // every URL in the page is local (no CDN)
    expect(text).not.toMatch(/(src|href)="(https?:)?\/\//);
    const config = pageConfig(text);
    expect(config.endpoint).toBe('/graphql');
    expect(config.workers).toEqual({
      editor: `/ide/${manifest.workers.editor}`, json: `/ide/${manifest.workers.json}`, graphql: `/ide/${manifest.workers.graphql}`,
    });
    // a configured signing secret: a template to complete, no token
    expect(JSON.parse(config.headers)).toEqual({ Authorization: 'Bearer ' });
  });

  test('HEAD answers like GET without a body', async () => {
    const res = await html(`${server.baseUrl}/graphql`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(await res.text()).toBe('');
  });

  test('API clients still reach GraphQL at /graphql', async () => {
    const get = await fetch(`${server.baseUrl}/graphql?query=${encodeURIComponent('{ viewer { accountId } }')}`, {
      headers: { accept: 'application/graphql-response+json, application/json' },
    });
    expect(get.status).toBe(401);
    expect(get.headers.get('content-type')).toMatch(/json/);
    const token = await server.token({ account: 'acme', roles: ['viewer'] });
    expect(await server.ok(token, '{ viewer { accountId } }')).toEqual({ viewer: { accountId: 'acme' } });
    const viaGet = await fetch(`${server.baseUrl}/graphql?query=${encodeURIComponent('{ viewer { accountId } }')}`, {
      headers: { accept: 'application/json', authorization: `Bearer ${token}`, 'apollo-require-preflight': 'true' },
    });
    expect(viaGet.status).toBe(200);
    expect(await viaGet.json()).toEqual({ data: { viewer: { accountId: 'acme' } } });
  });
});

describe('the bundle files', () => {
  test('every entry file is served with its content type, cached for good', async () => {
    const files: [string, RegExp][] = [
      [manifest.script, /^text\/javascript/], [manifest.style, /^text\/css/],
      [manifest.workers.editor, /^text\/javascript/], [manifest.workers.json, /^text\/javascript/], [manifest.workers.graphql, /^text\/javascript/],
    ];
    for (const [file, type] of files) {
      const res = await fetch(`${server.baseUrl}/ide/${file}`, { headers: { 'accept-encoding': 'identity' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(type);
      expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(res.headers.get('content-encoding')).toBeNull();
      expect(Buffer.from(await res.arrayBuffer()).equals(fs.readFileSync(path.join(IDE_DIR, file)))).toBe(true);
    }
  });

  test('gzip when the client accepts it', async () => {
    const res = await fetch(`${server.baseUrl}/ide/${manifest.script}`, { headers: { 'accept-encoding': 'gzip' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-encoding')).toBe('gzip');
    expect(res.headers.get('vary')).toBe('accept-encoding');
    // fetch decompresses: the same script
    expect(await res.text()).toBe(fs.readFileSync(path.join(IDE_DIR, manifest.script), 'utf8'));
  });

  test('the bundle needs no font, stylesheet or script from elsewhere', () => {
    const css = fs.readFileSync(path.join(IDE_DIR, manifest.style), 'utf8');
    expect(css).not.toMatch(/@import\s+(url\()?["']?https?:/);
    expect(css).not.toMatch(/url\(["']?(https?:)?\/\//);
    const js = fs.readFileSync(path.join(IDE_DIR, manifest.script), 'utf8');
    expect(js).not.toContain('esm.sh');
    expect(js).not.toContain('cdn.jsdelivr');
    expect(js).not.toContain('unpkg.com');
  });

  test.each([
    '/ide/../package.json', '/ide/..%2f..%2fpackage.json', '/ide/%2e%2e/%2e%2e/package.json', '/ide/manifest.json',
    '/ide/missing-file.js', '/ide/%00.js', '/ide/.hidden.js', '/ide/', '/ide/chunks',
  ])('%s is not served', async (route) => {
    const res = await rawRequest(server.baseUrl, route);
    expect([400, 404]).toContain(res.status);
    expect(res.body).not.toContain('"name": "qckeys"');
  });
});

describe('createIde', () => {

  test('with the development secret, a browser on the same machine gets the dev token pre-filled', async () => {
    await serveWith(createIde({ devSecret: 'dev-secret-that-is-long-enough-for-hs256-0123456789' }), async (base) => {
      const config = pageConfig(await (await html(`${base}/graphql`)).text());
      const authorization = (JSON.parse(config.headers) as { Authorization: string }).Authorization;
      expect(authorization).toMatch(/^Bearer ey/);
      expect(decodeJwt(authorization.slice('Bearer '.length))).toMatchObject({ account: 'demo', roles: ['admin'], sub: 'dev-admin' });
    });
  });

  test('a browser on another machine gets only the template', async () => {
    const ide = createIde({ devSecret: 'dev-secret-that-is-long-enough-for-hs256-0123456789' });
    const req = { method: 'GET', url: '/graphql', headers: { accept: 'text/html' }, socket: { remoteAddress: '192.0.2.10' } } as unknown as http.IncomingMessage;
    let body = '';
    let status = 0;
    const res = {
      writeHead(code: number) { status = code; return res; },
      end(chunk?: string) { body = chunk ?? ''; },
    } as unknown as http.ServerResponse;
    const url = new URL('http://localhost/graphql');
    expect(ide.handles(req, url)).toBe(true);
    await ide.serve(req, res, url);
    expect(status).toBe(200);
    expect(JSON.parse(pageConfig(body).headers)).toEqual({ Authorization: 'Bearer ' });
  });

  test('without a bundle the page says how to build it', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'qckeys-ide-'));
    try {
      await serveWith(createIde({ dir: empty }), async (base) => {
        const res = await html(`${base}/`);
        expect(res.status).toBe(503);
        expect(await res.text()).toContain('npm run build');
      });
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });

  test('only GET and HEAD, and /graphql only when the client asks for HTML', () => {
    const ide = createIde();
    const req = (method: string, accept?: string) => ({ method, headers: accept ? { accept } : {} }) as http.IncomingMessage;
    const at = (p: string) => new URL(`http://localhost${p}`);
    expect(ide.handles(req('GET', 'text/html'), at('/graphql'))).toBe(true);
    expect(ide.handles(req('GET', 'application/json'), at('/graphql'))).toBe(false);
    expect(ide.handles(req('GET', '*/*'), at('/graphql'))).toBe(false);
    expect(ide.handles(req('GET'), at('/graphql'))).toBe(false);
    expect(ide.handles(req('POST', 'text/html'), at('/graphql'))).toBe(false);
    expect(ide.handles(req('GET'), at('/'))).toBe(true);
    expect(ide.handles(req('GET'), at('/ide/x.js'))).toBe(true);
    expect(ide.handles(req('GET'), at('/healthz'))).toBe(false);
    expect(ide.handles(req('GET'), at('/ide'))).toBe(false);
  });
});

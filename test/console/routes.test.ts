/** The console's HTTP side: the page at /console, its bundle's files, and the development token. */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { decodeJwt } from 'jose';
import { CONSOLE_DIR, createConsole, type ConsoleConfig, type ConsoleManifest } from '../../src/console';
import { ensureBuilt, rawRequest, serveWith } from '../helpers/bundles';
import { startTestServer, type TestServer } from '../helpers/server';

jest.setTimeout(120_000);

let server: TestServer;
let manifest: ConsoleManifest;

beforeAll(async () => {
  await ensureBuilt('console');
  manifest = JSON.parse(fs.readFileSync(path.join(CONSOLE_DIR, 'manifest.json'), 'utf8')) as ConsoleManifest;
  server = await startTestServer();
});
afterAll(async () => { await server?.stop(); });

function pageConfig(text: string): ConsoleConfig {
  const match = /<script type="application\/json" id="qckeys-console-config">(.*?)<\/script>/s.exec(text);
  if (!match) throw new Error('no console config in the page');
  return JSON.parse(match[1]) as ConsoleConfig;
}

test.each(['/console', '/console/'])('GET %s is the console page: its files from the service, a strict policy, no token', async (route) => {
  const res = await fetch(`${server.baseUrl}${route}`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.headers.get('x-frame-options')).toBe('DENY');
  const csp = res.headers.get('content-security-policy') ?? '';
  for (const directive of ["default-src 'self'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) expect(csp).toContain(directive);
  expect(csp).not.toContain('unsafe');
  const text = await res.text();
  expect(text).toContain(`<script type="module" src="/console/assets/${manifest.script}"></script>`);
  expect(text).toContain(`<link rel="stylesheet" href="/console/assets/${manifest.style}">`);
  expect(text).not.toMatch(/(src|href)="(https?:)?\/\//);
  // a configured signing secret: no development token to hand out
  expect(pageConfig(text)).toEqual({ endpoint: '/graphql', devToken: '' });
});

test('the script and style are served gzipped when accepted, cached for good', async () => {
  for (const [file, type] of [[manifest.script, /^text\/javascript/], [manifest.style, /^text\/css/]] as const) {
    const res = await fetch(`${server.baseUrl}/console/assets/${file}`, { headers: { 'accept-encoding': 'gzip' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(type);
    expect(res.headers.get('content-encoding')).toBe('gzip');
    expect(res.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(await res.text()).toBe(fs.readFileSync(path.join(CONSOLE_DIR, file), 'utf8'));
  }
});

test.each([
  '/console/assets/../../package.json', '/console/assets/..%2f..%2fpackage.json', '/console/assets/manifest.json',
  '/console/assets/missing.js', '/console/assets/%00.js', '/console/assets/.hidden.js', '/console/x',
])('%s is not served', async (route) => {
  const res = await rawRequest(server.baseUrl, route);
  expect([400, 404]).toContain(res.status);
  expect(res.body).not.toContain('"name": "qckeys"');
});

test('only GET and HEAD reach the page', async () => {
  expect((await rawRequest(server.baseUrl, '/console', 'HEAD')).status).toBe(200);
  expect((await rawRequest(server.baseUrl, '/console', 'POST')).status).toBe(404);
});

describe('createConsole', () => {

  test('with the development secret, a browser on the same machine gets the dev token filled in; another machine does not', async () => {
    const page = createConsole({ devSecret: 'dev-secret-that-is-long-enough-for-hs256-0123456789' });
    await serveWith(page, async (base) => {
      const { devToken } = pageConfig(await (await fetch(`${base}/console`)).text());
      expect(decodeJwt(devToken)).toMatchObject({ account: 'demo', roles: ['admin'], sub: 'dev-admin' });
    });
    let body = '';
    const req = { method: 'GET', url: '/console', headers: {}, socket: { remoteAddress: '192.0.2.10' } } as unknown as http.IncomingMessage;
    const res = { writeHead() { return res; }, end(chunk?: string) { body = chunk ?? ''; } } as unknown as http.ServerResponse;
    await page.serve(req, res, new URL('http://localhost/console'));
    expect(pageConfig(body).devToken).toBe('');
  });

  test('without a bundle the page says how to build it', async () => {
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'qckeys-console-'));
    try {
      await serveWith(createConsole({ dir: empty }), async (base) => {
        const res = await fetch(`${base}/console`);
        expect(res.status).toBe(503);
        expect(await res.text()).toContain('npm run build');
      });
    } finally {
      fs.rmSync(empty, { recursive: true, force: true });
    }
  });
});

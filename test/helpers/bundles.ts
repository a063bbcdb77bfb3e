import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildConsole, CONSOLE_OUT_DIR } from '../../scripts/build-console';
import { buildIde, IDE_OUT_DIR, ROOT } from '../../scripts/build-ide';
import type { BundlePage } from '../../src/bundle-page';

/** The bundled pages: where each is built, from what, and how. */
const BUNDLES = {
  ide: { outDir: IDE_OUT_DIR, inputs: ['ide', 'scripts/build-ide.ts', 'package-lock.json'], build: buildIde },
  console: {
    outDir: CONSOLE_OUT_DIR,
    inputs: ['console', 'client/index.ts', 'client/generated', 'scripts/build-console.ts', 'scripts/build-ide.ts', 'package-lock.json'],
    build: buildConsole,
  },
} as const;

function newestMtime(file: string): number {
  const stat = fs.statSync(file);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...fs.readdirSync(file).map((name) => newestMtime(path.join(file, name))));
}

function isCurrent(bundle: (typeof BUNDLES)[keyof typeof BUNDLES]): boolean {
  const manifest = path.join(bundle.outDir, 'manifest.json');
  return fs.existsSync(manifest) && fs.statSync(manifest).mtimeMs >= Math.max(...bundle.inputs.map((input) => newestMtime(path.join(ROOT, input))));
}

/**
 * Makes sure `dist/<name>` holds a bundle of the current sources: builds it when it is missing or
 * older than its sources, its build script or the installed packages. Test files running at the
 * same time build it once (a lock directory next to it).
 */
export async function ensureBuilt(name: keyof typeof BUNDLES): Promise<void> {
  const bundle = BUNDLES[name];
  const lock = `${bundle.outDir}.lock`;
  fs.mkdirSync(path.dirname(bundle.outDir), { recursive: true });
  for (;;) {
    if (isCurrent(bundle)) return;
    try {
      fs.mkdirSync(lock);
    } catch {
      // another process is building; a lock older than two minutes is left over from a crash
      const age = Date.now() - (fs.statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 120_000) fs.rmSync(lock, { recursive: true, force: true });
      await sleep(250);
      continue;
    }
    try {
      if (!isCurrent(bundle)) await bundle.build();
      return;
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
}

/** Serves `page` alone on a port of its own (418 for anything else) while `run` runs with its base URL. */
export async function serveWith(page: BundlePage, run: (base: string) => Promise<void>): Promise<void> {
  const httpServer = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (page.handles(req, url)) void page.serve(req, res, url);
    else { res.writeHead(418); res.end(); }
  });
  await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
  try {
    await run(`http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`);
  } finally {
    await new Promise((resolve) => httpServer.close(resolve));
  }
}

/** A GET (or `method`) of `route` as written, not normalised by a URL parser: its status and body. */
export function rawRequest(base: string, route: string, method = 'GET'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${base}/`, { path: route, method }, (r) => {
      let body = '';
      r.on('data', (chunk: Buffer) => { body += chunk.toString(); });
      r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Bundles the admin console (`console/`: React and the @qckeys/client package) into
 * `dist/console/` with esbuild, served by the service at /console. File names carry a content
 * hash; `dist/console/manifest.json` names the entry files for `src/console.ts`.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';
import type { ConsoleManifest } from '../src/console';
import { swapInDirectory } from '../src/lib/directories';
import { common, outputOf, precompress, ROOT } from './build-ide';

export const CONSOLE_OUT_DIR = path.join(ROOT, 'dist', 'console');

/** Builds the console into `outDir` (default `dist/console`), replacing what was there. */
export async function buildConsole(outDir = CONSOLE_OUT_DIR): Promise<ConsoleManifest> {
  const staging = `${outDir}.tmp-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  const entry = path.join(ROOT, 'console', 'index.tsx');
  const result = await esbuild.build({
    ...common,
    entryPoints: [entry],
    outdir: staging,
    format: 'esm',
    entryNames: '[name]-[hash]',
    jsx: 'automatic',
    // the package as a frontend team installs it; here from its sources
    alias: { '@qckeys/client': path.join(ROOT, 'client', 'index.ts') },
  });
  const manifest: ConsoleManifest = {
    script: outputOf(result.metafile!, staging, entry),
    style: outputOf(result.metafile!, staging, entry, 'css'),
  };
  fs.writeFileSync(path.join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  precompress(staging);
  // a running server never sees a half-written bundle
  swapInDirectory(staging, outDir);
  return manifest;
}

if (require.main === module) {
  const started = Date.now();
  buildConsole().then(
    (manifest) => console.log(`console built into ${path.relative(process.cwd(), CONSOLE_OUT_DIR) || '.'} in ${Date.now() - started} ms (${manifest.script})`),
    (err: unknown) => {
      console.error('build-console:', err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}

/**
 * Bundles the admin console (`console/`: React and the @qckeys/client package) into
 * `dist/console/` with esbuild, served by the service at /console. File names carry a content
 * hash; `dist/console/manifest.json` names the entry files for `src/console.ts`.
 */
import fs from 'node:fs';
import path from 'node:path';
import * as esbuild from 'esbuild';
import type { ConsoleManifest } from '../src/console';
import { buildFromCommandLine, common, outputOf, publishBundle, ROOT } from './build-ide';

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
  return publishBundle(staging, outDir, manifest);
}

if (require.main === module) buildFromCommandLine('console', CONSOLE_OUT_DIR, () => buildConsole());

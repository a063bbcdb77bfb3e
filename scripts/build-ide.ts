/**
 * Bundles the GraphQL IDE (`ide/`: GraphiQL, React, Monaco and its workers) into `dist/ide/` with
 * esbuild, so the service serves every asset itself (no CDN). File names carry a content hash;
 * `dist/ide/manifest.json` names the entry files for `src/ide.ts`.
 *
 *   npm run build:ide
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import * as esbuild from 'esbuild';
import { swapInDirectory } from '../src/lib/directories';

export const ROOT = path.resolve(__dirname, __filename.endsWith('.ts') ? '..' : '../..');
export const IDE_OUT_DIR = path.join(ROOT, 'dist', 'ide');

export interface IdeManifest {
  script: string;
  style: string;
  workers: { editor: string; json: string; graphql: string };
}

const WORKERS = {
  editor: 'monaco-editor/esm/vs/editor/editor.worker.js',
  json: 'monaco-editor/esm/vs/language/json/json.worker.js',
  graphql: 'monaco-graphql/esm/graphql.worker.js',
} as const;

/** The options every bundle of the service's pages shares (the IDE's, the console's). */
export const common: esbuild.BuildOptions = {
  absWorkingDir: ROOT,
  bundle: true,
  minify: true,
  sourcemap: false,
  target: ['es2022'],
  platform: 'browser',
  legalComments: 'linked',
  logLevel: 'warning',
  metafile: true,
  define: { 'process.env.NODE_ENV': '"production"' },
  loader: { '.ttf': 'file', '.woff': 'file', '.woff2': 'file', '.svg': 'file', '.png': 'file' },
  assetNames: 'assets/[name]-[hash]',
};

/** The output file (relative to outDir) built from the given entry point. */
export function outputOf(meta: esbuild.Metafile, outDir: string, entry: string, kind: 'js' | 'css' = 'js'): string {
  for (const [file, output] of Object.entries(meta.outputs)) {
    if (output.entryPoint && path.resolve(ROOT, output.entryPoint) === entry && file.endsWith('.js')) {
      const wanted = kind === 'js' ? file : output.cssBundle;
      if (wanted) return path.relative(outDir, path.resolve(ROOT, wanted)).split(path.sep).join('/');
    }
  }
  throw new Error(`esbuild produced no ${kind} output for ${entry}`);
}

/** Writes `<file>.gz` next to every text asset, served to clients that accept gzip. */
function precompress(dir: string): void {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !/\.(js|css|json|ttf|txt)$/.test(entry.name)) continue;
    const file = path.join(entry.parentPath, entry.name);
    fs.writeFileSync(`${file}.gz`, zlib.gzipSync(fs.readFileSync(file), { level: 9 }));
  }
}

/** Builds the IDE into `outDir` (default `dist/ide`), replacing what was there. */
export async function buildIde(outDir = IDE_OUT_DIR): Promise<IdeManifest> {
  const staging = `${outDir}.tmp-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  const entry = path.join(ROOT, 'ide', 'index.tsx');
  const app = await esbuild.build({
    ...common,
    entryPoints: [entry],
    outdir: staging,
    format: 'esm',
    splitting: true,
    entryNames: '[name]-[hash]',
    chunkNames: 'chunks/[name]-[hash]',
    jsx: 'automatic',
    // GraphiQL imports prettier's parsers by their legacy UMD paths, which come out of the bundle
    // without a `parsers` export (prettify then fails); prettier's ES module builds export them.
    alias: { 'prettier/parser-babel': 'prettier/plugins/babel', 'prettier/parser-graphql': 'prettier/plugins/graphql' },
  });
  const workerEntries = Object.fromEntries(Object.entries(WORKERS).map(([name, spec]) => [name, require.resolve(spec, { paths: [ROOT] })]));
  const workers = await esbuild.build({
    ...common,
    entryPoints: Object.values(workerEntries),
    outdir: staging,
    // classic workers: `new Worker(url)` without `type: 'module'`
    format: 'iife',
    entryNames: 'workers/[name]-[hash]',
  });
  const manifest: IdeManifest = {
    script: outputOf(app.metafile!, staging, entry),
    style: outputOf(app.metafile!, staging, entry, 'css'),
    workers: {
      editor: outputOf(workers.metafile!, staging, workerEntries.editor),
      json: outputOf(workers.metafile!, staging, workerEntries.json),
      graphql: outputOf(workers.metafile!, staging, workerEntries.graphql),
    },
  };
  return publishBundle(staging, outDir, manifest);
}

/** Writes the manifest, gzips the text files and puts the staging directory in the bundle's place. */
export function publishBundle<M>(staging: string, outDir: string, manifest: M): M {
  fs.writeFileSync(path.join(staging, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  precompress(staging);
  // a running server never sees a half-written bundle
  swapInDirectory(staging, outDir);
  return manifest;
}

/** A build script's command line: builds, says where and how long it took, exits 1 on failure. */
export function buildFromCommandLine(what: string, outDir: string, build: () => Promise<{ script: string }>): void {
  const started = Date.now();
  build().then(
    (manifest) => console.log(`${what} built into ${path.relative(process.cwd(), outDir) || '.'} in ${Date.now() - started} ms (${manifest.script})`),
    (err: unknown) => {
      console.error(`${what}: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  );
}

if (require.main === module) buildFromCommandLine('GraphQL IDE', IDE_OUT_DIR, () => buildIde());

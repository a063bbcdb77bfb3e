// Builds the package into dist/ (emptied first, so nothing stale gets packed): ES modules in
// dist/esm and CommonJS in dist/cjs, each with its type declarations and a package.json naming
// its module type, and the API's schema (dist/schema.graphql) for consumers' own codegen.
// Run from the repository (`npm run build:client`), whose TypeScript it uses.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const dir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(dir, 'dist');
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');

fs.rmSync(dist, { recursive: true, force: true });
for (const [config, out, type] of [['tsconfig.json', 'esm', 'module'], ['tsconfig.cjs.json', 'cjs', 'commonjs']]) {
  execFileSync(process.execPath, [tsc, '-p', path.join(dir, config)], { stdio: 'inherit' });
  fs.writeFileSync(path.join(dist, out, 'package.json'), `${JSON.stringify({ type })}\n`);
}
fs.copyFileSync(path.join(dir, '..', 'schema.graphql'), path.join(dist, 'schema.graphql'));

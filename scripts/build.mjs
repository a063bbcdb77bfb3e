/**
 * Builds `dist/`: compiles the TypeScript (server, CLI, scripts), builds the client package
 * (client/dist), bundles the GraphQL IDE and the admin console and makes the embedded database's template, saying what it
 * does and how long each step took.
 *
 *   node scripts/build.mjs              every step (npm run build)
 *   node scripts/build.mjs --if-stale   only the steps whose sources changed since they last ran (npm start)
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { DIST, ROOT, STEPS, inputDigest, staleReason, writeStamp } from './build-plan.mjs';

const require = createRequire(import.meta.url);

function tsc(project) {
  const bin = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
  const result = spawnSync(process.execPath, [bin, '-p', project], { cwd: ROOT, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (result.status !== 0) {
    const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim() || String(result.error ?? `exit code ${result.status}`);
    throw new Error(`tsc -p ${project} failed:\n${output}`);
  }
}

/** What each step does; the returned text, if any, follows its duration. */
const RUN = {
  typescript() {
    // tsc leaves the output of a source that was removed or renamed; a stale compiled migration
    // would be applied with the others (every file of dist/migrations is one)
    fs.rmSync(path.join(DIST, 'migrations'), { recursive: true, force: true });
    tsc('tsconfig.build.json');
  },
  client() {
    // the @qckeys/client package's own build (ES module and CommonJS, with declarations) into client/dist
    const result = spawnSync(process.execPath, [path.join(ROOT, 'client', 'scripts', 'build.mjs')], { cwd: ROOT, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`the client package's build failed:\n${result.stdout ?? ''}${result.stderr ?? ''}`);
  },
  async ide() {
    const { buildIde } = require(path.join(DIST, 'scripts', 'build-ide.js'));
    await buildIde();
  },
  async console() {
    const { buildConsole } = require(path.join(DIST, 'scripts', 'build-console.js'));
    await buildConsole();
  },
  async template() {
    const { BUILT_TEMPLATE_DIR, ensureTemplate } = require(path.join(DIST, 'src', 'db', 'template.js'));
    return (await ensureTemplate(BUILT_TEMPLATE_DIR)) ? null : 'already current';
  },
};

const seconds = (since) => `${((performance.now() - since) / 1000).toFixed(1)} s`;

async function main() {
  const ifStale = process.argv.includes('--if-stale');
  const started = performance.now();
  let ran = 0;
  for (const step of STEPS) {
    // the digest is taken before the step runs: a source edited meanwhile makes the next start build again
    const digest = inputDigest(step);
    const reason = staleReason(step, digest);
    if (ifStale && reason === null) continue;
    process.stdout.write(`build: ${step.label}${ifStale ? ` (${reason})` : ''}… `);
    const stepStarted = performance.now();
    let note;
    try {
      note = await RUN[step.name]();
    } catch (err) {
      process.stdout.write('failed\n');
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    }
    writeStamp(step, digest);
    process.stdout.write(`${seconds(stepStarted)}${note ? `, ${note}` : ''}\n`);
    ran++;
  }
  if (ran > 0) console.log(`build: done in ${seconds(started)}`);
  else console.log('build: dist/ is up to date');
}

await main();

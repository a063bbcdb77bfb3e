/**
 * The build's steps, what each one reads and writes, and whether `dist/` is current.
 *
 * A step that finishes writes a stamp, `dist/.build/<step>.json`, holding a digest of the files it
 * read. A step is stale when its stamp is missing, when the digest of its inputs differs from the
 * stamp's (a source was edited, added or removed, or `npm install` changed package-lock.json), or
 * when one of its outputs is missing. Digests are of contents, not times, so a checkout or a copy
 * that keeps the files as they were does not rebuild, and an edit always does.
 *
 * The schema's SDL (`schema/`) is no input: the server reads it at start-up, so a change to it
 * needs no build.
 *
 * Plain JavaScript, so that `npm start` can ask before anything is built.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const DIST = path.join(ROOT, 'dist');
const STAMPS = path.join(DIST, '.build');

const TS = /\.(ts|tsx|json)$/;

/**
 * @typedef {{ dir: string, match?: RegExp } | { file: string }} Input
 * @typedef {{ name: string, label: string, inputs: Input[], complete: () => boolean }} Step
 */

/** The files named in the IDE's manifest are all there. */
function ideComplete() {
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(DIST, 'ide', 'manifest.json'), 'utf8'));
    const files = [manifest.script, manifest.style, ...Object.values(manifest.workers ?? {})];
    return files.length === 5 && files.every((file) => typeof file === 'string' && fs.existsSync(path.join(DIST, 'ide', file)));
  } catch {
    return false;
  }
}

/** The files named in the console's manifest are there. */
function consoleComplete() {
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(DIST, 'console', 'manifest.json'), 'utf8'));
    return [manifest.script, manifest.style].every((file) => typeof file === 'string' && fs.existsSync(path.join(DIST, 'console', file)));
  } catch {
    return false;
  }
}

const exist = (...files) => () => files.every((file) => fs.existsSync(path.join(DIST, file)));

/** @type {Step[]} in the order they run: the later ones run code the first one compiles. */
export const STEPS = [
  {
    name: 'typescript',
    label: 'compiling TypeScript',
    inputs: [
      ...['src', 'migrations', 'scripts', 'cli', 'client'].map((dir) => ({ dir, match: TS })),
      ...['knexfile.ts', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json'].map((file) => ({ file })),
    ],
    complete: exist(
      'src/server.js', 'src/db/template.js', 'knexfile.js', 'scripts/build-ide.js', 'scripts/build-console.js', 'cli/index.js', 'client/index.js',
    ),
  },
  {
    name: 'client',
    label: 'building the client package',
    inputs: [{ dir: 'client', match: TS }, { file: 'client/package.json' }, { file: 'schema.graphql' }, { file: 'package-lock.json' }],
    complete: () => ['esm/index.js', 'cjs/index.js', 'cjs/index.d.ts', 'schema.graphql'].every((file) => fs.existsSync(path.join(ROOT, 'client', 'dist', file))),
  },
  {
    name: 'ide',
    label: 'bundling the GraphQL IDE',
    inputs: [{ dir: 'ide' }, { file: 'scripts/build-ide.ts' }, { file: 'package-lock.json' }],
    complete: ideComplete,
  },
  {
    name: 'console',
    label: 'bundling the admin console',
    inputs: [{ dir: 'console' }, { dir: 'client', match: TS }, { file: 'scripts/build-console.ts' }, { file: 'scripts/build-ide.ts' }, { file: 'package-lock.json' }],
    complete: consoleComplete,
  },
  {
    name: 'template',
    label: 'embedded database template',
    // what src/db/template.ts keys a template by: the PGlite release and the migrations
    inputs: [{ dir: 'migrations', match: TS }, { file: 'package-lock.json' }],
    complete: exist('pglite-template/key', 'pglite-template/initdb/PG_VERSION', 'pglite-template/migrated/PG_VERSION'),
  },
];

/** The files under `dir` (relative to the root), sorted, without node_modules and built output (dist). */
function filesUnder(dir, match) {
  let entries;
  try {
    entries = fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true });
  } catch (err) {
    if (err.code === 'ENOENT') return [];
    throw err;
  }
  const files = [];
  for (const entry of entries) {
    const rel = `${dir}/${entry.name}`;
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules' && entry.name !== 'dist') files.push(...filesUnder(rel, match));
    } else if (entry.isFile() && (!match || match.test(entry.name))) {
      files.push(rel);
    }
  }
  return files.sort();
}

/** A digest of the names and contents of the step's input files. */
export function inputDigest(step) {
  const hash = createHash('sha256');
  for (const input of step.inputs) {
    const files = 'dir' in input ? filesUnder(input.dir, input.match) : [input.file];
    for (const file of files) {
      hash.update(file).update('\0');
      try {
        hash.update(fs.readFileSync(path.join(ROOT, file)));
      } catch (err) {
        if (err.code !== 'ENOENT') throw err;
        hash.update('(missing)');
      }
      hash.update('\0');
    }
  }
  return hash.digest('hex');
}

function stampFile(step) {
  return path.join(STAMPS, `${step.name}.json`);
}

/** Why the step must run, or null when its outputs are there and were made from its inputs as they are. */
export function staleReason(step, digest = inputDigest(step)) {
  let stamp;
  try {
    stamp = JSON.parse(fs.readFileSync(stampFile(step), 'utf8'));
  } catch {
    return 'not built yet';
  }
  if (!step.complete()) return 'output missing';
  if (stamp.inputs !== digest) return 'sources changed';
  return null;
}

/** Records that the step's outputs were made from inputs whose digest is `digest`. */
export function writeStamp(step, digest) {
  fs.mkdirSync(STAMPS, { recursive: true });
  fs.writeFileSync(stampFile(step), `${JSON.stringify({ inputs: digest, builtAt: new Date().toISOString() })}\n`);
}

/** The steps that must run, each with the reason. */
export function staleSteps() {
  return STEPS.map((step) => ({ step, reason: staleReason(step) })).filter(({ reason }) => reason !== null);
}

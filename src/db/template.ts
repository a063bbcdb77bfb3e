/**
 * A template of the embedded database, so that a new one starts from a copy instead of running
 * PGlite's initdb (about 5 s). A template is a directory holding
 *
 * - `initdb/`: the cluster as initdb leaves it (in-memory databases start from it);
 * - `migrated/`: the same with every migration applied (new data directories start from it, so
 *   the first start has nothing left to migrate);
 * - `key`: the PGlite release and the migration files it was made from. A template whose key does
 *   not match the installed PGlite and the migrations this code runs is ignored.
 *
 * Both clusters are shut down cleanly. `npm run build` makes one in `dist/` for the built service;
 * the sources (tests, `npm run dev`) run the `.ts` migrations, so they use one in
 * `node_modules/.cache/`, which the test suite makes when it finds none.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { MemoryFS, PGlite } from '@electric-sql/pglite';
import { swapInDirectory } from '../lib/directories';
import { migrate, migrationFiles } from './migrations';
import { openPglite, pgliteKnex } from './pglite';

const ROOT = path.resolve(__dirname, __filename.endsWith('.ts') ? '../..' : '../../..');
export const BUILT_TEMPLATE_DIR = path.join(ROOT, 'dist', 'pglite-template');
export const CACHED_TEMPLATE_DIR = path.join(ROOT, 'node_modules', '.cache', 'qckeys', 'pglite-template');

/** What a usable template was made from: the installed PGlite release and the migration files. */
export function templateKey(): string {
  const pkg = path.resolve(path.dirname(require.resolve('@electric-sql/pglite')), '..', 'package.json');
  const { version } = JSON.parse(fs.readFileSync(pkg, 'utf8')) as { version: string };
  const migrations = createHash('sha256');
  for (const file of migrationFiles()) migrations.update(`${path.basename(file)}\0`).update(fs.readFileSync(file)).update('\0');
  return `@electric-sql/pglite ${version}\nmigrations ${migrations.digest('hex')}\n`;
}

/** `dir` when it holds a template made from what `templateKey` names, else null. */
export function usableTemplate(dir: string): string | null {
  try {
    const complete = ['initdb', 'migrated'].every((cluster) => fs.existsSync(path.join(dir, cluster, 'PG_VERSION')));
    return complete && fs.readFileSync(path.join(dir, 'key'), 'utf8') === templateKey() ? dir : null;
  } catch {
    return null;
  }
}

/** The built template, else the cached one; null when neither is usable. */
export function findTemplate(): string | null {
  return usableTemplate(BUILT_TEMPLATE_DIR) ?? usableTemplate(CACHED_TEMPLATE_DIR);
}

/** `template` absent: the one `findTemplate` finds; null: none; a directory: itself, when usable. */
function resolveTemplate(template: string | null | undefined): string | null {
  if (template === undefined) return findTemplate();
  return template === null ? null : usableTemplate(template);
}

/** Makes a template in `dir` unless a usable one is there; true when it made one. */
export async function ensureTemplate(dir: string): Promise<boolean> {
  if (usableTemplate(dir)) return false;
  const staging = `${dir}.tmp-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  try {
    const key = templateKey();
    const pglite = await PGlite.create(path.join(staging, 'initdb'));
    await pglite.close();
    fs.cpSync(path.join(staging, 'initdb'), path.join(staging, 'migrated'), { recursive: true });
    const migrated = openPglite({ dataDir: path.join(staging, 'migrated') });
    const knex = pgliteKnex(migrated);
    try {
      await migrate(knex);
    } finally {
      // knex-pglite closes the database it was given when knex is destroyed
      await knex.destroy();
      if (!migrated.closed) await migrated.close();
    }
    fs.writeFileSync(path.join(staging, 'key'), key);
    swapInDirectory(staging, dir);
  } finally {
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return true;
}

function missingOrEmpty(dir: string): boolean {
  try {
    return fs.readdirSync(dir).length === 0;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT';
  }
}

/**
 * Makes a missing or empty data directory a copy of the template's migrated cluster; true when it
 * did. The copy is made next to `dataDir` and renamed into place, so a directory holding anything
 * is never written to, and a failed copy leaves it as it was (PGlite then runs initdb in it).
 */
export function seedDataDir(dataDir: string, template?: string | null): boolean {
  if (!missingOrEmpty(dataDir)) return false;
  const dir = resolveTemplate(template);
  if (!dir) return false;
  const staging = `${dataDir}.template-${process.pid}`;
  try {
    fs.rmSync(staging, { recursive: true, force: true });
    fs.cpSync(path.join(dir, 'migrated'), staging, { recursive: true });
    if (fs.existsSync(dataDir)) fs.rmdirSync(dataDir); // only an empty directory goes
    fs.renameSync(staging, dataDir);
    return true;
  } catch {
    fs.rmSync(staging, { recursive: true, force: true });
    return false;
  }
}

/** An in-memory file system whose cluster starts as a copy of `cluster`. */
class ClusterCopyFS extends MemoryFS {
  constructor(private readonly cluster: string) {
    super();
  }

  override async initialSyncFs(): Promise<void> {
    let entries: { name: string; data: Buffer | null }[];
    try {
      entries = fs.readdirSync(this.cluster, { recursive: true, withFileTypes: true }).map((entry) => {
        const file = path.join(entry.parentPath, entry.name);
        return { name: path.relative(this.cluster, file).split(path.sep).join('/'), data: entry.isDirectory() ? null : fs.readFileSync(file) };
      });
    } catch {
      return; // unreadable: PGlite finds no cluster and runs initdb
    }
    const emscripten = this.pg!.Module.FS;
    emscripten.mkdirTree(PGlite.paths.PGDATA);
    for (const { name, data } of entries) {
      const target = `${PGlite.paths.PGDATA}/${name}`;
      if (data) emscripten.writeFile(target, data);
      else emscripten.mkdirTree(target);
    }
  }
}

/** The file system of a new in-memory database: a copy of the template's initdb cluster when there is a usable template. */
export function memoryFs(template?: string | null): MemoryFS {
  const dir = resolveTemplate(template);
  return dir ? new ClusterCopyFS(path.join(dir, 'initdb')) : new MemoryFS();
}

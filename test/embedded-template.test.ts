import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { DatabaseTarget } from '../src/config';
import { createDatabase, migrateLatest, type Database } from '../src/db/database';
import { ensureTemplate, findTemplate, seedDataDir, templateKey, usableTemplate } from '../src/db/template';

// A new embedded database started from the template (src/db/template.ts) is the one initdb and the
// migrations make; a template of another PGlite or other migrations is ignored; a data directory
// holding anything is never written to.
let scratch: string;
let template: string;
const open: Database[] = [];

beforeAll(async () => {
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'qckeys-template-'));
  const found = findTemplate();
  if (found) {
    template = found;
  } else {
    template = path.join(scratch, 'template');
    await ensureTemplate(template);
  }
}, 120_000);
afterEach(async () => {
  for (const db of open.splice(0)) await db.close();
});
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

function database(dataDir: string | null, templateDir: string | null): Database {
  const target: DatabaseTarget = { kind: 'pglite', dataDir };
  const db = createDatabase({ target, timeoutMs: 5000, poolMax: 1, template: templateDir });
  open.push(db);
  return db;
}

/** A copy of the template to change. */
function copyOfTemplate(name: string): string {
  const copy = path.join(scratch, name);
  fs.cpSync(template, copy, { recursive: true });
  return copy;
}

/** What to compare, one text per row, in a fixed order. */
const CATALOG: Record<string, string> = {
  relations: `select relname || ' ' || relkind::text || ' rls=' || relrowsecurity || '/' || relforcerowsecurity || ' ' || coalesce(array_to_string(reloptions, ','), '')
    || ' ' || coalesce(array_to_string(relacl::text[], ','), '') as d from pg_class where relnamespace = 'public'::regnamespace order by 1`,
  columns: `select table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') as d
    from information_schema.columns where table_schema = 'public' order by 1`,
  indexes: `select indexdef as d from pg_indexes where schemaname = 'public' order by 1`,
  constraints: `select conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) as d from pg_constraint
    where connamespace = 'public'::regnamespace order by 1`,
  functions: `select pg_get_functiondef(oid) as d from pg_proc where pronamespace = 'public'::regnamespace order by 1`,
  triggers: `select pg_get_triggerdef(oid) as d from pg_trigger where not tgisinternal order by 1`,
  policies: `select tablename || ' ' || policyname || ' ' || array_to_string(roles, ',') || ' ' || coalesce(qual, '') || ' ' || coalesce(with_check, '') as d
    from pg_policies order by 1`,
  defaultPrivileges: `select defaclrole::regrole || ' ' || defaclobjtype::text || ' ' || array_to_string(defaclacl::text[], ',') as d from pg_default_acl order by 1`,
  roles: `select rolname || ' login=' || rolcanlogin || ' bypassrls=' || rolbypassrls || ' super=' || rolsuper as d from pg_roles order by 1`,
  databases: `select datname || ' ' || pg_encoding_to_char(encoding) || ' ' || datcollate || ' ' || datctype || ' ' || datlocprovider::text as d from pg_database order by 1`,
  settings: `select name || '=' || setting as d from pg_settings where source not in ('default', 'override', 'session', 'client') order by 1`,
  migrations: `select name || ' batch ' || batch as d from knex_migrations order by id`,
  migrationLock: `select index || ' ' || is_locked as d from knex_migrations_lock order by 1`,
};

/** Everything the migrations define, the cluster's roles, databases and settings, and the migration history. */
async function catalog(db: Database): Promise<Record<string, string[]>> {
  const result: Record<string, string[]> = {};
  for (const [part, sql] of Object.entries(CATALOG)) {
    result[part] = ((await db.knex.raw(sql)) as { rows: { d: string }[] }).rows.map((r) => r.d);
  }
  return result;
}

test('a new database from the template is the one initdb and the migrations make, in a data directory and in memory', async () => {
  const plain = database(null, null);
  expect((await migrateLatest(plain)).length).toBeGreaterThan(0);
  const expected = await catalog(plain);
  expect(expected.migrations.length).toBeGreaterThan(0);
  expect(expected.migrations.every((m) => m.endsWith(' batch 1'))).toBe(true);

  // a new data directory starts migrated: nothing is left to apply
  const dataDir = path.join(scratch, 'data', 'pglite');
  const onDisk = database(dataDir, template);
  expect(await migrateLatest(onDisk)).toEqual([]);
  expect(await catalog(onDisk)).toEqual(expected);

  // an in-memory database starts as initdb left it, and migrates as before
  const inMemory = database(null, template);
  expect((await inMemory.knex.raw(`select count(*)::int as n from pg_tables where schemaname = 'public'`)).rows[0].n).toBe(0);
  expect(await migrateLatest(inMemory)).toEqual(expected.migrations.map((m) => m.replace(/ batch 1$/, '')));
  expect(await catalog(inMemory)).toEqual(expected);
}, 120_000);

test('a data directory from the template keeps its data across restarts, and is not copied over again', async () => {
  const dataDir = path.join(scratch, 'kept');
  const first = database(dataDir, template);
  await first.knex.raw(`create table kept (v text)`);
  await first.knex.raw(`insert into kept values ('mine')`);
  await first.close();
  open.splice(open.indexOf(first), 1);

  expect(seedDataDir(dataDir, template)).toBe(false);
  const again = database(dataDir, template);
  expect((await again.knex.raw(`select v from kept`)).rows).toEqual([{ v: 'mine' }]);
}, 60_000);

test('only a missing or empty data directory is made from the template', () => {
  const missing = path.join(scratch, 'seed', 'missing');
  expect(seedDataDir(missing, template)).toBe(true);
  expect(fs.existsSync(path.join(missing, 'PG_VERSION'))).toBe(true);

  const empty = path.join(scratch, 'seed', 'empty');
  fs.mkdirSync(empty, { recursive: true });
  expect(seedDataDir(empty, template)).toBe(true);
  expect(fs.existsSync(path.join(empty, 'PG_VERSION'))).toBe(true);

  const used = path.join(scratch, 'seed', 'used');
  fs.mkdirSync(used, { recursive: true });
  fs.writeFileSync(path.join(used, 'notes.txt'), 'keep me');
  expect(seedDataDir(used, template)).toBe(false);
  expect(fs.readdirSync(used)).toEqual(['notes.txt']);

  // nothing left beside them
  expect(fs.readdirSync(path.join(scratch, 'seed')).sort()).toEqual(['empty', 'missing', 'used']);
});

test('a template made by another PGlite release or for other migrations is ignored', async () => {
  const [pglite, migrations] = templateKey().trimEnd().split('\n');
  expect(pglite).toMatch(/^@electric-sql\/pglite \d+\.\d+\.\d+/);
  expect(migrations).toMatch(/^migrations [0-9a-f]{64}$/);

  // a marker in a copy's clusters tells whether a database came from it
  const marked = copyOfTemplate('marked');
  for (const cluster of ['initdb', 'migrated']) {
    const pg = await PGlite.create(path.join(marked, cluster));
    await pg.exec('create table from_template (id int)');
    await pg.close();
  }
  const hasMarker = async (db: Database) => (await db.knex.schema.hasTable('from_template'));
  expect(usableTemplate(marked)).toBe(marked);
  expect(await hasMarker(database(null, marked))).toBe(true);

  const otherRelease = `${pglite.replace(/ .*/, ' 0.0.1')}\n${migrations}\n`;
  const otherMigrations = `${pglite}\nmigrations ${'0'.repeat(64)}\n`;
  for (const key of [otherRelease, otherMigrations, '']) {
    fs.writeFileSync(path.join(marked, 'key'), key);
    expect(usableTemplate(marked)).toBeNull();
    const dataDir = path.join(scratch, 'stale-data');
    expect(seedDataDir(dataDir, marked)).toBe(false);
    expect(fs.existsSync(dataDir)).toBe(false);
  }
  // an in-memory database then runs initdb as without a template
  const plain = database(null, marked);
  expect(await hasMarker(plain)).toBe(false);
  expect((await plain.knex.raw('select 1 as one')).rows).toEqual([{ one: 1 }]);

  // a template missing a cluster is ignored too
  fs.writeFileSync(path.join(marked, 'key'), templateKey());
  fs.rmSync(path.join(marked, 'migrated'), { recursive: true });
  expect(usableTemplate(marked)).toBeNull();
}, 120_000);

import fs from 'node:fs';
import path from 'node:path';
import type { Knex } from 'knex';

const MIGRATIONS_DIR = path.resolve(__dirname, '../../migrations');
const MIGRATION_EXTENSION = __filename.endsWith('.ts') ? '.ts' : '.js';

/** The migration files this code runs (`.ts` from the sources, `.js` from the build), in the order they run. */
export function migrationFiles(directory = MIGRATIONS_DIR): string[] {
  return fs.readdirSync(directory)
    .filter((file) => file.endsWith(MIGRATION_EXTENSION) && !file.endsWith('.d.ts'))
    .map((file) => file.slice(0, -MIGRATION_EXTENSION.length))
    .sort()
    .map((name) => path.join(directory, name + MIGRATION_EXTENSION));
}

/**
 * Migrations by name without extension, so a database migrated from the sources (`.ts`, through
 * tsx) and then served from the build (`.js`), or the other way round, sees the same history.
 */
export function migrationSource(directory = MIGRATIONS_DIR): Knex.MigrationSource<string> {
  return {
    async getMigrations() {
      return migrationFiles(directory).map((file) => path.basename(file, MIGRATION_EXTENSION));
    },
    getMigrationName: (name) => name,
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    getMigration: async (name) => require(path.join(directory, name + MIGRATION_EXTENSION)) as Knex.Migration,
  };
}

export function migrationConfig(): Knex.MigratorConfig {
  return { migrationSource: migrationSource(), tableName: 'knex_migrations' };
}

/** Applies pending migrations (as the connecting user); returns the names applied. */
export async function migrate(knex: Knex): Promise<string[]> {
  // databases migrated before names lost their extension recorded `….ts` or `….js`
  if (await knex.schema.hasTable('knex_migrations')) {
    await knex('knex_migrations').update({ name: knex.raw(`regexp_replace(name, '\\.(ts|js)$', '')`) }).whereRaw(`name ~ '\\.(ts|js)$'`);
  }
  const [, applied] = (await knex.migrate.latest(migrationConfig())) as [number, string[]];
  return applied;
}

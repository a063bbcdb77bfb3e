import type { Knex } from 'knex';
import pg from 'pg';

/** Creates the PostgreSQL database a URL names when it does not exist yet (connecting to `postgres`). */
export async function ensureDatabase(url: string): Promise<boolean> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, ''));
  if (!name) return false;
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const found = await client.query('select 1 from pg_database where datname = $1', [name]);
    if (found.rowCount) return false;
    await client.query(`create database ${pg.escapeIdentifier(name)}`);
    return true;
  } finally {
    await client.end();
  }
}

export interface IndexDefinition { table: string; name: string; definition: string }

/**
 * Secondary indexes of the tables (not those behind a primary key or constraint), with the
 * statement that recreates each one exactly.
 */
export async function secondaryIndexes(db: Knex, tables: string[]): Promise<IndexDefinition[]> {
  const result = await db.raw(
    `select c.relname as "table", ic.relname as name, pg_get_indexdef(i.indexrelid) as definition
     from pg_index i
     join pg_class c on c.oid = i.indrelid
     join pg_class ic on ic.oid = i.indexrelid
     join pg_namespace n on n.oid = c.relnamespace
     where n.nspname = current_schema() and c.relname = any(?::text[])
       and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid)
     order by c.relname, ic.relname`,
    [tables],
  );
  return (result as { rows: IndexDefinition[] }).rows;
}

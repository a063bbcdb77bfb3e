import type { Knex } from 'knex';
import { protect } from './20261201000010_tenant_roles';

// A listing's developers, instances and channels without reading them for every page: each
// account has a stamp that moves with every change of its developers, instances or channels
// (a row added, changed or deleted). The service keeps the records that pages showed with the
// stamp they were read at, and uses them only while the stamp, read in the request's own
// statement, has not moved (src/modules/api-keys/catalog.ts). Per statement, as the key count
// stamps (20261201000020_key_count_stamps.ts): a statement that changes many rows moves it once.

const TABLES = ['developers', 'instances', 'channels'];

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('catalog_stamps', (t) => {
    t.text('account_id').primary();
    t.bigInteger('stamp').notNullable().defaultTo(0);
  });
  await protect(knex, 'catalog_stamps');
  const bump = (rows: string) => `
      insert into catalog_stamps as s (account_id, stamp)
      select distinct account_id, 1 from ${rows} order by account_id
      on conflict (account_id) do update set stamp = s.stamp + 1`;
  await knex.raw(`
    create function catalog_stamps_bump() returns trigger language plpgsql as $$
    begin
      if tg_op = 'DELETE' then
        ${bump('old_rows')};
      else
        ${bump('new_rows')};
      end if;
      return null;
    end $$`);
  for (const table of TABLES) {
    await knex.raw(`create trigger ?? after insert on ?? referencing new table as new_rows for each statement execute function catalog_stamps_bump()`, [`${table}_catalog_stamp_insert`, table]);
    await knex.raw(`create trigger ?? after update on ?? referencing new table as new_rows for each statement execute function catalog_stamps_bump()`, [`${table}_catalog_stamp_update`, table]);
    await knex.raw(`create trigger ?? after delete on ?? referencing old table as old_rows for each statement execute function catalog_stamps_bump()`, [`${table}_catalog_stamp_delete`, table]);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const table of TABLES) {
    for (const event of ['insert', 'update', 'delete']) await knex.raw('drop trigger ?? on ??', [`${table}_catalog_stamp_${event}`, table]);
  }
  await knex.raw('drop function catalog_stamps_bump()');
  await knex.schema.dropTable('catalog_stamps');
}

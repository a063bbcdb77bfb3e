import type { Knex } from 'knex';
import { protect } from './20261201000010_tenant_roles';

// Exact key counts without counting every time: each account has a stamp that moves whenever a
// change could change how many of its keys a listing filter matches (a key created, deleted,
// renamed, moved, revoked, its expiry or teams changed). A count is kept by the service with the
// stamp it was counted at, and is good as long as the stamp has not moved (and, for a filter on
// status, until the next key expires). The stamp is read in the request's own transaction, so a
// replica's kept count is exactly the count of what the request sees.
//
// The triggers are per statement, with transition tables: a bulk change of 10,000 keys moves the
// stamp once, and the usage flush's updates of last_used_at (no counted column) do not move it.

const COUNTED = ['name', 'deleted_at', 'developer_id', 'channel_id', 'instance_id', 'cloud', 'revoked_at', 'expires_at'];

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('api_key_count_stamps', (t) => {
    t.text('account_id').primary();
    t.bigInteger('stamp').notNullable().defaultTo(0);
  });
  await protect(knex, 'api_key_count_stamps');
  const bump = (rows: string) => `
      insert into api_key_count_stamps as s (account_id, stamp)
      select distinct account_id, 1 from ${rows} order by account_id
      on conflict (account_id) do update set stamp = s.stamp + 1`;
  await knex.raw(`
    create function api_key_count_stamps_bump() returns trigger language plpgsql as $$
    begin
      if tg_op = 'INSERT' then
        ${bump('new_rows')};
      elsif tg_op = 'DELETE' then
        ${bump('old_rows')};
      elsif tg_table_name = 'api_keys' then
        ${bump(`(select n.account_id from new_rows n join old_rows o on o.id = n.id
               where (${COUNTED.map((c) => `n.${c}`).join(', ')}) is distinct from (${COUNTED.map((c) => `o.${c}`).join(', ')})) as changed`)};
      else
        ${bump('new_rows')};
      end if;
      return null;
    end $$`);
  for (const table of ['api_keys', 'api_key_teams']) {
    await knex.raw(`create trigger ?? after insert on ?? referencing new table as new_rows for each statement execute function api_key_count_stamps_bump()`, [`${table}_count_stamp_insert`, table]);
    await knex.raw(`create trigger ?? after update on ?? referencing old table as old_rows new table as new_rows for each statement execute function api_key_count_stamps_bump()`, [`${table}_count_stamp_update`, table]);
    await knex.raw(`create trigger ?? after delete on ?? referencing old table as old_rows for each statement execute function api_key_count_stamps_bump()`, [`${table}_count_stamp_delete`, table]);
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['api_keys', 'api_key_teams']) {
    for (const event of ['insert', 'update', 'delete']) await knex.raw('drop trigger ?? on ??', [`${table}_count_stamp_${event}`, table]);
  }
  await knex.raw('drop function api_key_count_stamps_bump()');
  await knex.schema.dropTable('api_key_count_stamps');
}

import type { Knex } from 'knex';

// Name search that row-level security does not turn into a scan of the whole account.
//
// Under the policies of 20261126000020, PostgreSQL may not evaluate a query's own conditions
// before the policy's unless they are leakproof, and `lower()` and `LIKE` are not: the trigram
// index on api_keys cannot serve `search:`, which read every key of the account (100,000 rows,
// 56 ms alone, 850 ms at p95 under load on the benchmark data).
//
// So the names of live keys are kept, lowercased, in a table of their own with the trigram
// index and without policies. The service's role cannot read it: it asks
// api_key_ids_named_like(account, pattern), a SECURITY DEFINER function that answers a caller
// that switched roles (the service's transactions) for the account its transaction is scoped
// to and no other; a caller that did not (the embedded database, DATABASE_ROLE=none, scripts)
// reads every table anyway. The listing then reads the matching keys from
// api_keys as before, under its policy. A trigger on api_keys keeps the table equal to the
// live keys' names in the same transaction.

const schemaOf = async (knex: Knex): Promise<string> =>
  ((await knex.raw('select current_schema() as name')) as { rows: { name: string }[] }).rows[0].name;

async function installed(knex: Knex, extension: string): Promise<boolean> {
  return ((await knex.raw('select 1 from pg_extension where extname = ?', [extension])) as { rows: unknown[] }).rows.length > 0;
}

async function roleExists(knex: Knex, role: string): Promise<boolean> {
  return ((await knex.raw('select 1 from pg_roles where rolname = ?', [role])) as { rows: unknown[] }).rows.length > 0;
}

export async function up(knex: Knex): Promise<void> {
  const schema = await schemaOf(knex);
  const path = `"${schema.replace(/"/g, '""')}", pg_temp`;
  await knex.schema.createTable('api_key_names', (t) => {
    t.text('api_key_id').primary();
    t.text('account_id').notNullable();
    t.text('name_lower').notNullable();
  });
  // the default privileges of 20261126000020 granted the role this table: only the functions below use it
  if (await roleExists(knex, 'qckeys_app')) await knex.raw('revoke all on api_key_names from qckeys_app');

  await knex.raw(`
    create function api_key_names_sync() returns trigger language plpgsql security definer set search_path = ${path} as $$
    begin
      if tg_op = 'DELETE' or new.deleted_at is not null then
        delete from api_key_names where api_key_id = old.id;
      else
        insert into api_key_names (api_key_id, account_id, name_lower) values (new.id, new.account_id, lower(new.name))
        on conflict (api_key_id) do update set account_id = excluded.account_id, name_lower = excluded.name_lower;
      end if;
      return null;
    end $$`);
  await knex.raw(`create trigger api_key_names_sync after insert or delete or update of name, deleted_at on api_keys
    for each row execute function api_key_names_sync()`);

  await knex.raw(`
    create function api_key_ids_named_like(account text, pattern text) returns setof text
    language sql stable security definer set search_path = ${path} as $$
      select api_key_id from api_key_names
      where account_id = account
        and name_lower like pattern escape '\\'
        -- a caller that switched roles (the service) gets the account its transaction is scoped to
        and (current_setting('role') = 'none' or account = current_setting('app.account_id', true)
          or current_setting('app.cross_account', true) = 'on')
    $$`);
  await knex.raw('revoke all on function api_key_ids_named_like(text, text) from public');
  if (await roleExists(knex, 'qckeys_app')) await knex.raw('grant execute on function api_key_ids_named_like(text, text) to qckeys_app');

  // what is already there (api_keys' policy is forced on its owner too), then its index: a
  // million names take a while, more than the service's statement timeout
  await knex.raw(`select set_config('app.cross_account', 'on', true), set_config('statement_timeout', '0', true)`);
  await knex.raw('insert into api_key_names (api_key_id, account_id, name_lower) select id, account_id, lower(name) from api_keys where deleted_at is null');
  if ((await installed(knex, 'pg_trgm')) && (await installed(knex, 'btree_gin'))) {
    await knex.raw('create index api_key_names_trgm_idx on api_key_names using gin (account_id, name_lower gin_trgm_ops)');
    // the index of 20261126000010 that the policies kept from being used
    await knex.raw('drop index if exists api_keys_account_name_trgm_idx');
  } else {
    await knex.raw('create index api_key_names_account_idx on api_key_names (account_id)');
  }
}

export async function down(knex: Knex): Promise<void> {
  if ((await installed(knex, 'pg_trgm')) && (await installed(knex, 'btree_gin'))) {
    await knex.raw(`create index if not exists api_keys_account_name_trgm_idx on api_keys using gin (account_id, lower(name) gin_trgm_ops) where deleted_at is null`);
  }
  await knex.raw('drop trigger if exists api_key_names_sync on api_keys');
  await knex.raw('drop function if exists api_key_names_sync()');
  await knex.raw('drop function if exists api_key_ids_named_like(text, text)');
  await knex.schema.dropTableIfExists('api_key_names');
}

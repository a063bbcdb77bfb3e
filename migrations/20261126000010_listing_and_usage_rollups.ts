import type { Knex } from 'knex';

// Indexes and roll-ups measured on the benchmark data set (1,000,000 keys, 10,000,000
// verifications; see docs/scaling.md).
//
// 1. Name search scoped to the account. The trigram index over every account's names made
//    `search: "ledger"` fetch the matches of all accounts (59,000 heap rows, then a sort);
//    with `account_id` in the same GIN index (btree_gin) only the account's matches are read.
//
// 2. Daily usage per (account, channel, cloud). A 90-day report of the busiest account summed
//    313,000 hourly rows (about 2 s cold); reports grouped by channel or cloud at DAY, WEEK or
//    MONTH granularity, filtered at most by channels and clouds, read these ~1,000 rows
//    instead (the partial days at either end still come from the hourly rows). Statement
//    triggers on usage_hourly keep it equal to the hourly rows in the same transaction,
//    whatever writes them (the usage buffer's upserts, pruning, the seed).
//
// 3. Room on api_keys pages (fillfactor 90) so that bumping version and updated_at, which no
//    index covers, is a HOT update: a bulk team change over 10,000 keys spent 2 of its 4.6 s
//    inserting 10 index entries for each new row version.

async function available(knex: Knex, extension: string): Promise<boolean> {
  const result = await knex.raw('select 1 from pg_available_extensions where name = ?', [extension]);
  return (result as { rows: unknown[] }).rows.length > 0;
}

export async function up(knex: Knex): Promise<void> {
  if ((await available(knex, 'pg_trgm')) && (await available(knex, 'btree_gin'))) {
    await knex.raw('create extension if not exists pg_trgm');
    await knex.raw('create extension if not exists btree_gin');
    await knex.raw(`create index api_keys_account_name_trgm_idx on api_keys using gin (account_id, lower(name) gin_trgm_ops) where deleted_at is null`);
    await knex.raw('drop index if exists api_keys_name_trgm_idx');
  }

  await knex.raw('alter table api_keys set (fillfactor = 90)');

  await knex.schema.createTable('usage_daily_channels', (t) => {
    t.text('account_id').notNullable();
    t.timestamp('day', { useTz: true }).notNullable(); // UTC midnight
    t.text('channel_id').notNullable();
    t.text('cloud').notNullable();
    t.bigInteger('valid').notNullable();
    t.bigInteger('rejected').notNullable();
    t.primary(['account_id', 'day', 'channel_id', 'cloud']);
  });

  // Adds (sign 1) or takes away (sign -1) hourly rows; rows that fall to zero go, so a report
  // never shows a series the hourly rows would not. One lock serializes the daily upserts of
  // concurrent writers (they would otherwise lock daily rows in different orders across the
  // INSERT and UPDATE triggers of one upsert); it is taken after the hourly rows are written
  // and held for the rest of a short flush transaction.
  await knex.raw(`
    create function usage_daily_channels_apply(delta jsonb) returns void language plpgsql as $$
    begin
      perform pg_advisory_xact_lock(7261126010);
      insert into usage_daily_channels as d (account_id, day, channel_id, cloud, valid, rejected)
      select x.account_id, x.day, x.channel_id, x.cloud, sum(x.valid), sum(x.rejected)
      from jsonb_to_recordset(delta) as x(account_id text, day timestamptz, channel_id text, cloud text, valid bigint, rejected bigint)
      group by 1, 2, 3, 4
      order by 1, 2, 3, 4
      on conflict (account_id, day, channel_id, cloud)
      do update set valid = d.valid + excluded.valid, rejected = d.rejected + excluded.rejected;
      delete from usage_daily_channels d
      using (select distinct x.account_id, x.day, x.channel_id, x.cloud
             from jsonb_to_recordset(delta) as x(account_id text, day timestamptz, channel_id text, cloud text)) z
      where d.account_id = z.account_id and d.day = z.day and d.channel_id = z.channel_id and d.cloud = z.cloud
        and d.valid = 0 and d.rejected = 0;
    end $$`);
  const day = `date_trunc('day', hour at time zone 'UTC') at time zone 'UTC'`;
  await knex.raw(`
    create function usage_daily_channels_on_insert() returns trigger language plpgsql as $$
    begin
      perform usage_daily_channels_apply((select jsonb_agg(jsonb_build_object('account_id', account_id, 'day', day, 'channel_id', channel_id,
        'cloud', cloud, 'valid', valid, 'rejected', rejected)) from (select account_id, ${day} as day, channel_id, cloud, sum(valid) as valid,
        sum(rejected) as rejected from new_rows group by 1, 2, 3, 4) s));
      return null;
    end $$`);
  await knex.raw(`
    create function usage_daily_channels_on_delete() returns trigger language plpgsql as $$
    begin
      perform usage_daily_channels_apply((select jsonb_agg(jsonb_build_object('account_id', account_id, 'day', day, 'channel_id', channel_id,
        'cloud', cloud, 'valid', -valid, 'rejected', -rejected)) from (select account_id, ${day} as day, channel_id, cloud, sum(valid) as valid,
        sum(rejected) as rejected from old_rows group by 1, 2, 3, 4) s));
      return null;
    end $$`);
  await knex.raw(`
    create function usage_daily_channels_on_update() returns trigger language plpgsql as $$
    begin
      perform usage_daily_channels_apply((select jsonb_agg(jsonb_build_object('account_id', account_id, 'day', day, 'channel_id', channel_id,
        'cloud', cloud, 'valid', valid, 'rejected', rejected)) from (select account_id, day, channel_id, cloud, sum(valid) as valid,
        sum(rejected) as rejected from (
          select account_id, ${day} as day, channel_id, cloud, valid, rejected from new_rows
          union all
          select account_id, ${day} as day, channel_id, cloud, -valid, -rejected from old_rows) c
        group by 1, 2, 3, 4) s));
      return null;
    end $$`);
  await knex.raw(`create trigger usage_daily_channels_insert after insert on usage_hourly
    referencing new table as new_rows for each statement execute function usage_daily_channels_on_insert()`);
  await knex.raw(`create trigger usage_daily_channels_update after update on usage_hourly
    referencing old table as old_rows new table as new_rows for each statement execute function usage_daily_channels_on_update()`);
  await knex.raw(`create trigger usage_daily_channels_delete after delete on usage_hourly
    referencing old table as old_rows for each statement execute function usage_daily_channels_on_delete()`);

  await knex.raw(`
    create function usage_daily_channels_on_truncate() returns trigger language plpgsql as $$
    begin
      truncate usage_daily_channels;
      return null;
    end $$`);
  await knex.raw(`create trigger usage_daily_channels_truncate after truncate on usage_hourly
    for each statement execute function usage_daily_channels_on_truncate()`);

  // what is already there
  await knex.raw(`
    insert into usage_daily_channels (account_id, day, channel_id, cloud, valid, rejected)
    select account_id, ${day}, channel_id, cloud, sum(valid), sum(rejected) from usage_hourly
    group by 1, 2, 3, 4 having sum(valid) <> 0 or sum(rejected) <> 0`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop trigger if exists usage_daily_channels_insert on usage_hourly');
  await knex.raw('drop trigger if exists usage_daily_channels_update on usage_hourly');
  await knex.raw('drop trigger if exists usage_daily_channels_delete on usage_hourly');
  await knex.raw('drop trigger if exists usage_daily_channels_truncate on usage_hourly');
  await knex.raw('drop function if exists usage_daily_channels_on_truncate()');
  await knex.raw('drop function if exists usage_daily_channels_on_insert()');
  await knex.raw('drop function if exists usage_daily_channels_on_update()');
  await knex.raw('drop function if exists usage_daily_channels_on_delete()');
  await knex.raw('drop function if exists usage_daily_channels_apply(jsonb)');
  await knex.schema.dropTableIfExists('usage_daily_channels');
  const hasTrigrams = await knex.raw(`select 1 from pg_extension where extname = 'pg_trgm'`);
  if ((hasTrigrams as { rows: unknown[] }).rows.length > 0) {
    await knex.raw('create index if not exists api_keys_name_trgm_idx on api_keys using gin (lower(name) gin_trgm_ops) where deleted_at is null');
  }
  await knex.raw('drop index if exists api_keys_account_name_trgm_idx');
  await knex.raw('alter table api_keys reset (fillfactor)');
}

import type { Knex } from 'knex';

// Channels, instances, teams and developers: what keys are bound to.
// Every table carries account_id; names are unique per account, case-insensitively.
/**
 * Creates pg_trgm where the server has it (PostgreSQL's contrib; the embedded build lacks it).
 * Without it, substring search runs without its trigram index.
 */
export async function ensureTrigrams(knex: Knex): Promise<boolean> {
  const available = await knex.raw(`select 1 from pg_available_extensions where name = 'pg_trgm'`);
  if ((available as { rows: unknown[] }).rows.length === 0) return false;
  await knex.raw('create extension if not exists pg_trgm');
  return true;
}

export async function up(knex: Knex): Promise<void> {
  const trigrams = await ensureTrigrams(knex);

  await knex.schema.createTable('channels', (t) => {
    t.text('id').primary();
    t.text('account_id').notNullable();
    t.text('name').notNullable();
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw('create unique index channels_account_name_uq on channels (account_id, lower(name))');

  await knex.schema.createTable('instances', (t) => {
    t.text('id').primary();
    t.text('account_id').notNullable();
    t.text('name').notNullable();
    t.text('cloud').notNullable();
    t.text('url');
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw(`alter table instances add constraint instances_cloud_ck check (cloud in ('SALESFORCE','SERVICENOW','M365'))`);
  await knex.raw('create unique index instances_account_name_uq on instances (account_id, lower(name))');

  await knex.schema.createTable('instance_channels', (t) => {
    t.text('account_id').notNullable();
    t.text('instance_id').notNullable().references('instances.id').onDelete('CASCADE');
    t.text('channel_id').notNullable().references('channels.id').onDelete('RESTRICT');
    t.primary(['instance_id', 'channel_id']);
    t.index(['channel_id'], 'instance_channels_channel_idx');
  });

  await knex.schema.createTable('teams', (t) => {
    t.text('id').primary();
    t.text('account_id').notNullable();
    t.text('name').notNullable();
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.raw('create unique index teams_account_name_uq on teams (account_id, lower(name))');
  // team search (`teams(search:)`) is a substring match
  if (trigrams) await knex.raw('create index teams_name_trgm_idx on teams using gin (lower(name) gin_trgm_ops)');

  await knex.schema.createTable('developers', (t) => {
    t.text('id').primary();
    t.text('account_id').notNullable();
    t.text('name').notNullable();
    t.boolean('active').notNullable().defaultTo(true);
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('deactivated_at', { useTz: true, precision: 3 });
  });
  await knex.raw('create unique index developers_account_name_uq on developers (account_id, lower(name))');

  await knex.schema.createTable('developer_instances', (t) => {
    t.text('account_id').notNullable();
    t.text('developer_id').notNullable().references('developers.id').onDelete('CASCADE');
    t.text('instance_id').notNullable().references('instances.id').onDelete('CASCADE');
    t.timestamp('first_seen_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_seen_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.primary(['developer_id', 'instance_id']);
    // "developers who worked in this instance"
    t.index(['instance_id', 'developer_id'], 'developer_instances_instance_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('developer_instances');
  await knex.schema.dropTable('developers');
  await knex.schema.dropTable('teams');
  await knex.schema.dropTable('instance_channels');
  await knex.schema.dropTable('instances');
  await knex.schema.dropTable('channels');
}

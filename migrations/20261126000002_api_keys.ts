import type { Knex } from 'knex';
import { ensureTrigrams } from './20261126000001_catalog';

// API keys, their secrets (SHA-256 digests only), their teams and their history.
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('api_keys', (t) => {
    t.text('id').primary();
    t.text('account_id').notNullable();
    t.text('name').notNullable();
    t.text('hint').notNullable();
    t.text('cloud').notNullable();
    t.text('instance_id').notNullable().references('instances.id').onDelete('RESTRICT');
    t.text('channel_id').notNullable().references('channels.id').onDelete('RESTRICT');
    t.text('developer_id').notNullable().references('developers.id').onDelete('RESTRICT');
    t.timestamp('expires_at', { useTz: true, precision: 3 }).notNullable();
    t.integer('lifetime_seconds').notNullable();
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('renewed_at', { useTz: true, precision: 3 });
    t.timestamp('revoked_at', { useTz: true, precision: 3 });
    t.text('revocation_reason');
    t.timestamp('last_used_at', { useTz: true, precision: 3 });
    t.timestamp('deleted_at', { useTz: true, precision: 3 });
    t.integer('version').notNullable().defaultTo(1);
  });
  // Names are unique per instance among keys not deleted.
  await knex.raw('create unique index api_keys_instance_name_uq on api_keys (instance_id, lower(name)) where deleted_at is null');
  // One index per sort order of the listing (keyset pagination on (value, id)), all scoped to live keys.
  await knex.raw('create index api_keys_created_idx on api_keys (account_id, created_at, id) where deleted_at is null');
  await knex.raw('create index api_keys_name_idx on api_keys (account_id, lower(name), id) where deleted_at is null');
  await knex.raw('create index api_keys_expires_idx on api_keys (account_id, expires_at, id) where deleted_at is null');
  await knex.raw(`create index api_keys_last_used_idx on api_keys (account_id, coalesce(last_used_at, '-infinity'::timestamptz), id) where deleted_at is null`);
  // Filters by developer, instance and channel; the developer one also counts active keys.
  await knex.raw('create index api_keys_developer_idx on api_keys (developer_id, expires_at) where deleted_at is null and revoked_at is null');
  await knex.raw('create index api_keys_instance_idx on api_keys (instance_id) where deleted_at is null');
  await knex.raw('create index api_keys_channel_idx on api_keys (channel_id) where deleted_at is null');
  // Name search is a case-insensitive substring match.
  if (await ensureTrigrams(knex)) {
    await knex.raw('create index api_keys_name_trgm_idx on api_keys using gin (lower(name) gin_trgm_ops) where deleted_at is null');
  }

  await knex.schema.createTable('api_key_secrets', (t) => {
    t.binary('digest').primary(); // sha256(secret)
    t.text('account_id').notNullable();
    t.text('api_key_id').notNullable().references('api_keys.id').onDelete('CASCADE');
    // null: the current secret; set: a replaced secret that verifies until then (grace period)
    t.timestamp('valid_until', { useTz: true, precision: 3 });
    t.timestamp('created_at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.index(['api_key_id'], 'api_key_secrets_key_idx');
  });

  await knex.schema.createTable('api_key_teams', (t) => {
    t.text('account_id').notNullable();
    t.text('api_key_id').notNullable().references('api_keys.id').onDelete('CASCADE');
    t.text('team_id').notNullable().references('teams.id').onDelete('CASCADE');
    t.primary(['api_key_id', 'team_id']);
    // "keys in team X" filter and per-team counts
    t.index(['team_id', 'api_key_id'], 'api_key_teams_team_idx');
  });

  await knex.schema.createTable('api_key_events', (t) => {
    t.text('id').primary(); // time-ordered
    t.text('account_id').notNullable();
    t.text('api_key_id').notNullable(); // no foreign key: history outlives the key
    t.text('api_key_name').notNullable();
    t.text('type').notNullable();
    t.text('actor').notNullable();
    t.timestamp('at', { useTz: true, precision: 3 }).notNullable().defaultTo(knex.fn.now());
    t.jsonb('changes');
  });
  await knex.raw('create index api_key_events_account_idx on api_key_events (account_id, id)');
  await knex.raw('create index api_key_events_key_idx on api_key_events (api_key_id, id)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('api_key_events');
  await knex.schema.dropTable('api_key_teams');
  await knex.schema.dropTable('api_key_secrets');
  await knex.schema.dropTable('api_keys');
}

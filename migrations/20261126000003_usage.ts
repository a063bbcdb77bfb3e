import type { Knex } from 'knex';

// Hourly roll-ups of verifications. One row per (account, hour, key, dimensions); the
// verifier's buffer adds to it with INSERT … ON CONFLICT. Dimensions of a verification
// whose key is unknown are '' (the row still counts in the account's totals).
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('usage_hourly', (t) => {
    t.text('account_id').notNullable();
    t.timestamp('hour', { useTz: true }).notNullable();
    t.text('api_key_id').notNullable();
    t.text('channel_id').notNullable();
    t.text('instance_id').notNullable();
    t.text('developer_id').notNullable();
    t.text('cloud').notNullable();
    t.specificType('team_ids', 'text[]').notNullable();
    t.integer('valid').notNullable().defaultTo(0);
    t.integer('rejected').notNullable().defaultTo(0);
    // the primary key serves every report: account first, then the time range
    t.primary(['account_id', 'hour', 'api_key_id', 'channel_id', 'instance_id', 'developer_id', 'cloud', 'team_ids']);
  });
  // retention pruning walks hours across accounts
  await knex.raw('create index usage_hourly_hour_idx on usage_hourly (hour)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('usage_hourly');
}

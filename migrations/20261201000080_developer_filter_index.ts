import type { Knex } from 'knex';

// The listing's developer filter over keys of every status. The developer index of
// 20261126000002 holds only keys that are not revoked (it serves the check that a developer
// holding active keys cannot be deactivated), so `developerIds:` alone read every key of the
// table: 56 ms for a developer's 25 keys among 200,000, and 15 pages a second at 16 connections.
// Developer IDs are unique across accounts, as instance and channel IDs, whose indexes are alike.

export async function up(knex: Knex): Promise<void> {
  await knex.raw('create index api_keys_developer_live_idx on api_keys (developer_id) where deleted_at is null');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('drop index api_keys_developer_live_idx');
}

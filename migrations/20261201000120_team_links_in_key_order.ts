import type { Knex } from 'knex';

// A listing filtered by team, newest first (the default order), found its keys either by
// walking all of the account's keys in order and looking each one's links up (a team of 809
// keys among 100,000: some 6,000 lookups), or by reading the team's links and then every one of
// its keys' rows to sort them (809 row reads, 7–15 ms). Each link now carries its key's
// creation time, which never changes, and the team's index is in that order: a page reads the
// team's links newest first from the index and only the rows of the keys it shows, plus those
// other filters pass over (src/modules/api-keys/store.ts, pageKeys). The index replaces the
// team's index of (team_id, api_key_id, account_id): every lookup of a team's keys by team
// reads it as well.

export async function up(knex: Knex): Promise<void> {
  // a million keys' links take a while, more than the service's statement timeout
  await knex.raw(`select set_config('statement_timeout', '0', true)`);
  await knex.raw('alter table api_key_teams add column key_created_at timestamptz');
  await knex.raw('update api_key_teams kt set key_created_at = k.created_at from api_keys k where k.id = kt.api_key_id');
  await knex.raw('alter table api_key_teams alter column key_created_at set not null');
  await knex.raw('create index api_key_teams_team_created_idx on api_key_teams (team_id, key_created_at, api_key_id) include (account_id)');
  await knex.raw('drop index api_key_teams_team_account_idx');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('create index api_key_teams_team_account_idx on api_key_teams (team_id, api_key_id, account_id)');
  await knex.raw('drop index api_key_teams_team_created_idx');
  await knex.raw('alter table api_key_teams drop column key_created_at');
}

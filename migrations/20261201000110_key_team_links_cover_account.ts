import type { Knex } from 'knex';

// A listing filtered by team walks the keys in the listing's order and looks each key's links
// up by its primary key (api_key_id, team_id). Row-level security on api_key_teams checks the
// link's account, which the key did not carry: every lookup read the link's row from the table
// as well (three teams of an account of 100,000 keys: 1,961 lookups, 7,667 buffers for a page).
// The primary key now carries the account (INCLUDE), so the lookups are index-only: 5,890
// buffers, and with parallel plans off (src/db/tenant.ts) the page's statement takes 2.9 ms
// where it took 10.7–12.3 ms. Same key columns, so uniqueness and `on conflict (api_key_id,
// team_id)` are as before, and still one index to write.

export async function up(knex: Knex): Promise<void> {
  // a million keys' links take a while, more than the service's statement timeout
  await knex.raw(`select set_config('statement_timeout', '0', true)`);
  await knex.raw('create unique index api_key_teams_pkey_cover on api_key_teams (api_key_id, team_id) include (account_id)');
  await knex.raw(`alter table api_key_teams drop constraint api_key_teams_pkey,
    add constraint api_key_teams_pkey primary key using index api_key_teams_pkey_cover`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('create unique index api_key_teams_pkey_plain on api_key_teams (api_key_id, team_id)');
  await knex.raw(`alter table api_key_teams drop constraint api_key_teams_pkey,
    add constraint api_key_teams_pkey primary key using index api_key_teams_pkey_plain`);
}

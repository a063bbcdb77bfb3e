import type { Knex } from 'knex';

// A listing's page is read from the order's index alone (index-only scans: the newest-first
// index carries the filtered columns, the key-team links carry their account) only where the
// visibility map says a table page holds no change older readers could miss. Every write to a
// key (a bulk change, a renewal, a key's last use, moved once a minute while it is verified)
// clears its page's bit until a vacuum sets it again, and each index entry then costs a read of
// the table: the expired keys' page of an account of 100,000 keys took 24 ms with 33,838 such
// reads, and 6.5–7.7 ms after a vacuum. By default autovacuum waits for a fifth of a table to
// change (40,000 of 200,000 keys, 200,000 of a million) and for a fifth of it to be new rows;
// these two tables are vacuumed after 1 % and 1,000 rows instead, which on tables whose pages
// are mostly all-visible costs little (a vacuum skips those pages).

const TABLES = ['api_keys', 'api_key_teams'];
const SETTINGS = {
  autovacuum_vacuum_scale_factor: '0.01',
  autovacuum_vacuum_threshold: '1000',
  autovacuum_vacuum_insert_scale_factor: '0.01',
  autovacuum_vacuum_insert_threshold: '1000',
  autovacuum_analyze_scale_factor: '0.02',
};

export async function up(knex: Knex): Promise<void> {
  const settings = Object.entries(SETTINGS).map(([name, value]) => `${name} = ${value}`).join(', ');
  for (const table of TABLES) await knex.raw(`alter table ${table} set (${settings})`);
}

export async function down(knex: Knex): Promise<void> {
  for (const table of TABLES) await knex.raw(`alter table ${table} reset (${Object.keys(SETTINGS).join(', ')})`);
}

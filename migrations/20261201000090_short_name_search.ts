import type { Knex } from 'knex';
import { SYSTEM_ROLE } from './20261201000010_tenant_roles';

// Search as you type from the first character. The names' trigram index (20261126000030) cannot
// serve a term of one or two characters (it has no trigram to look up): such a search read every
// name of the account, twice per page (the page and its count), and a term that matched few
// names ran at 13-26 pages a second at 16 connections, with p97.5 up to 1.6 s.
//
// Each name's distinct one- and two-character substrings are indexed (GIN over an array, with
// the account as the trigram index has it), and api_key_ids_named_like() looks a short term up
// there: a name contains the term exactly when the term is one of its substrings of that length.
// Longer terms, and patterns that are no plain substring search, are matched as before. What a
// term matches is unchanged: the substring, case-insensitive (the names are kept lowercased).

const schemaOf = async (knex: Knex): Promise<string> =>
  ((await knex.raw('select current_schema() as name')) as { rows: { name: string }[] }).rows[0].name;

async function installed(knex: Knex, extension: string): Promise<boolean> {
  return ((await knex.raw('select 1 from pg_extension where extname = ?', [extension])) as { rows: unknown[] }).rows.length > 0;
}

/** The caller's access, as 20261201000010 has it: a caller that switched roles gets the account its transaction is scoped to. */
const MAY_READ = `(current_setting('role') = 'none' or account = current_setting('app.account_id', true)
          or (current_setting('app.cross_account', true) = 'on' and pg_has_role(current_setting('role'), '${SYSTEM_ROLE}', 'MEMBER')))`;

export async function up(knex: Knex): Promise<void> {
  const path = `"${(await schemaOf(knex)).replace(/"/g, '""')}", pg_temp`;
  // every character and every pair of neighbours, repeats and all (GIN keeps each key once per
  // row); plpgsql with regexp_split_to_array builds a million names' arrays 4.6 times faster
  // than a SQL function over generate_series with array_agg(distinct)
  await knex.raw(`
    create function key_name_grams(name text) returns text[] language plpgsql immutable strict parallel safe as $$
    declare
      grams text[] := regexp_split_to_array(name, '');
    begin
      for i in 1 .. char_length(name) - 1 loop
        grams := grams || substr(name, i, 2);
      end loop;
      return grams;
    end $$`);
  // a million names take a while, more than the service's statement timeout
  await knex.raw(`select set_config('statement_timeout', '0', true)`);
  await knex.raw(await installed(knex, 'btree_gin')
    ? 'create index api_key_names_grams_idx on api_key_names using gin (account_id, key_name_grams(name_lower))'
    : 'create index api_key_names_grams_idx on api_key_names using gin (key_name_grams(name_lower))');
  await knex.raw(`
    create or replace function api_key_ids_named_like(account text, pattern text) returns setof text
    language plpgsql stable security definer set search_path = ${path} as $$
    declare
      -- the term of a plain substring pattern ('%' || term, its \\ % _ escaped, || '%')
      term text := regexp_replace(substr(pattern, 2, greatest(char_length(pattern) - 2, 0)), '\\\\(.)', '\\1', 'g');
    begin
      -- the caller's role (a security definer function runs as its owner): one that switched
      -- roles gets the account its transaction is scoped to, or every account when it may span them
      -- (a transaction scoped to no account compares with null: nothing)
      if not coalesce(${MAY_READ}, false) then
        return;
      end if;
      if char_length(term) between 1 and 2 and pattern = '%' || regexp_replace(term, '([\\\\%_])', '\\\\\\1', 'g') || '%' then
        return query select n.api_key_id from api_key_names n
          where n.account_id = account and key_name_grams(n.name_lower) @> array[term];
      else
        return query select n.api_key_id from api_key_names n
          where n.account_id = account and n.name_lower like pattern escape '\\';
      end if;
    end $$`);
  await knex.raw('analyze api_key_names');
}

export async function down(knex: Knex): Promise<void> {
  const path = `"${(await schemaOf(knex)).replace(/"/g, '""')}", pg_temp`;
  await knex.raw(`
    create or replace function api_key_ids_named_like(account text, pattern text) returns setof text
    language sql stable security definer set search_path = ${path} as $$
      select api_key_id from api_key_names
      where account_id = account
        and name_lower like pattern escape '\\'
        and ${MAY_READ}
    $$`);
  await knex.raw('drop index api_key_names_grams_idx');
  await knex.raw('drop function key_name_grams(text)');
}

import type { Knex } from 'knex';

// Row-level security as a backstop for tenant isolation. Every query of the service already
// filters by account; these policies make PostgreSQL refuse rows of other accounts even when a
// query forgets to. The service runs its work as the role below (NOLOGIN, no BYPASSRLS, owner
// of nothing), in transactions that begin with
//   set_config('role', 'qckeys_app', true), set_config('app.account_id', <account>, true)
// Paths that span accounts by design (the platform verifier's lookup of a key by its digest,
// the usage buffer's flush, retention pruning, idempotency housekeeping, platform principals)
// set app.cross_account = 'on' in their own transactions instead.
//
// FORCE makes the policies apply to the tables' owner too (superusers always bypass them): a
// later migration that reads or writes rows must first run
//   select set_config('app.cross_account', 'on', true)
// and a table with account_id added later needs its own policy (see `protect` below).

export const APP_ROLE = 'qckeys_app';
const POLICY = 'account_isolation';
const RULE = `account_id = current_setting('app.account_id', true) or current_setting('app.cross_account', true) = 'on'`;

/** Every table of the schema that carries an account. */
async function accountTables(knex: Knex): Promise<string[]> {
  const result = await knex.raw(
    `select c.relname as name from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
       join pg_attribute a on a.attrelid = c.oid and a.attname = 'account_id' and not a.attisdropped
     where n.nspname = current_schema() and c.relkind in ('r', 'p') order by 1`,
  );
  return (result as { rows: { name: string }[] }).rows.map((r) => r.name);
}

async function protectedTables(knex: Knex): Promise<string[]> {
  const result = await knex.raw(
    `select tablename as name from pg_policies where schemaname = current_schema() and policyname = ? order by 1`, [POLICY],
  );
  return (result as { rows: { name: string }[] }).rows.map((r) => r.name);
}

/** The account policy, forced, and the role's DML grants on one table. */
export async function protect(knex: Knex, table: string): Promise<void> {
  await knex.raw('grant select, insert, update, delete on ?? to ??', [table, APP_ROLE]);
  await knex.raw('alter table ?? enable row level security', [table]);
  await knex.raw('alter table ?? force row level security', [table]);
  await knex.raw(`create policy ?? on ?? using (${RULE}) with check (${RULE})`, [POLICY, table]);
}

export async function up(knex: Knex): Promise<void> {
  // roles belong to the cluster: another database of the same server may have created it already
  await knex.raw(`
    do $$ begin
      create role ${APP_ROLE} nologin nobypassrls;
    exception when duplicate_object or unique_violation then null;
    end $$`);
  // the connecting user must be allowed to switch to the role (a superuser always is)
  await knex.raw(`
    do $$ begin
      if not pg_has_role(current_user, '${APP_ROLE}', 'member') then
        execute format('grant ${APP_ROLE} to %I', current_user);
      end if;
    exception when insufficient_privilege then
      raise warning 'cannot grant ${APP_ROLE} to %: grant it, or set DATABASE_ROLE=none', current_user;
    end $$`);
  await knex.raw('grant usage on schema ?? to ??', [await schemaName(knex), APP_ROLE]);
  for (const table of await accountTables(knex)) await protect(knex, table);
  // tables created later by the same owner get the grants (their policy is up to their migration)
  await knex.raw('alter default privileges in schema ?? grant select, insert, update, delete on tables to ??', [await schemaName(knex), APP_ROLE]);
}

async function schemaName(knex: Knex): Promise<string> {
  const result = await knex.raw('select current_schema() as name');
  return (result as { rows: { name: string }[] }).rows[0].name;
}

export async function down(knex: Knex): Promise<void> {
  const schema = await schemaName(knex);
  for (const table of await protectedTables(knex)) {
    await knex.raw('drop policy ?? on ??', [POLICY, table]);
    await knex.raw('alter table ?? no force row level security', [table]);
    await knex.raw('alter table ?? disable row level security', [table]);
  }
  // the role stays: it belongs to the cluster, and other databases may use it
  const exists = await knex.raw('select 1 from pg_roles where rolname = ?', [APP_ROLE]);
  if ((exists as { rows: unknown[] }).rows.length === 0) return;
  for (const table of await accountTables(knex)) await knex.raw('revoke all on ?? from ??', [table, APP_ROLE]);
  await knex.raw('alter default privileges in schema ?? revoke select, insert, update, delete on tables from ??', [schema, APP_ROLE]);
  await knex.raw('revoke usage on schema ?? from ??', [schema, APP_ROLE]);
}

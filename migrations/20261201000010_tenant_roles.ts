import type { Knex } from 'knex';

// Tenant isolation that an injected statement cannot switch off.
//
// 1. Until now the policies of 20261126000020 let any role see every account once it ran
//    set_config('app.cross_account', 'on', true): the service's own role, whose statements carry
//    requests' input, could do so. Now only members of qckeys_system, the role of the service's
//    work across accounts (the verification lookup, the usage flush, retention), and the owner
//    (migrations, maintenance) may; qckeys_app, the role of every request, sees the account set
//    for its transaction and nothing else, whatever it sets.
//
//    A request's connection could still leave qckeys_app (RESET ROLE, SET ROLE qckeys_system)
//    when its login may: the migration also creates qckeys_authenticator, a login that can
//    become qckeys_app and nothing else, for DATABASE_REQUEST_URL.
//
// 2. The policies' settings are evaluated once per statement ((select …) is an InitPlan), not
//    once per row (a count over 100,000 keys: 49 -> 30 ms).
//
// 3. Every foreign key between account tables includes the account: a key of account A can no
//    longer be linked to a team, instance, channel or developer of account B, by any role.

export const APP_ROLE = 'qckeys_app';
export const SYSTEM_ROLE = 'qckeys_system';
export const AUTHENTICATOR_ROLE = 'qckeys_authenticator';
const POLICY = 'account_isolation';

const OLD_RULE = `account_id = current_setting('app.account_id', true) or current_setting('app.cross_account', true) = 'on'`;
export const RULE = `account_id = (select current_setting('app.account_id', true))
  or (select current_setting('app.cross_account', true) = 'on' and pg_has_role(current_user, '${SYSTEM_ROLE}', 'MEMBER'))`;

/** Tables with the account policy of 20261126000020. */
async function protectedTables(knex: Knex): Promise<string[]> {
  const result = await knex.raw(`select tablename as name from pg_policies where schemaname = current_schema() and policyname = ? order by 1`, [POLICY]);
  return (result as { rows: { name: string }[] }).rows.map((r) => r.name);
}

async function setRule(knex: Knex, rule: string): Promise<void> {
  for (const table of await protectedTables(knex)) {
    await knex.raw('drop policy ?? on ??', [POLICY, table]);
    await knex.raw(`create policy ?? on ?? using (${rule}) with check (${rule})`, [POLICY, table]);
  }
}

/** The account policy, forced, and the service roles' DML grants on a table created after this migration. */
export async function protect(knex: Knex, table: string): Promise<void> {
  await knex.raw('grant select, insert, update, delete on ?? to ??, ??', [table, APP_ROLE, SYSTEM_ROLE]);
  await knex.raw('alter table ?? enable row level security', [table]);
  await knex.raw('alter table ?? force row level security', [table]);
  await knex.raw(`create policy ?? on ?? using (${RULE}) with check (${RULE})`, [POLICY, table]);
}

const schemaOf = async (knex: Knex): Promise<string> =>
  ((await knex.raw('select current_schema() as name')) as { rows: { name: string }[] }).rows[0].name;

/** Creates a role unless the cluster has it (roles belong to the cluster), and lets the connecting user switch to it. */
async function ensureRole(knex: Knex, role: string, attributes: string, grantToOwner: boolean): Promise<void> {
  await knex.raw(`
    do $$ begin
      create role ${role} ${attributes};
    exception when duplicate_object or unique_violation then null;
      when insufficient_privilege then raise warning 'cannot create role ${role}: create it, or set DATABASE_ROLE=none';
    end $$`);
  if (!grantToOwner) return;
  await knex.raw(`
    do $$ begin
      if exists (select 1 from pg_roles where rolname = '${role}') and not pg_has_role(current_user, '${role}', 'member') then
        execute format('grant ${role} to %I', current_user);
      end if;
    exception when insufficient_privilege then
      raise warning 'cannot grant ${role} to %: grant it, or set DATABASE_ROLE=none', current_user;
    end $$`);
}

// Foreign keys that now include the account: [table, columns, parent, on delete, the single-column key it replaces].
const ACCOUNT_KEYS: [string, string, string, string, string][] = [
  ['instance_channels', 'instance_id', 'instances', 'cascade', 'instance_channels_instance_id_foreign'],
  ['instance_channels', 'channel_id', 'channels', 'restrict', 'instance_channels_channel_id_foreign'],
  ['developer_instances', 'developer_id', 'developers', 'cascade', 'developer_instances_developer_id_foreign'],
  ['developer_instances', 'instance_id', 'instances', 'cascade', 'developer_instances_instance_id_foreign'],
  ['api_keys', 'instance_id', 'instances', 'restrict', 'api_keys_instance_id_foreign'],
  ['api_keys', 'channel_id', 'channels', 'restrict', 'api_keys_channel_id_foreign'],
  ['api_keys', 'developer_id', 'developers', 'restrict', 'api_keys_developer_id_foreign'],
  ['api_key_secrets', 'api_key_id', 'api_keys', 'cascade', 'api_key_secrets_api_key_id_foreign'],
  ['api_key_teams', 'api_key_id', 'api_keys', 'cascade', 'api_key_teams_api_key_id_foreign'],
  ['api_key_teams', 'team_id', 'teams', 'cascade', 'api_key_teams_team_id_foreign'],
];
const PARENTS = ['channels', 'instances', 'developers', 'teams', 'api_keys'];

export async function up(knex: Knex): Promise<void> {
  const schema = await schemaOf(knex);
  await knex.raw(`select set_config('statement_timeout', '0', true), set_config('app.cross_account', 'on', true)`);

  await ensureRole(knex, SYSTEM_ROLE, 'nologin nobypassrls', true);
  await ensureRole(knex, AUTHENTICATOR_ROLE, 'login noinherit nobypassrls', false);
  await knex.raw(`
    do $$ begin
      if exists (select 1 from pg_roles where rolname = '${AUTHENTICATOR_ROLE}') then
        grant ${APP_ROLE} to ${AUTHENTICATOR_ROLE};
      end if;
    exception when insufficient_privilege then
      raise warning 'cannot grant ${APP_ROLE} to ${AUTHENTICATOR_ROLE}: grant it to use DATABASE_REQUEST_URL';
    end $$`);
  if ((await knex.raw(`select 1 from pg_roles where rolname = ?`, [SYSTEM_ROLE]) as { rows: unknown[] }).rows.length) {
    await knex.raw('grant usage on schema ?? to ??', [schema, SYSTEM_ROLE]);
    for (const table of await protectedTables(knex)) await knex.raw('grant select, insert, update, delete on ?? to ??', [table, SYSTEM_ROLE]);
    await knex.raw('alter default privileges in schema ?? grant select, insert, update, delete on tables to ??', [schema, SYSTEM_ROLE]);
  }
  await setRule(knex, RULE);

  await knex.raw(`
    create or replace function api_key_ids_named_like(account text, pattern text) returns setof text
    language sql stable security definer set search_path = "${schema.replace(/"/g, '""')}", pg_temp as $$
      select api_key_id from api_key_names
      where account_id = account
        and name_lower like pattern escape '\\'
        -- the caller's role (a security definer function runs as its owner): one that switched
        -- roles gets the account its transaction is scoped to, or every account when it may span them
        and (current_setting('role') = 'none' or account = current_setting('app.account_id', true)
          or (current_setting('app.cross_account', true) = 'on' and pg_has_role(current_setting('role'), '${SYSTEM_ROLE}', 'MEMBER')))
    $$`);

  for (const parent of PARENTS) {
    await knex.raw(`alter table ?? add constraint ?? unique (account_id, id)`, [parent, `${parent}_account_id_uq`]);
  }
  for (const [table, column, parent, onDelete, old] of ACCOUNT_KEYS) {
    await knex.raw(`alter table ?? drop constraint if exists ??`, [table, old]);
    await knex.raw(
      `alter table ?? add constraint ?? foreign key (account_id, ??) references ?? (account_id, id) on delete ${onDelete}`,
      [table, `${table}_${column}_account_fk`, column, parent],
    );
  }
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`select set_config('statement_timeout', '0', true), set_config('app.cross_account', 'on', true)`);
  for (const [table, column, parent, onDelete, old] of ACCOUNT_KEYS) {
    await knex.raw(`alter table ?? drop constraint ??`, [table, `${table}_${column}_account_fk`]);
    await knex.raw(`alter table ?? add constraint ?? foreign key (??) references ?? (id) on delete ${onDelete}`, [table, old, column, parent]);
  }
  for (const parent of PARENTS) await knex.raw(`alter table ?? drop constraint ??`, [parent, `${parent}_account_id_uq`]);
  const schema = await schemaOf(knex);
  await knex.raw(`
    create or replace function api_key_ids_named_like(account text, pattern text) returns setof text
    language sql stable security definer set search_path = "${schema.replace(/"/g, '""')}", pg_temp as $$
      select api_key_id from api_key_names
      where account_id = account
        and name_lower like pattern escape '\\'
        and (current_setting('role') = 'none' or account = current_setting('app.account_id', true)
          or current_setting('app.cross_account', true) = 'on')
    $$`);
  await setRule(knex, OLD_RULE);
  // the roles stay: they belong to the cluster, and other databases may use them
  if ((await knex.raw(`select 1 from pg_roles where rolname = ?`, [SYSTEM_ROLE]) as { rows: unknown[] }).rows.length) {
    for (const table of await protectedTables(knex)) await knex.raw('revoke all on ?? from ??', [table, SYSTEM_ROLE]);
    await knex.raw('alter default privileges in schema ?? revoke select, insert, update, delete on tables from ??', [schema, SYSTEM_ROLE]);
    await knex.raw('revoke usage on schema ?? from ??', [schema, SYSTEM_ROLE]);
  }
}

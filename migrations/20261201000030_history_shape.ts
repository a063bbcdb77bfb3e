import type { Knex } from 'knex';

// History in one shape: every event's `changes` is { field: { from, to } }. Events written before
// held a flat snapshot (CREATED: { instanceId, channelId, developerId, teams, expiresAt }), a bare
// reason (REVOKED: { reason }), a bare grace period (RENEWED: gracePeriodSeconds: n) or nothing
// (DELETED, REVOKED without a reason). They are rewritten to the shape new events have; the names
// shown beside IDs today were not recorded then, and are not made up now. Times are written as new
// events write them (ISO 8601, milliseconds, UTC).

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`select set_config('statement_timeout', '0', true), set_config('app.cross_account', 'on', true)`);
  // CREATED: each field from null (teams from [])
  await knex.raw(`
    update api_key_events set changes = (
      select coalesce(jsonb_object_agg(k, jsonb_build_object('from', case when k = 'teams' then '[]'::jsonb else 'null'::jsonb end, 'to', v)), '{}'::jsonb)
      from jsonb_each(changes) as e(k, v))
    where type = 'CREATED' and changes is not null and not exists (
      select 1 from jsonb_each(changes) as e(k, v) where jsonb_typeof(v) = 'object' and jsonb_exists(v, 'from') and jsonb_exists(v, 'to'))`);
  await knex.raw(`
    update api_key_events set changes = jsonb_build_object('status', jsonb_build_object('from', null, 'to', 'REVOKED'),
      'revokedAt', jsonb_build_object('from', null, 'to', to_jsonb(to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))), 'revocationReason', jsonb_build_object('from', null, 'to', changes -> 'reason'))
    where type = 'REVOKED' and (changes is null or jsonb_exists(changes, 'reason'))`);
  await knex.raw(`
    update api_key_events set changes = jsonb_set(changes, '{gracePeriodSeconds}', jsonb_build_object('from', null, 'to', changes -> 'gracePeriodSeconds'))
    where type = 'RENEWED' and jsonb_typeof(changes -> 'gracePeriodSeconds') = 'number'`);
  await knex.raw(`
    update api_key_events set changes = jsonb_build_object('deletedAt', jsonb_build_object('from', null, 'to', to_jsonb(to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))))
    where type = 'DELETED' and changes is null`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`select set_config('statement_timeout', '0', true), set_config('app.cross_account', 'on', true)`);
  await knex.raw(`
    update api_key_events set changes = (select jsonb_object_agg(k, v -> 'to') from jsonb_each(changes) as e(k, v)
      where k in ('instanceId', 'channelId', 'developerId', 'teams', 'expiresAt'))
    where type = 'CREATED' and changes is not null`);
  await knex.raw(`
    update api_key_events set changes = case when changes -> 'revocationReason' -> 'to' = 'null'::jsonb then null
      else jsonb_build_object('reason', changes -> 'revocationReason' -> 'to') end
    where type = 'REVOKED' and jsonb_exists(changes, 'revocationReason')`);
  await knex.raw(`
    update api_key_events set changes = jsonb_set(changes, '{gracePeriodSeconds}', changes -> 'gracePeriodSeconds' -> 'to')
    where type = 'RENEWED' and jsonb_typeof(changes -> 'gracePeriodSeconds') = 'object'`);
  await knex.raw(`update api_key_events set changes = null where type = 'DELETED'`);
}

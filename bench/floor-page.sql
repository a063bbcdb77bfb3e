-- The first page of the typed client's ApiKeys (first: 50, newest first) with every field it
-- selects, its whole answer built as JSON by PostgreSQL in one statement: the floor's statement
-- (bench/floor-server.cjs). $1 the account, $2 the request's time (a key's status), $3 the count
-- kept for the account; the second column is the account's count stamp, read with the page.
-- Dates and cursors are written as the service writes them (ISO 8601 in UTC with milliseconds;
-- base64url of ["createdAt","id"]); bench/run.ts checks the answer against the service's.
with page as materialized (
  select k.* from api_keys k where k.account_id = $1 and k.deleted_at is null
  order by k.created_at desc, k.id desc limit 51
), shown as materialized (select * from page order by created_at desc, id desc limit 50),
edges as (
  select p.created_at, p.id, json_build_object(
    'cursor', rtrim(translate(encode(convert_to('["' || to_char(p.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || '",' || to_json(p.id)::text || ']', 'UTF8'), 'base64'), E'+/\n', '-_'), '='),
    'node', json_build_object(
      'id', p.id, 'name', p.name, 'hint', p.hint, 'cloud', p.cloud,
      'status', case when p.revoked_at is not null then 'REVOKED' when p.expires_at <= $2 then 'EXPIRED' else 'ACTIVE' end,
      'expiresAt', to_char(p.expires_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      'createdAt', to_char(p.created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      'updatedAt', to_char(p.updated_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      'renewedAt', to_char(p.renewed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      'revokedAt', to_char(p.revoked_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      'revocationReason', p.revocation_reason,
      'lastUsedAt', to_char(p.last_used_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      'version', p.version,
      'instance', json_build_object('id', i.id, 'name', i.name),
      'channel', json_build_object('id', c.id, 'name', c.name),
      'developer', json_build_object('id', d.id, 'name', d.name),
      'teams', coalesce((select json_agg(json_build_object('id', t.id, 'name', t.name) order by lower(t.name), t.id)
                from api_key_teams kt join teams t on t.id = kt.team_id where kt.account_id = $1 and kt.api_key_id = p.id), '[]')
    )) as edge
  from shown p join instances i on i.id = p.instance_id join channels c on c.id = p.channel_id join developers d on d.id = p.developer_id
)
select json_build_object('data', json_build_object('apiKeys', json_build_object(
  'totalCount', $3::int,
  'pageInfo', json_build_object('hasNextPage', (select count(*) from page) > 50, 'hasPreviousPage', false,
     'startCursor', (select e.edge->>'cursor' from edges e order by e.created_at desc, e.id desc limit 1),
     'endCursor', (select e.edge->>'cursor' from edges e order by e.created_at, e.id limit 1)),
  'edges', coalesce((select json_agg(e.edge order by e.created_at desc, e.id desc) from edges e), '[]')
)))::text as body,
coalesce((select stamp from api_key_count_stamps where account_id = $1), 0) as stamp

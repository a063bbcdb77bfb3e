import type { Knex } from 'knex';
import type { UsageDimension, UsageGranularity } from '../../generated/graphql';

export interface UsageQuery {
  accountId: string;
  from: Date;
  to: Date;
  channelIds: string[];
  instanceIds: string[];
  teamIds: string[];
  developerIds: string[];
  apiKeyIds: string[];
  clouds: string[];
}

const DIMENSION_SQL: Record<UsageDimension, string> = {
  CHANNEL: 'u.channel_id',
  INSTANCE: 'u.instance_id',
  DEVELOPER: 'u.developer_id',
  API_KEY: 'u.api_key_id',
  CLOUD: 'u.cloud',
  // a key in several teams counts in each; a key in none under ''
  TEAM: `unnest(case when cardinality(u.team_ids) = 0 then array['']::text[] else u.team_ids end)`,
};

const TRUNC: Record<UsageGranularity, string> = { HOUR: 'hour', DAY: 'day', WEEK: 'week', MONTH: 'month' };

function matching(db: Knex, q: UsageQuery): Knex.QueryBuilder {
  const b = db('usage_hourly as u').where('u.account_id', q.accountId).where('u.hour', '>=', q.from).where('u.hour', '<', q.to);
  if (q.channelIds.length) b.whereIn('u.channel_id', q.channelIds);
  if (q.instanceIds.length) b.whereIn('u.instance_id', q.instanceIds);
  if (q.developerIds.length) b.whereIn('u.developer_id', q.developerIds);
  if (q.apiKeyIds.length) b.whereIn('u.api_key_id', q.apiKeyIds);
  if (q.clouds.length) b.whereIn('u.cloud', q.clouds);
  if (q.teamIds.length) b.whereRaw('u.team_ids && ?::text[]', [q.teamIds]);
  return b;
}

export interface UsageRow { key: string; bucket: Date; valid: number; rejected: number }

/** Counts per (dimension value, bucket), summed from the hourly roll-ups in one statement. */
export async function usageByDimension(db: Knex, q: UsageQuery, dimension: UsageDimension, granularity: UsageGranularity): Promise<UsageRow[]> {
  const inner = matching(db, q).select(
    db.raw(`${DIMENSION_SQL[dimension]} as key`),
    db.raw(`date_trunc('${TRUNC[granularity]}', u.hour at time zone 'UTC') at time zone 'UTC' as bucket`),
    'u.valid', 'u.rejected',
  );
  const rows: UsageRow[] = await db.from(inner.as('x'))
    .select('key', 'bucket', db.raw('sum(valid)::int as valid'), db.raw('sum(rejected)::int as rejected'))
    .groupBy('key', 'bucket');
  // a team filter keeps only the asked-for teams' series when grouping by team
  return dimension === 'TEAM' && q.teamIds.length ? rows.filter((r) => q.teamIds.includes(r.key)) : rows;
}

const LABEL_TABLE: Partial<Record<UsageDimension, string>> = {
  CHANNEL: 'channels', INSTANCE: 'instances', DEVELOPER: 'developers', API_KEY: 'api_keys', TEAM: 'teams',
};

/** Names of dimension values (deleted keys included: their usage stays). */
export async function labelsOf(db: Knex, accountId: string, dimension: UsageDimension, ids: string[]): Promise<Map<string, string>> {
  const table = LABEL_TABLE[dimension];
  if (!table || ids.length === 0) return new Map(ids.map((id) => [id, id]));
  const rows: { id: string; name: string }[] = await db(table).where({ account_id: accountId }).whereIn('id', ids).select('id', 'name');
  return new Map(rows.map((r) => [r.id, r.name]));
}

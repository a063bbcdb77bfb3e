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

/** Hourly roll-ups of the query as (key, bucket, valid, rejected). */
function hourlyRows(db: Knex, q: UsageQuery, dimension: UsageDimension, granularity: UsageGranularity): Knex.QueryBuilder {
  return matching(db, q).select(
    db.raw(`${DIMENSION_SQL[dimension]} as key`),
    db.raw(`date_trunc('${TRUNC[granularity]}', u.hour at time zone 'UTC') at time zone 'UTC' as bucket`),
    'u.valid', 'u.rejected',
  );
}

/** Sums (key, bucket, valid, rejected) rows per key and bucket. */
function summed(db: Knex, rows: Knex.QueryBuilder): Promise<UsageRow[]> {
  return db.from(rows.as('x'))
    .select('key', 'bucket', db.raw('sum(valid)::int as valid'), db.raw('sum(rejected)::int as rejected'))
    .groupBy('key', 'bucket');
}

const DAY_MS = 86_400_000;

/**
 * Whole-account reports by channel or cloud, by day or coarser, read the daily roll-up
 * `usage_daily_channels` for the whole days of the range and the hourly rows for the partial
 * days at either end: the same sums from ~1,000 rows instead of every hourly row.
 */
function fromDailyRollup(q: UsageQuery, dimension: UsageDimension, granularity: UsageGranularity): boolean {
  return (dimension === 'CHANNEL' || dimension === 'CLOUD') && granularity !== 'HOUR'
    && !q.instanceIds.length && !q.developerIds.length && !q.apiKeyIds.length && !q.teamIds.length;
}

async function usageFromDailyRollup(db: Knex, q: UsageQuery, dimension: UsageDimension, granularity: UsageGranularity): Promise<UsageRow[]> {
  const firstDay = new Date(Math.ceil(q.from.getTime() / DAY_MS) * DAY_MS);
  const endDay = new Date(Math.max(firstDay.getTime(), Math.floor(q.to.getTime() / DAY_MS) * DAY_MS));
  const column = dimension === 'CHANNEL' ? 'channel_id' : 'cloud';
  const trunc = TRUNC[granularity];
  const parts: Knex.QueryBuilder[] = [];
  const daily = () => {
    const b = db('usage_daily_channels as u').where('u.account_id', q.accountId)
      .select(db.raw(`u.${column} as key`), db.raw(`date_trunc('${trunc}', u.day at time zone 'UTC') at time zone 'UTC' as bucket`), 'u.valid', 'u.rejected');
    if (q.channelIds.length) b.whereIn('u.channel_id', q.channelIds);
    if (q.clouds.length) b.whereIn('u.cloud', q.clouds);
    return b;
  };
  if (firstDay < endDay) parts.push(daily().where('u.day', '>=', firstDay).where('u.day', '<', endDay));
  const hourly = (from: Date, to: Date) => hourlyRows(db, { ...q, from, to }, dimension, granularity);
  if (q.from < firstDay) parts.push(hourly(q.from, firstDay < q.to ? firstDay : q.to));
  if (endDay < q.to && firstDay < q.to) {
    // The last, partial day (typically today, up to now): its daily row holds exactly the hours
    // before `to` when the account has no row at `to` or later that day, which one index probe
    // tells; otherwise its hourly rows. Only one of the two branches runs.
    const later = db('usage_hourly as h').where('h.account_id', q.accountId).where('h.hour', '>=', q.to)
      .where('h.hour', '<', new Date(endDay.getTime() + DAY_MS)).select(db.raw('1'));
    parts.push(daily().where('u.day', endDay).whereNotExists(later.clone()));
    parts.push(hourly(endDay, q.to).whereExists(later));
  }
  if (parts.length === 0) return [];
  const [first, ...rest] = parts;
  if (rest.length) first.unionAll(rest, true);
  return summed(db, first);
}

/** Counts per (dimension value, bucket), summed from the roll-ups in one statement. */
export async function usageByDimension(db: Knex, q: UsageQuery, dimension: UsageDimension, granularity: UsageGranularity): Promise<UsageRow[]> {
  if (fromDailyRollup(q, dimension, granularity)) return usageFromDailyRollup(db, q, dimension, granularity);
  const rows = await summed(db, hourlyRows(db, q, dimension, granularity));
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

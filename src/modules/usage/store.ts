import type { Knex } from 'knex';
import { qb, type Db } from '../../db/db';
import type { UsageDimension, UsageGranularity } from '../../generated/graphql';
import { NO_TEAM, OTHERS, REASON_COLUMNS, UNKNOWN_KEY, type CountColumns, type Counts } from './model';

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
  // a key in several teams counts in each; a key in none under '(no team)', an unknown key under ''
  TEAM: `unnest(case when u.api_key_id = '' then array['${UNKNOWN_KEY}']::text[] when cardinality(u.team_ids) = 0 then array['${NO_TEAM}']::text[] else u.team_ids end)`,
};

const TRUNC: Record<UsageGranularity, string> = { HOUR: 'hour', DAY: 'day', WEEK: 'week', MONTH: 'month' };

function matching(q: UsageQuery): Knex.QueryBuilder {
  const b = qb('usage_hourly as u').where('u.account_id', q.accountId).where('u.hour', '>=', q.from).where('u.hour', '<', q.to);
  if (q.channelIds.length) b.whereRaw('u.channel_id = any(?::text[])', [q.channelIds]);
  if (q.instanceIds.length) b.whereRaw('u.instance_id = any(?::text[])', [q.instanceIds]);
  if (q.developerIds.length) b.whereRaw('u.developer_id = any(?::text[])', [q.developerIds]);
  if (q.apiKeyIds.length) b.whereRaw('u.api_key_id = any(?::text[])', [q.apiKeyIds]);
  if (q.clouds.length) b.whereRaw('u.cloud = any(?::text[])', [q.clouds]);
  if (q.teamIds.length) b.whereRaw('u.team_ids && ?::text[]', [q.teamIds]);
  return b;
}

/**
 * One value's counts per bucket, in the buckets' order: their starts (ms since the epoch) and a
 * column per count, each as one JSON array that PostgreSQL builds and the driver parses natively.
 * A report of 7,500 points comes back as a few rows rather than 7,500, without a row object, a
 * parsed timestamp and a counts object per point (the parsing and the garbage of which held the
 * event loop for tens of milliseconds).
 */
export interface UsageColumns extends CountColumns { key: string }

/** The roll-ups' counts: valid, rejected, and the rejections by reason. */
const COUNT_COLUMNS = ['valid', 'rejected', ...REASON_COLUMNS];
/** The counts a report reads: the reasons only when asked for (fewer sums, smaller rows). */
const countColumns = (reasons: boolean) => (reasons ? COUNT_COLUMNS : COUNT_COLUMNS.slice(0, 2));
/** Sums of the counts read, as `type` (int per bucket; float8, exact far past an int, for whole reports). */
const summedCounts = (reasons: boolean, from = '', type = 'int') => countColumns(reasons).map((c) => qb.raw(`sum(${from}${c})::${type} as ${c}`));

type ColumnsRow = { key: string; starts: number[] } & Record<string, number[]>;

/** Rows of (key, bucket, counts…) as one row per key: its buckets' starts and counts as JSON arrays in bucket order. */
function perValue(rows: Knex.QueryBuilder, reasons: boolean, extra: Knex.Raw[] = []): Knex.QueryBuilder {
  return qb.from(rows.as('p')).groupBy('key').select(
    'key',
    qb.raw('json_agg((extract(epoch from bucket) * 1000)::int8 order by bucket) as starts'),
    ...countColumns(reasons).map((c) => qb.raw(`json_agg(${c} order by bucket) as ${c}`)),
    ...extra,
  );
}

const usageColumns = (reasons: boolean) => (r: ColumnsRow): UsageColumns => ({
  key: r.key, starts: r.starts, valid: r.valid, rejected: r.rejected, reasons: reasons ? REASON_COLUMNS.map((c) => r[c]) : null,
});

/** Hourly roll-ups of the query as (key, bucket, counts…). */
function hourlyRows(q: UsageQuery, dimension: UsageDimension, granularity: UsageGranularity, reasons: boolean): Knex.QueryBuilder {
  return matching(q).select(
    qb.raw(`${DIMENSION_SQL[dimension]} as key`),
    qb.raw(`date_trunc('${TRUNC[granularity]}', u.hour at time zone 'UTC') at time zone 'UTC' as bucket`),
    ...countColumns(reasons).map((c) => `u.${c}`),
  );
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

/** The roll-ups as (key, bucket, valid, rejected) rows, not yet summed: daily and hourly ones. */
function fromDailyAndHourly(q: UsageQuery, dimension: UsageDimension, granularity: UsageGranularity, reasons: boolean): Knex.QueryBuilder | null {
  const firstDay = new Date(Math.ceil(q.from.getTime() / DAY_MS) * DAY_MS);
  const endDay = new Date(Math.max(firstDay.getTime(), Math.floor(q.to.getTime() / DAY_MS) * DAY_MS));
  const column = dimension === 'CHANNEL' ? 'channel_id' : 'cloud';
  const trunc = TRUNC[granularity];
  const parts: Knex.QueryBuilder[] = [];
  const daily = () => {
    const b = qb('usage_daily_channels as u').where('u.account_id', q.accountId)
      .select(qb.raw(`u.${column} as key`), qb.raw(`date_trunc('${trunc}', u.day at time zone 'UTC') at time zone 'UTC' as bucket`), ...countColumns(reasons).map((c) => `u.${c}`));
    if (q.channelIds.length) b.whereRaw('u.channel_id = any(?::text[])', [q.channelIds]);
    if (q.clouds.length) b.whereRaw('u.cloud = any(?::text[])', [q.clouds]);
    return b;
  };
  if (firstDay < endDay) parts.push(daily().where('u.day', '>=', firstDay).where('u.day', '<', endDay));
  const hourly = (from: Date, to: Date) => hourlyRows({ ...q, from, to }, dimension, granularity, reasons);
  if (q.from < firstDay) parts.push(hourly(q.from, firstDay < q.to ? firstDay : q.to));
  if (endDay < q.to && firstDay < q.to) {
    // The last, partial day (typically today, up to now): its daily row holds exactly the hours
    // before `to` when the account has no row at `to` or later that day, which one index probe
    // tells; otherwise its hourly rows. Only one of the two branches runs.
    const later = qb('usage_hourly as h').where('h.account_id', q.accountId).where('h.hour', '>=', q.to)
      .where('h.hour', '<', new Date(endDay.getTime() + DAY_MS)).select(qb.raw('1'));
    parts.push(daily().where('u.day', endDay).whereNotExists(later.clone()));
    parts.push(hourly(endDay, q.to).whereExists(later));
  }
  if (parts.length === 0) return null;
  const [first, ...rest] = parts;
  if (rest.length) first.unionAll(rest, true);
  return first;
}

/** The roll-ups' rows that a report sums, as (key, bucket, counts…); null: none can match. */
const sourceOf = (q: UsageQuery, dimension: UsageDimension, granularity: UsageGranularity, reasons: boolean): Knex.QueryBuilder | null =>
  (fromDailyRollup(q, dimension, granularity) ? fromDailyAndHourly(q, dimension, granularity, reasons) : hourlyRows(q, dimension, granularity, reasons));

/** Every verification the query matches, each once, summed in one row. */
export async function usageTotals(db: Db, q: UsageQuery, granularity: UsageGranularity, reasons: boolean): Promise<Counts> {
  const source = sourceOf(q, 'CLOUD', granularity, reasons);
  const row = source && await db.first<Record<string, number | null>>(qb.from(source.as('x')).select(summedCounts(reasons, '', 'float8')));
  const sum = (c: string) => row?.[c] ?? 0;
  return { valid: sum('valid'), rejected: sum('rejected'), reasons: reasons ? REASON_COLUMNS.map(sum) : null };
}

/** Counts per value and bucket: the busiest `top` values, the rest under {@link OTHERS}; `values`: how many there were. */
export interface UsageRows { rows: UsageColumns[]; values: number }

/**
 * Counts per (dimension value, bucket), summed from the roll-ups in one statement. With `top`,
 * PostgreSQL keeps the busiest `top` values and sums the others' counts under {@link OTHERS},
 * so the rows that come back are bounded by what the report shows, however many values there
 * are. The series that are no value ({@link UNKNOWN_KEY}, {@link NO_TEAM}) are kept apart.
 */
export async function usageByDimension(
  db: Db, q: UsageQuery, dimension: UsageDimension, granularity: UsageGranularity, reasons: boolean, top: number | null = null,
): Promise<UsageRows> {
  const source = sourceOf(q, dimension, granularity, reasons);
  if (source === null) return { rows: [], values: 0 };
  const summed = qb.from(source.as('x')).select('key', 'bucket', ...summedCounts(reasons)).groupBy('key', 'bucket');
  // a team filter keeps only the asked-for teams' series when grouping by team
  if (dimension === 'TEAM' && q.teamIds.length) summed.whereRaw('key = any(?::text[])', [q.teamIds]);
  if (top === null) {
    const rows = (await db.rows<ColumnsRow>(perValue(summed, reasons))).map(usageColumns(reasons));
    return { rows, values: rows.length };
  }
  const ranked = qb.from('s').whereRaw('key <> all(?::text[])', [[UNKNOWN_KEY, NO_TEAM]]).groupBy('key')
    .select('key', qb.raw('row_number() over (order by sum(valid + rejected) desc, key) as rank'), qb.raw('count(*) over () as value_count'));
  const shown = qb.from('s').leftJoin('ranked as r', 'r.key', 's.key')
    .select(
      qb.raw('case when r.rank > ? then ? else s.key end as key', [top, OTHERS]), 's.bucket',
      ...summedCounts(reasons, 's.'), qb.raw('max(r.value_count) as value_count'),
    )
    .groupByRaw('1, 2');
  const rows = await db.rows<ColumnsRow & { value_count: number | null }>(
    perValue(shown, reasons, [qb.raw('max(value_count)::int as value_count')]).with('s', summed).with('ranked', ranked),
  );
  return { rows: rows.map(usageColumns(reasons)), values: rows.reduce((n, r) => Math.max(n, r.value_count ?? 0), 0) };
}

export interface UsageBucketRow {
  accountId: string; hour: Date; apiKeyId: string; channelId: string; instanceId: string; developerId: string; cloud: string;
  teamIds: readonly string[]; counts: Counts;
}

/**
 * Adds counts to the hourly roll-ups of one shard in one statement (rows in a fixed order, so
 * concurrent flushes on the shard lock alike); reports sum the shards.
 */
export async function addToRollups(db: Db, shard: number, rows: readonly UsageBucketRow[]): Promise<void> {
  if (rows.length === 0) return;
  await db.execute(qb.raw(
    `insert into usage_hourly as u (account_id, hour, api_key_id, channel_id, instance_id, developer_id, cloud, team_ids, shard, ${COUNT_COLUMNS.join(', ')})
     select a, h, k, c, i, d, cl, case when t = '' then '{}'::text[] else string_to_array(t, ',') end, ?::smallint, ${COUNT_COLUMNS.map((_, n) => `n${n}`).join(', ')}
     from unnest(?::text[], ?::timestamptz[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ${COUNT_COLUMNS.map(() => '?::int[]').join(', ')})
          as x(a, h, k, c, i, d, cl, t, ${COUNT_COLUMNS.map((_, n) => `n${n}`).join(', ')})
     on conflict (account_id, hour, api_key_id, channel_id, instance_id, developer_id, cloud, team_ids, shard)
     do update set ${COUNT_COLUMNS.map((c) => `${c} = u.${c} + excluded.${c}`).join(', ')}`,
    [
      shard,
      rows.map((b) => b.accountId),
      rows.map((b) => b.hour.toISOString()),
      rows.map((b) => b.apiKeyId),
      rows.map((b) => b.channelId),
      rows.map((b) => b.instanceId),
      rows.map((b) => b.developerId),
      rows.map((b) => b.cloud),
      rows.map((b) => b.teamIds.join(',')),
      rows.map((b) => b.counts.valid),
      rows.map((b) => b.counts.rejected),
      ...REASON_COLUMNS.map((_, i) => rows.map((b) => b.counts.reasons?.[i] ?? 0)),
    ],
  ));
}

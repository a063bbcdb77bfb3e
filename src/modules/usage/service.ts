import type { Context } from '../../context';
import { requireReader } from '../../auth/principal';
import type { Db } from '../../db/db';
import { badInput } from '../../errors';
import type { UsageDimension, UsageFilter, UsageGranularity } from '../../generated/graphql';
import { idList } from '../../lib/validate';
import { keyNames } from '../api-keys/keys';
import { channelNames } from '../channels/service';
import { developerNames } from '../developers/service';
import { instanceNames } from '../instances/service';
import { teamNames } from '../teams/service';
import { bucketStart, bucketsBetween, toSeries, type UsageSeries } from './model';
import { usageByDimension, type UsageQuery } from './store';

/** Names of a dimension's values, from the module each belongs to (a cloud is its own name). */
const NAMES: Record<UsageDimension, ((db: Db, accountId: string, ids: readonly string[]) => Promise<Map<string, string>>) | null> = {
  CHANNEL: channelNames, INSTANCE: instanceNames, DEVELOPER: developerNames, API_KEY: keyNames, TEAM: teamNames, CLOUD: null,
};

async function labelsOf(db: Db, accountId: string, dimension: UsageDimension, ids: string[]): Promise<Map<string, string>> {
  const names = NAMES[dimension];
  return names && ids.length ? names(db, accountId, ids) : new Map(ids.map((id) => [id, id]));
}

/** Most buckets one report may span (400 days of hours fit). */
const MAX_BUCKETS = 10_000;

export interface UsageReport {
  groupBy: UsageDimension;
  granularity: UsageGranularity;
  total: number;
  series: UsageSeries[];
}

/** Validates a range and returns its buckets. */
export function bucketsOf(from: Date, to: Date, granularity: UsageGranularity, field: string): Date[] {
  if (!(from < to)) throw badInput(`${field}.to`, 'to must be later than from');
  const hours = (to.getTime() - bucketStart(from, 'HOUR').getTime()) / 3_600_000;
  if (granularity === 'HOUR' && hours > MAX_BUCKETS) throw badInput(`${field}.from`, `At most ${MAX_BUCKETS} buckets; use a larger granularity`);
  if (hours > MAX_BUCKETS * 24 * 31) throw badInput(`${field}.from`, 'The range is too long');
  const buckets = bucketsBetween(from, to, granularity);
  if (buckets.length > MAX_BUCKETS) throw badInput(`${field}.from`, `At most ${MAX_BUCKETS} buckets; use a larger granularity`);
  return buckets;
}

export function unattributedLabel(dimension: UsageDimension): string {
  return dimension === 'TEAM' ? '(no team)' : '(unknown key)';
}

export async function usageReport(
  ctx: Context, filter: UsageFilter, groupBy: UsageDimension, granularity: UsageGranularity,
): Promise<UsageReport> {
  const { accountId } = requireReader(ctx.principal);
  const buckets = bucketsOf(filter.from, filter.to, granularity, 'filter');
  const query: UsageQuery = {
    accountId,
    from: buckets[0],
    to: filter.to,
    channelIds: idList('filter.channelIds', filter.channelIds),
    instanceIds: idList('filter.instanceIds', filter.instanceIds),
    teamIds: idList('filter.teamIds', filter.teamIds),
    developerIds: idList('filter.developerIds', filter.developerIds),
    apiKeyIds: idList('filter.apiKeyIds', filter.apiKeyIds),
    clouds: [...new Set(filter.clouds ?? [])],
  };
  const rows = await usageByDimension(ctx.db, query, groupBy, granularity);
  const byKey = new Map<string, typeof rows>();
  for (const row of rows) {
    const list = byKey.get(row.key);
    if (list) list.push(row);
    else byKey.set(row.key, [row]);
  }
  const ids = [...byKey.keys()].filter((k) => k !== '');
  const labels = await labelsOf(ctx.db, accountId, groupBy, ids);
  const series = [...byKey.entries()]
    .map(([key, list]) => key === ''
      ? toSeries('none', unattributedLabel(groupBy), buckets, list)
      : toSeries(key, labels.get(key) ?? key, buckets, list))
    .sort((a, b) => b.total - a.total || a.label.localeCompare(b.label));
  const total = groupBy === 'TEAM'
    // a key in several teams shows in each series; the report's total counts each verification once
    ? (await usageByDimension(ctx.db, query, 'CLOUD', granularity)).reduce((n, r) => n + Number(r.valid) + Number(r.rejected), 0)
    : series.reduce((n, s) => n + s.total, 0);
  return { groupBy, granularity, total, series };
}

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
import { bucketCount, DEFAULT_SERIES, MAX_SERIES, seriesBound } from './cost';
import { addCounts, bucketsBetween, NO_TEAM, noCounts, OTHERS, toSeries, UNKNOWN_KEY, type Counts, type UsageSeries } from './model';
import { usageByDimension, usageTotals, type UsageQuery } from './store';

/** Names of a dimension's values, from the module each belongs to (a cloud is its own name). */
const NAMES: Record<UsageDimension, ((db: Db, accountId: string, ids: readonly string[]) => Promise<Map<string, string>>) | null> = {
  CHANNEL: channelNames, INSTANCE: instanceNames, DEVELOPER: developerNames, API_KEY: keyNames, TEAM: teamNames, CLOUD: null,
};

async function labelsOf(db: Db, accountId: string, dimension: UsageDimension, ids: string[]): Promise<Map<string, string>> {
  const names = NAMES[dimension];
  return names && ids.length ? names(db, accountId, ids) : new Map(ids.map((id) => [id, id]));
}

/** Most buckets one report may span (400 days of hours fit); the request's usage points bound them further. */
const MAX_BUCKETS = 10_000;

export interface UsageReport {
  groupBy: UsageDimension;
  granularity: UsageGranularity;
  total: number;
  /** All the report's verifications (each once); its `rejections` are made from them when asked for. */
  counts: Counts;
  series: UsageSeries[];
  seriesCount: number;
}

/** Validates a range and returns its buckets. */
export function bucketsOf(from: Date, to: Date, granularity: UsageGranularity, field: string): Date[] {
  if (!(from < to)) throw badInput(`${field}.to`, 'to must be later than from');
  const count = bucketCount(from, to, granularity) as number;
  if (count > MAX_BUCKETS) throw badInput(`${field}.from`, `At most ${MAX_BUCKETS} buckets; use a larger granularity`);
  return bucketsBetween(from, to, granularity);
}

/**
 * Takes points from the request's usage points (src/modules/usage/cost.ts): the request was
 * refused before it ran when it asked for more than it may, as far as its lists' sizes were
 * known; a list longer than that meets this bound here, before the report does any work.
 */
export function spendUsagePoints(ctx: Context, points: number, field: string): void {
  if (points > ctx.usagePoints.left) {
    throw badInput(field, `The request's usage reports would hold more than ${ctx.app.config.usage.maxPoints} points (series × buckets); ask for fewer series, a shorter range or a larger granularity`);
  }
  ctx.usagePoints.left -= points;
}

/** The series that are no value of the dimension, in the order they follow the values: their keys in the roll-ups, and as shown. */
const SPECIAL: Record<string, { kind: UsageSeries['kind']; key: string; label: string }> = {
  [OTHERS]: { kind: 'OTHERS', key: 'others', label: '(others)' },
  [NO_TEAM]: { kind: 'NO_TEAM', key: 'no-team', label: '(no team)' },
  [UNKNOWN_KEY]: { kind: 'UNKNOWN_KEY', key: 'none', label: '(unknown key)' },
};

/** `reasons`: whether the rejections' reasons are asked for (read only then). */
export async function usageReport(
  ctx: Context, filter: UsageFilter, groupBy: UsageDimension, granularity: UsageGranularity, first: number | null | undefined, reasons: boolean,
): Promise<UsageReport> {
  const { accountId } = requireReader(ctx.principal);
  const top = first ?? DEFAULT_SERIES;
  if (!Number.isInteger(top) || top < 1 || top > MAX_SERIES) throw badInput('first', `first must be between 1 and ${MAX_SERIES}`);
  const buckets = bucketsOf(filter.from, filter.to, granularity, 'filter');
  spendUsagePoints(ctx, seriesBound(groupBy, top) * buckets.length, 'first');
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
  const { rows, values } = await usageByDimension(ctx.db, query, groupBy, granularity, reasons, top);
  const byKey = new Map(rows.map((row) => [row.key, row]));
  const ids = [...byKey.keys()].filter((key) => !SPECIAL[key]);
  const labels = await labelsOf(ctx.db, accountId, groupBy, ids);
  const series = ids.map((key) => toSeries(key, labels.get(key) ?? key, buckets, byKey.get(key), reasons))
    .sort((a, b) => b.total - a.total || a.label.localeCompare(b.label));
  // then the series that are no value: the values left out, keys in no team, unknown keys
  for (const [key, { kind, key: shown, label }] of Object.entries(SPECIAL)) {
    const columns = byKey.get(key);
    if (columns) series.push(toSeries(shown, label, buckets, columns, reasons, kind));
  }
  // a key in several teams shows in each series; the report's totals count each verification once
  let all: Counts;
  if (groupBy === 'TEAM') all = await usageTotals(ctx.db, query, granularity, reasons);
  else {
    all = noCounts(reasons);
    for (const s of series) addCounts(all, s.counts);
  }
  return { groupBy, granularity, total: all.valid + all.rejected, counts: all, series, seriesCount: values + (byKey.has(NO_TEAM) ? 1 : 0) };
}

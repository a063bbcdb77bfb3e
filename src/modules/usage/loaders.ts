import DataLoader from 'dataloader';
import type { Db } from '../../db/db';
import type { UsageGranularity } from '../../generated/graphql';
import { toSeries, type UsageSeries } from './model';
import { usageByDimension } from './store';

export interface KeyUsageRequest {
  accountId: string;
  apiKeyId: string;
  label: string;
  from: Date;
  to: Date;
  buckets: Date[];
  granularity: UsageGranularity;
  /** Whether the rejections' reasons are asked for. */
  reasons: boolean;
}

/** `ApiKey.usage` for a whole page of keys: one statement per distinct (range, granularity). */
export function createUsageLoaders(db: Db) {
  return {
    keyUsage: new DataLoader<KeyUsageRequest, UsageSeries, string>(async (requests) => {
      const groups = new Map<string, KeyUsageRequest[]>();
      for (const r of requests) {
        const g = `${r.accountId}|${r.from.toISOString()}|${r.to.toISOString()}|${r.granularity}|${r.reasons}`;
        groups.set(g, [...(groups.get(g) ?? []), r]);
      }
      const results = new Map<KeyUsageRequest, UsageSeries>();
      for (const group of groups.values()) {
        const { accountId, to, buckets, granularity, reasons } = group[0];
        const { rows } = await usageByDimension(db, {
          accountId, from: buckets[0], to, apiKeyIds: group.map((r) => r.apiKeyId),
          channelIds: [], instanceIds: [], teamIds: [], developerIds: [], clouds: [],
        }, 'API_KEY', granularity, reasons);
        for (const r of group) results.set(r, toSeries(r.apiKeyId, r.label, r.buckets, rows.find((row) => row.key === r.apiKeyId), reasons));
      }
      return requests.map((r) => results.get(r) as UsageSeries);
    }, { cacheKeyFn: (r) => `${r.apiKeyId}|${r.from.toISOString()}|${r.to.toISOString()}|${r.granularity}|${r.reasons}` }),
  };
}

import type { Resolvers } from '../../generated/graphql';
import { requireReader } from '../../auth/principal';
import { asksAnywhere } from '../../lib/selection';
import { rejectionsOf } from './model';
import { bucketsOf, spendUsagePoints, usageReport } from './service';

const REJECTIONS = 'rejections';

export const usageResolvers: Resolvers = {
  Query: {
    usage: (_p, { filter, groupBy, granularity, first }, ctx, info) => usageReport(ctx, filter, groupBy, granularity, first, asksAnywhere(info, REJECTIONS)),
  },
  ApiKey: {
    usage: (key, { from, to, granularity }, ctx, info) => {
      const { accountId } = requireReader(ctx.principal);
      const buckets = bucketsOf(from, to, granularity, 'usage');
      spendUsagePoints(ctx, buckets.length, 'usage');
      return ctx.loaders.keyUsage.load({ accountId, apiKeyId: key.id, label: key.name, from, to, buckets, granularity, reasons: asksAnywhere(info, REJECTIONS) });
    },
  },
  // made from the counts only when asked for (the reasons are read only then)
  UsageReport: { rejections: (report) => rejectionsOf(report.counts) },
  UsageSeries: { rejections: (series) => rejectionsOf(series.counts) },
  UsagePoint: { rejections: (point) => rejectionsOf(point) },
};

import type { Resolvers } from '../../generated/graphql';
import { requireReader } from '../../auth/principal';
import { bucketsOf, spendUsagePoints, usageReport } from './service';

export const usageResolvers: Resolvers = {
  Query: {
    usage: (_p, { filter, groupBy, granularity, first }, ctx) => usageReport(ctx, filter, groupBy, granularity, first),
  },
  ApiKey: {
    usage: (key, { from, to, granularity }, ctx) => {
      const { accountId } = requireReader(ctx.principal);
      const buckets = bucketsOf(from, to, granularity, 'usage');
      spendUsagePoints(ctx, buckets.length, 'usage');
      return ctx.loaders.keyUsage.load({ accountId, apiKeyId: key.id, label: key.name, from, to, buckets, granularity });
    },
  },
};

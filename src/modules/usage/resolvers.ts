import type { Resolvers } from '../../generated/graphql';
import { requireReader } from '../../auth/principal';
import { bucketsOf, usageReport } from './service';

export const usageResolvers: Resolvers = {
  Query: {
    usage: (_p, { filter, groupBy, granularity }, ctx) => usageReport(ctx, filter, groupBy, granularity),
  },
  ApiKey: {
    usage: (key, { from, to, granularity }, ctx) => {
      const { accountId } = requireReader(ctx.principal);
      const buckets = bucketsOf(from, to, granularity, 'usage');
      return ctx.loaders.keyUsage.load({ accountId, apiKeyId: key.id, label: key.name, from, to, buckets, granularity });
    },
  },
};

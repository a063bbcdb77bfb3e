import type { Resolvers } from '../../generated/graphql';
import * as service from './service';

export const channelResolvers: Resolvers = {
  Query: {
    channels: (_p, _a, ctx) => service.channels(ctx),
  },
  Mutation: {
    createChannel: async (_p, { input }, ctx) => ({ channel: await service.createChannel(ctx, input) }),
  },
};

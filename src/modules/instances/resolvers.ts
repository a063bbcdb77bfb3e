import type { Resolvers } from '../../generated/graphql';
import { developersOfInstance } from '../developers/service';
import * as service from './service';

export const instanceResolvers: Resolvers = {
  Query: {
    instances: (_p, { cloud }, ctx) => service.instances(ctx, cloud),
  },
  Mutation: {
    createInstance: async (_p, { input }, ctx) => ({ instance: await service.createInstance(ctx, input) }),
    updateInstance: async (_p, { input }, ctx) => ({ instance: await service.updateInstance(ctx, input) }),
  },
  Instance: {
    channels: (instance, _a, ctx) => service.channelsOfInstance(ctx, instance),
    developers: (instance, args, ctx) => developersOfInstance(ctx, instance.id, args),
  },
};

import type { Resolvers } from '../../generated/graphql';
import * as service from './service';

export const developerResolvers: Resolvers = {
  Query: {
    developers: (_p, args, ctx) => service.developers(ctx, args),
  },
  Mutation: {
    recordDeveloperActivity: async (_p, { input }, ctx) => ({ developer: await service.recordDeveloperActivity(ctx, input) }),
    deactivateDeveloper: (_p, { input }, ctx) => service.deactivateDeveloper(ctx, input),
  },
  Developer: {
    instances: (developer, _a, ctx) => service.instancesOfDeveloper(ctx, developer),
    activeApiKeyCount: (developer, _a, ctx) => ctx.loaders.activeKeyCountByDeveloperId.load(developer.id),
  },
};

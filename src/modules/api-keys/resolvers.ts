import type { Resolvers } from '../../generated/graphql';
import { statusOf } from './model';
import { relationsAsked } from './selection';
import * as service from './service';

export const apiKeyResolvers: Resolvers = {
  Query: {
    apiKey: (_p, { id }, ctx) => service.apiKey(ctx, id),
    apiKeys: (_p, args, ctx, info) => service.apiKeys(ctx, args, relationsAsked(info)),
    apiKeyEvents: (_p, args, ctx) => service.apiKeyEvents(ctx, args),
  },
  Mutation: {
    createApiKey: (_p, { input }, ctx) => service.createApiKey(ctx, input),
    updateApiKey: async (_p, { input }, ctx) => ({ apiKey: await service.updateApiKey(ctx, input) }),
    renewApiKey: (_p, { input }, ctx) => service.renewApiKey(ctx, input),
    revokeApiKey: async (_p, { input }, ctx) => ({ apiKey: await service.revokeApiKey(ctx, input) }),
    deleteApiKey: async (_p, { input }, ctx) => ({ deletedApiKeyId: await service.deleteApiKey(ctx, input) }),
    updateApiKeyTeams: (_p, { input }, ctx) => service.updateApiKeyTeams(ctx, input),
  },
  ApiKey: {
    status: (key) => statusOf(key),
    instance: async (key, _a, ctx) => (await ctx.loaders.instanceById.load(key.instanceId))!,
    channel: async (key, _a, ctx) => (await ctx.loaders.channelById.load(key.channelId))!,
    developer: async (key, _a, ctx) => (await ctx.loaders.developerById.load(key.developerId))!,
    teams: (key, _a, ctx) => service.teamsOfKey(ctx, key),
    history: (key, args, ctx) => service.historyOf(ctx, key, args),
  },
  ApiKeyConnection: {
    totalCount: (connection) => connection.totalCount(),
  },
  ApiKeyEventConnection: {
    totalCount: (connection) => connection.totalCount(),
  },
};

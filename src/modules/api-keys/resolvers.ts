import type { Resolvers } from '../../generated/graphql';
import type { ChannelRecord } from '../channels/model';
import type { DeveloperRecord } from '../developers/model';
import type { InstanceRecord } from '../instances/model';
import { statusOf } from './model';
import { relationsAsked } from './selection';
import * as service from './service';

export const apiKeyResolvers: Resolvers = {
  Query: {
    apiKey: (_p, { id }, ctx) => service.apiKey(ctx, id),
    apiKeys: (_p, args, ctx, info) => service.apiKeys(ctx, args, relationsAsked(info)),
    apiKeyEvents: (_p, args, ctx) => service.apiKeyEvents(ctx, args),
    apiKeyFacets: (_p, args, ctx) => service.apiKeyFacets(ctx, args),
  },
  Mutation: {
    createApiKey: (_p, { input }, ctx) => service.createApiKey(ctx, input),
    updateApiKey: async (_p, { input }, ctx) => ({ apiKey: await service.updateApiKey(ctx, input) }),
    renewApiKey: (_p, { input }, ctx) => service.renewApiKey(ctx, input),
    revokeApiKey: async (_p, { input }, ctx) => ({ apiKey: await service.revokeApiKey(ctx, input) }),
    deleteApiKey: async (_p, { input }, ctx) => ({ deletedApiKeyId: await service.deleteApiKey(ctx, input) }),
    updateApiKeyTeams: (_p, { input }, ctx) => service.updateApiKeyTeams(ctx, input),
    revokeApiKeys: (_p, { input }, ctx) => service.revokeApiKeys(ctx, input),
    deleteApiKeys: (_p, { input }, ctx) => service.deleteApiKeys(ctx, input),
  },
  ApiKey: {
    status: (key) => statusOf(key),
    // every key has its instance, channel and developer (foreign keys): never null
    instance: (key, _a, ctx) => ctx.loaders.instanceById.get(key.instanceId) as InstanceRecord | Promise<InstanceRecord>,
    channel: (key, _a, ctx) => ctx.loaders.channelById.get(key.channelId) as ChannelRecord | Promise<ChannelRecord>,
    developer: (key, _a, ctx) => ctx.loaders.developerById.get(key.developerId) as DeveloperRecord | Promise<DeveloperRecord>,
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

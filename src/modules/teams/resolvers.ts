import type { Resolvers } from '../../generated/graphql';
import * as service from './service';

export const teamResolvers: Resolvers = {
  Query: {
    teams: (_p, args, ctx) => service.teams(ctx, args),
  },
  Mutation: {
    createTeam: async (_p, { input }, ctx) => ({ team: await service.createTeam(ctx, input) }),
    renameTeam: async (_p, { input }, ctx) => ({ team: await service.renameTeam(ctx, input) }),
    deleteTeam: async (_p, { input }, ctx) => ({ deletedTeamId: await service.deleteTeam(ctx, input) }),
  },
  Team: {
    apiKeyCount: (team, _a, ctx) => ctx.loaders.apiKeyCountByTeamId.load(team.id),
  },
};

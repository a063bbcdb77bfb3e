import type { Resolvers } from '../../generated/graphql';
import { requireVerifier } from '../../auth/principal';
import { badInput } from '../../errors';

export const verificationResolvers: Resolvers = {
  Mutation: {
    verifyApiKey: (_p, { input }, ctx) => {
      const principal = requireVerifier(ctx.principal);
      if (input.key.length > 1000) throw badInput('input.key', 'Must be at most 1000 characters');
      return ctx.app.verifier.verify(principal, input.key, input.instanceId ?? null);
    },
  },
  VerifyApiKeyPayload: {
    apiKey: (result, _a, ctx) => (result.key ? ctx.loaders.apiKeyById.load(result.key.id) : null),
  },
};

import type { Context } from '../../context';
import { requireReader } from '../../auth/principal';
import type { Resolvers } from '../../generated/graphql';
import { typeOfId, type NodeType } from '../../lib/ids';
import { apiKeyEvent } from '../api-keys/service';
import type { ApiKeyEventRecord, ApiKeyRecord } from '../api-keys/model';
import type { ChannelRecord } from '../channels/model';
import type { DeveloperRecord } from '../developers/model';
import type { InstanceRecord } from '../instances/model';
import type { TeamRecord } from '../teams/model';

type NodeRecord = ApiKeyRecord | ApiKeyEventRecord | InstanceRecord | ChannelRecord | TeamRecord | DeveloperRecord;

async function loadNode(ctx: Context, id: string): Promise<NodeRecord | null> {
  requireReader(ctx.principal);
  const l = ctx.loaders;
  switch (typeOfId(id)) {
    case 'ApiKey': return l.apiKeyById.load(id);
    case 'Instance': return l.instanceById.load(id);
    case 'Channel': return l.channelById.load(id);
    case 'Team': return l.teamById.load(id);
    case 'Developer': return l.developerById.load(id);
    case 'ApiKeyEvent': return apiKeyEvent(ctx, id);
    default: return null;
  }
}

export const viewerResolvers: Resolvers = {
  Query: {
    // like every query, for admins and viewers: a verifier token only verifies keys
    viewer: (_p, _a, ctx) => requireReader(ctx.principal),
    node: (_p, { id }, ctx) => loadNode(ctx, id),
  },
  Node: {
    __resolveType: (node) => typeOfId(node.id) as NodeType,
  },
};

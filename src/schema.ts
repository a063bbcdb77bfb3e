import fs from 'node:fs';
import path from 'node:path';
import { DateTimeResolver, JSONResolver } from 'graphql-scalars';
import type { Resolvers } from './generated/graphql';
import { apiKeyResolvers } from './modules/api-keys/resolvers';
import { channelResolvers } from './modules/channels/resolvers';
import { developerResolvers } from './modules/developers/resolvers';
import { instanceResolvers } from './modules/instances/resolvers';
import { teamResolvers } from './modules/teams/resolvers';
import { usageResolvers } from './modules/usage/resolvers';
import { verificationResolvers } from './modules/verification/resolvers';
import { viewerResolvers } from './modules/viewer/resolvers';

export const SCHEMA_DIR = path.resolve(__dirname, __filename.endsWith('.ts') ? '../schema' : '../../schema');

/** The SDL files of `schema/`, in a stable order. */
export function loadTypeDefs(dir = SCHEMA_DIR): string[] {
  return fs.readdirSync(dir).filter((f) => f.endsWith('.graphql')).sort().map((f) => fs.readFileSync(path.join(dir, f), 'utf8'));
}

const connectionTotals: Resolvers = {
  TeamConnection: { totalCount: (c) => c.totalCount() },
  DeveloperConnection: { totalCount: (c) => c.totalCount() },
};

/** Each domain's resolvers, merged type by type. */
export function buildResolvers(): Resolvers {
  const parts: Resolvers[] = [
    { DateTime: DateTimeResolver, JSON: JSONResolver },
    viewerResolvers, apiKeyResolvers, channelResolvers, developerResolvers, instanceResolvers, teamResolvers,
    usageResolvers, verificationResolvers, connectionTotals,
  ];
  const merged: Record<string, unknown> = {};
  for (const part of parts) {
    for (const [type, fields] of Object.entries(part)) {
      const existing = merged[type];
      merged[type] = existing && typeof fields === 'object' && !(fields as object).constructor?.name?.startsWith('GraphQL')
        ? { ...(existing as object), ...(fields as object) }
        : fields;
    }
  }
  return merged as Resolvers;
}

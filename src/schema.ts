import fs from 'node:fs';
import path from 'node:path';
import { GraphQLScalarType } from 'graphql';
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

const isoTexts = new Map<number, string>();

/**
 * graphql-scalars' DateTime (the same checks and the same text), answering the ISO text rather than
 * the Date, which JSON.stringify would format later. The texts of recent instants are kept (at most
 * 20,000): a usage report's points share their buckets' starts across its series, and formatting
 * 7,500 of them (~1 µs each) was most of the time spent writing the largest answer.
 */
const DateTime = new GraphQLScalarType({
  ...DateTimeResolver.toConfig(),
  serialize(value) {
    const date = DateTimeResolver.serialize(value) as Date;
    const time = date.getTime();
    let text = isoTexts.get(time);
    if (text === undefined) {
      if (isoTexts.size >= 20_000) isoTexts.clear();
      text = date.toISOString();
      isoTexts.set(time, text);
    }
    return text;
  },
});

const connectionTotals: Resolvers = {
  TeamConnection: { totalCount: (c) => c.totalCount() },
  DeveloperConnection: { totalCount: (c) => c.totalCount() },
};

/** Each domain's resolvers, merged type by type. */
export function buildResolvers(): Resolvers {
  const parts: Resolvers[] = [
    { DateTime, JSON: JSONResolver },
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

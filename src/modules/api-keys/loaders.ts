import DataLoader from 'dataloader';
import type { Knex } from 'knex';
import { mapTo, mapToMany } from '../../lib/loaders';
import type { ApiKeyRecord } from './model';
import { keysByIds, teamIdsOfKeys } from './store';

export function createApiKeyLoaders(db: Knex, accountId: string | null) {
  return {
    apiKeyById: new DataLoader<string, ApiKeyRecord | null>(async (ids) =>
      mapTo(ids, await keysByIds(db, accountId, ids), (k) => k.id)),
    teamIdsByApiKeyId: new DataLoader<string, string[]>(async (ids) =>
      mapToMany(ids, await teamIdsOfKeys(db, ids), (r) => r.apiKeyId).map((rows) => rows.map((r) => r.teamId))),
  };
}

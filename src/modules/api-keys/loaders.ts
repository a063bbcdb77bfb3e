import type { Knex } from 'knex';
import { Loader, mapTo, mapToMany } from '../../lib/loaders';
import type { ApiKeyRecord } from './model';
import { keysByIds, teamIdsOfKeys } from './store';

export function createApiKeyLoaders(db: Knex, accountId: string | null) {
  return {
    apiKeyById: new Loader<string, ApiKeyRecord | null>(async (ids) =>
      mapTo(ids, await keysByIds(db, accountId, ids), (k) => k.id)),
    teamIdsByApiKeyId: new Loader<string, string[]>(async (ids) =>
      mapToMany(ids, await teamIdsOfKeys(db, ids), (r) => r.apiKeyId).map((rows) => rows.map((r) => r.teamId))),
  };
}

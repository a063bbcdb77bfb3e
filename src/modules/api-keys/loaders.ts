import type { Db } from '../../db/db';
import type { Tenant } from '../../db/tenant';
import type { Clock } from '../../lib/clock';
import { Loader, mapTo, mapToMany } from '../../lib/loaders';
import type { ApiKeyRecord } from './model';
import { activeKeyCountsOfDevelopers, keyCountsOfTeams, keysByIds, teamsOfKeys } from './store';

export function createApiKeyLoaders(db: Db, tenant: Tenant, clock: Clock) {
  return {
    apiKeyById: new Loader<string, ApiKeyRecord | null>(async (ids) =>
      mapTo(ids, await keysByIds(db, tenant, ids), (k) => k.id)),
    teamIdsByApiKeyId: new Loader<string, string[]>(async (ids) =>
      mapToMany(ids, await teamsOfKeys(db, tenant, ids), (r) => r.apiKeyId).map((rows) => rows.map((r) => r.teamId))),
    activeKeyCountByDeveloperId: new Loader<string, number>(async (ids) =>
      mapTo(ids, await activeKeyCountsOfDevelopers(db, tenant, ids, new Date(clock())), (r) => r.developerId).map((r) => r?.n ?? 0)),
    apiKeyCountByTeamId: new Loader<string, number>(async (ids) =>
      mapTo(ids, await keyCountsOfTeams(db, tenant, ids), (r) => r.teamId).map((r) => r?.n ?? 0)),
  };
}

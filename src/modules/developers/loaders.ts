import type { Knex } from 'knex';
import { Loader, mapTo, mapToMany } from '../../lib/loaders';
import type { DeveloperRecord } from './model';
import { activeKeyCounts, developersByIds, instanceIdsOfDevelopers } from './store';

export function createDeveloperLoaders(db: Knex, accountId: string | null) {
  return {
    developerById: new Loader<string, DeveloperRecord | null>(async (ids) =>
      mapTo(ids, await developersByIds(db, accountId, ids), (d) => d.id)),
    instanceIdsByDeveloperId: new Loader<string, string[]>(async (ids) =>
      mapToMany(ids, await instanceIdsOfDevelopers(db, ids), (r) => r.developerId).map((rows) => rows.map((r) => r.instanceId))),
    activeKeyCountByDeveloperId: new Loader<string, number>(async (ids) =>
      mapTo(ids, await activeKeyCounts(db, ids, new Date()), (r) => r.developerId).map((r) => r?.n ?? 0)),
  };
}

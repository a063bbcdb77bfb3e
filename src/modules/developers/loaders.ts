import type { Db } from '../../db/db';
import type { Tenant } from '../../db/tenant';
import { Loader, mapTo, mapToMany } from '../../lib/loaders';
import type { DeveloperRecord } from './model';
import { developersByIds, instanceIdsOfDevelopers } from './store';

export function createDeveloperLoaders(db: Db, tenant: Tenant) {
  return {
    developerById: new Loader<string, DeveloperRecord | null>(async (ids) =>
      mapTo(ids, await developersByIds(db, tenant, ids), (d) => d.id)),
    instanceIdsByDeveloperId: new Loader<string, string[]>(async (ids) =>
      mapToMany(ids, await instanceIdsOfDevelopers(db, tenant, ids), (r) => r.developerId).map((rows) => rows.map((r) => r.instanceId))),
  };
}

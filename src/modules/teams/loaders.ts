import type { Db } from '../../db/db';
import type { Tenant } from '../../db/tenant';
import { Loader, mapTo } from '../../lib/loaders';
import type { TeamRecord } from './model';
import { teamsByIds } from './store';

export function createTeamLoaders(db: Db, tenant: Tenant) {
  return {
    teamById: new Loader<string, TeamRecord | null>(async (ids) =>
      mapTo(ids, await teamsByIds(db, tenant, ids), (t) => t.id)),
  };
}

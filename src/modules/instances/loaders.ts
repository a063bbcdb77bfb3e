import type { Db } from '../../db/db';
import type { Tenant } from '../../db/tenant';
import { Loader, mapTo, mapToMany } from '../../lib/loaders';
import type { InstanceRecord } from './model';
import { channelIdsOfInstances, instancesByIds } from './store';

export function createInstanceLoaders(db: Db, tenant: Tenant) {
  return {
    instanceById: new Loader<string, InstanceRecord | null>(async (ids) =>
      mapTo(ids, await instancesByIds(db, tenant, ids), (i) => i.id)),
    channelIdsByInstanceId: new Loader<string, string[]>(async (ids) =>
      mapToMany(ids, await channelIdsOfInstances(db, tenant, ids), (r) => r.instanceId).map((rows) => rows.map((r) => r.channelId))),
  };
}

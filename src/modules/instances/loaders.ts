import type { Knex } from 'knex';
import { Loader, mapTo, mapToMany } from '../../lib/loaders';
import type { InstanceRecord } from './model';
import { channelIdsOfInstances, instancesByIds } from './store';

export function createInstanceLoaders(db: Knex, accountId: string | null) {
  return {
    instanceById: new Loader<string, InstanceRecord | null>(async (ids) =>
      mapTo(ids, await instancesByIds(db, accountId, ids), (i) => i.id)),
    channelIdsByInstanceId: new Loader<string, string[]>(async (ids) =>
      mapToMany(ids, await channelIdsOfInstances(db, ids), (r) => r.instanceId).map((rows) => rows.map((r) => r.channelId))),
  };
}

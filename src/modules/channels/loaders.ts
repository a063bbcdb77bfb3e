import type { Db } from '../../db/db';
import type { Tenant } from '../../db/tenant';
import { Loader, mapTo } from '../../lib/loaders';
import type { ChannelRecord } from './model';
import { channelsByIds } from './store';

export function createChannelLoaders(db: Db, tenant: Tenant) {
  return {
    channelById: new Loader<string, ChannelRecord | null>(async (ids) =>
      mapTo(ids, await channelsByIds(db, tenant, ids), (c) => c.id)),
  };
}

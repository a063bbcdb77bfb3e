import type { Knex } from 'knex';
import { Loader, mapTo } from '../../lib/loaders';
import type { ChannelRecord } from './model';
import { channelsByIds } from './store';

export function createChannelLoaders(db: Knex, accountId: string | null) {
  return {
    channelById: new Loader<string, ChannelRecord | null>(async (ids) =>
      mapTo(ids, await channelsByIds(db, accountId, ids), (c) => c.id)),
  };
}

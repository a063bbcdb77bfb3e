import type { Context } from '../../context';
import { requireAdmin, requireReader } from '../../auth/principal';
import type { Db } from '../../db/db';
import { inTransaction } from '../../db/transaction';
import { conflict, notFound } from '../../errors';
import { newId } from '../../lib/ids';
import { cleanName } from '../../lib/validate';
import type { ChannelRecord } from './model';
import * as store from './store';

export { channelNames } from './store';

export async function channels(ctx: Context): Promise<ChannelRecord[]> {
  const { accountId } = requireReader(ctx.principal);
  return store.listChannels(ctx.db, accountId);
}

export async function createChannel(ctx: Context, input: { name: string }): Promise<ChannelRecord> {
  const { accountId } = requireAdmin(ctx.principal);
  const name = cleanName('input.name', input.name);
  const record: ChannelRecord = { id: newId('Channel'), accountId, name, createdAt: ctx.now() };
  await inTransaction(ctx, async (tx) => {
    if (await store.channelNameTaken(tx, accountId, name)) throw conflict(`A channel named ${JSON.stringify(name)} already exists`, { field: 'input.name' });
    await store.insertChannel(tx, record);
  });
  return record;
}

/** The account's channels with these IDs, or NOT_FOUND naming the input field. */
export async function requireChannels(ctx: Context, ids: readonly string[], field: string): Promise<ChannelRecord[]> {
  const found = await ctx.loaders.channelById.loadMany(ids);
  return found.map((c, i) => {
    if (!c || c instanceof Error) throw notFound('channel', ids[i], field);
    return c;
  });
}

/** A channel of the account, read in a mutation's transaction, or NOT_FOUND naming the input field. */
export async function channelOfAccount(db: Db, accountId: string, id: string, field: string): Promise<ChannelRecord> {
  const [channel] = await store.channelsByIds(db, accountId, [id]);
  if (!channel) throw notFound('channel', id, field);
  return channel;
}

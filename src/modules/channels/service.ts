import type { Context } from '../../context';
import { requireAdmin, requireReader } from '../../auth/principal';
import { inTransaction } from '../../db/transaction';
import { conflict, notFound } from '../../errors';
import { newId } from '../../lib/ids';
import { cleanName } from '../../lib/validate';
import type { ChannelRecord } from './model';
import { insertChannel, listChannels } from './store';

export async function channels(ctx: Context): Promise<ChannelRecord[]> {
  const { accountId } = requireReader(ctx.principal);
  return listChannels(ctx.knex, accountId);
}

export async function createChannel(ctx: Context, input: { name: string }): Promise<ChannelRecord> {
  const { accountId } = requireAdmin(ctx.principal);
  const name = cleanName('input.name', input.name);
  const record: ChannelRecord = { id: newId('Channel'), accountId, name, createdAt: new Date() };
  await inTransaction(ctx, async (trx) => {
    const clash = await trx('channels').where({ account_id: accountId }).whereRaw('lower(name) = lower(?)', [name]).first('id');
    if (clash) throw conflict(`A channel named ${JSON.stringify(name)} already exists`, { field: 'input.name' });
    await insertChannel(trx, record);
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

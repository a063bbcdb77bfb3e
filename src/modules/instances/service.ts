import type { Context } from '../../context';
import { requireAdmin, requireReader } from '../../auth/principal';
import { inTransaction } from '../../db/transaction';
import { conflict, failedPrecondition, notFound } from '../../errors';
import type { Cloud, CreateInstanceInput, UpdateInstanceInput } from '../../generated/graphql';
import { newId } from '../../lib/ids';
import { cleanName, cleanUrl, idList } from '../../lib/validate';
import { requireChannels } from '../channels/service';
import type { ChannelRecord } from '../channels/model';
import type { InstanceRecord } from './model';
import * as store from './store';

export async function instances(ctx: Context, cloud: Cloud | null | undefined): Promise<InstanceRecord[]> {
  const { accountId } = requireReader(ctx.principal);
  return store.listInstances(ctx.knex, accountId, cloud ?? null);
}

export async function channelsOfInstance(ctx: Context, instance: InstanceRecord): Promise<ChannelRecord[]> {
  const ids = await ctx.loaders.channelIdsByInstanceId.load(instance.id);
  const channels = await ctx.loaders.channelById.loadMany(ids);
  return channels.filter((c): c is ChannelRecord => c !== null && !(c instanceof Error));
}

/** An instance of the caller's account, or NOT_FOUND naming the input field. */
export async function requireInstance(ctx: Context, id: string, field: string): Promise<InstanceRecord> {
  const instance = await ctx.loaders.instanceById.load(id);
  if (!instance) throw notFound('instance', id, field);
  return instance;
}

export async function createInstance(ctx: Context, input: CreateInstanceInput): Promise<InstanceRecord> {
  const { accountId } = requireAdmin(ctx.principal);
  const name = cleanName('input.name', input.name);
  const url = cleanUrl('input.url', input.url);
  const channelIds = idList('input.channelIds', input.channelIds, 100);
  await requireChannels(ctx, channelIds, 'input.channelIds');
  const now = new Date();
  const record: InstanceRecord = { id: newId('Instance'), accountId, name, cloud: input.cloud, url, createdAt: now, updatedAt: now };
  await inTransaction(ctx, async (trx) => {
    if (await store.instanceNameTaken(trx, accountId, name, null)) {
      throw conflict(`An instance named ${JSON.stringify(name)} already exists`, { field: 'input.name' });
    }
    await store.insertInstance(trx, record);
    await store.setInstanceChannels(trx, accountId, record.id, channelIds);
  });
  return record;
}

export async function updateInstance(ctx: Context, input: UpdateInstanceInput): Promise<InstanceRecord> {
  const { accountId } = requireAdmin(ctx.principal);
  const name = input.name != null ? cleanName('input.name', input.name) : null;
  const channelIds = input.channelIds != null ? idList('input.channelIds', input.channelIds, 100) : null;
  if (channelIds) await requireChannels(ctx, channelIds, 'input.channelIds');
  const url = input.url !== undefined ? cleanUrl('input.url', input.url) : undefined;
  return inTransaction(ctx, async (trx) => {
    const current = await store.lockInstance(trx, accountId, input.id);
    if (!current) throw notFound('instance', input.id, 'input.id');
    const next: InstanceRecord = { ...current, name: name ?? current.name, url: url === undefined ? current.url : url, updatedAt: new Date() };
    if (name && (await store.instanceNameTaken(trx, accountId, name, current.id))) {
      throw conflict(`An instance named ${JSON.stringify(name)} already exists`, { field: 'input.name' });
    }
    await store.updateInstanceRow(trx, next);
    if (channelIds) {
      const current = (await store.channelIdsOfInstances(trx, [input.id])).map((r) => r.channelId);
      const removed = current.filter((id) => !channelIds.includes(id));
      const inUse = removed.length ? await store.channelsInUse(trx, input.id, removed) : [];
      if (inUse.length) {
        throw failedPrecondition(`Channels still used by keys of this instance cannot be removed: ${inUse.join(', ')}`, { field: 'input.channelIds' });
      }
      await store.setInstanceChannels(trx, accountId, input.id, channelIds);
    }
    return next;
  });
}

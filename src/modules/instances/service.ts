import type { Context } from '../../context';
import { requireAdmin, requireReader } from '../../auth/principal';
import type { Db } from '../../db/db';
import { inTransaction } from '../../db/transaction';
import { badInput, conflict, failedPrecondition, notFound } from '../../errors';
import type { Cloud, CreateInstanceInput, UpdateInstanceInput } from '../../generated/graphql';
import { newId } from '../../lib/ids';
import { cleanName, cleanUrl, idList } from '../../lib/validate';
import { channelsInUse } from '../api-keys/keys';
import { channelOfAccount, requireChannels } from '../channels/service';
import type { ChannelRecord } from '../channels/model';
import type { InstanceRecord } from './model';
import * as store from './store';

export { instanceNames } from './store';

export async function instances(ctx: Context, cloud: Cloud | null | undefined): Promise<InstanceRecord[]> {
  const { accountId } = requireReader(ctx.principal);
  return store.listInstances(ctx.db, accountId, cloud ?? null);
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

/** An instance of the account, read in a mutation's transaction, or NOT_FOUND naming the input field. */
export async function instanceInAccount(db: Db, accountId: string, id: string, field: string): Promise<InstanceRecord> {
  const [instance] = await store.instancesByIds(db, accountId, [id]);
  if (!instance) throw notFound('instance', id, field);
  return instance;
}

/** The channel, which must exist in the account and be available on the instance. */
export async function requireChannelOnInstance(db: Db, accountId: string, channelId: string, instance: InstanceRecord, field: string): Promise<ChannelRecord> {
  const channel = await channelOfAccount(db, accountId, channelId, field);
  const available = (await store.channelIdsOfInstances(db, accountId, [instance.id])).map((r) => r.channelId);
  if (!available.includes(channelId)) {
    throw badInput(field, `Channel ${JSON.stringify(channel.name)} is not available on instance ${JSON.stringify(instance.name)}`);
  }
  return channel;
}

export async function createInstance(ctx: Context, input: CreateInstanceInput): Promise<InstanceRecord> {
  const { accountId } = requireAdmin(ctx.principal);
  const name = cleanName('input.name', input.name);
  const url = cleanUrl('input.url', input.url);
  const channelIds = idList('input.channelIds', input.channelIds, 100);
  await requireChannels(ctx, channelIds, 'input.channelIds');
  const now = ctx.now();
  const record: InstanceRecord = { id: newId('Instance'), accountId, name, cloud: input.cloud, url, createdAt: now, updatedAt: now };
  await inTransaction(ctx, async (tx) => {
    if (await store.instanceNameTaken(tx, accountId, name, null)) {
      throw conflict(`An instance named ${JSON.stringify(name)} already exists`, { field: 'input.name' });
    }
    await store.insertInstance(tx, record);
    await store.setInstanceChannels(tx, accountId, record.id, channelIds);
  });
  return record;
}

export async function updateInstance(ctx: Context, input: UpdateInstanceInput): Promise<InstanceRecord> {
  const { accountId } = requireAdmin(ctx.principal);
  const name = input.name != null ? cleanName('input.name', input.name) : null;
  const channelIds = input.channelIds != null ? idList('input.channelIds', input.channelIds, 100) : null;
  if (channelIds) await requireChannels(ctx, channelIds, 'input.channelIds');
  const url = input.url !== undefined ? cleanUrl('input.url', input.url) : undefined;
  return inTransaction(ctx, async (tx) => {
    const current = await store.lockInstance(tx, accountId, input.id);
    if (!current) throw notFound('instance', input.id, 'input.id');
    const next: InstanceRecord = { ...current, name: name ?? current.name, url: url === undefined ? current.url : url, updatedAt: ctx.now() };
    if (name && (await store.instanceNameTaken(tx, accountId, name, current.id))) {
      throw conflict(`An instance named ${JSON.stringify(name)} already exists`, { field: 'input.name' });
    }
    await store.updateInstanceRow(tx, next);
    if (channelIds) {
      const available = (await store.channelIdsOfInstances(tx, accountId, [input.id])).map((r) => r.channelId);
      const removed = available.filter((id) => !channelIds.includes(id));
      const inUse = removed.length ? await channelsInUse(tx, accountId, input.id, removed) : [];
      if (inUse.length) {
        throw failedPrecondition(`Channels still used by keys of this instance cannot be removed: ${inUse.join(', ')}`, { field: 'input.channelIds' });
      }
      await store.setInstanceChannels(tx, accountId, input.id, channelIds);
    }
    return next;
  });
}

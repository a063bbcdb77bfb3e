import type { Knex } from 'knex';
import type { Cloud } from '../../generated/graphql';
import type { InstanceRecord } from './model';

interface InstanceRow { id: string; account_id: string; name: string; cloud: Cloud; url: string | null; created_at: Date; updated_at: Date }

const toRecord = (r: InstanceRow): InstanceRecord => ({
  id: r.id, accountId: r.account_id, name: r.name, cloud: r.cloud, url: r.url, createdAt: r.created_at, updatedAt: r.updated_at,
});

export async function listInstances(db: Knex, accountId: string, cloud: Cloud | null): Promise<InstanceRecord[]> {
  const q = db<InstanceRow>('instances').where({ account_id: accountId }).orderByRaw('lower(name), id');
  if (cloud) q.where({ cloud });
  return (await q).map(toRecord);
}

export async function instancesByIds(db: Knex, accountId: string | null, ids: readonly string[]): Promise<InstanceRecord[]> {
  const q = db<InstanceRow>('instances').whereIn('id', ids);
  if (accountId !== null) q.where({ account_id: accountId });
  return (await q).map(toRecord);
}

/** Channel IDs available on each of the instances. */
export async function channelIdsOfInstances(db: Knex, instanceIds: readonly string[]): Promise<{ instanceId: string; channelId: string }[]> {
  const rows: { instance_id: string; channel_id: string }[] = await db('instance_channels')
    .join('channels', 'channels.id', 'instance_channels.channel_id')
    .whereIn('instance_channels.instance_id', instanceIds)
    .orderByRaw('lower(channels.name), channels.id')
    .select('instance_channels.instance_id', 'instance_channels.channel_id');
  return rows.map((r) => ({ instanceId: r.instance_id, channelId: r.channel_id }));
}

export async function insertInstance(db: Knex, r: InstanceRecord): Promise<void> {
  await db('instances').insert({
    id: r.id, account_id: r.accountId, name: r.name, cloud: r.cloud, url: r.url, created_at: r.createdAt, updated_at: r.updatedAt,
  });
}

export async function updateInstanceRow(db: Knex, r: InstanceRecord): Promise<void> {
  await db('instances').where({ id: r.id, account_id: r.accountId }).update({ name: r.name, url: r.url, updated_at: r.updatedAt });
}

/** Replaces the set of channels available on an instance. */
export async function setInstanceChannels(db: Knex, accountId: string, instanceId: string, channelIds: readonly string[]): Promise<void> {
  await db('instance_channels').where({ instance_id: instanceId }).whereNotIn('channel_id', channelIds).delete();
  if (channelIds.length > 0) {
    await db('instance_channels')
      .insert(channelIds.map((channelId) => ({ account_id: accountId, instance_id: instanceId, channel_id: channelId })))
      .onConflict(['instance_id', 'channel_id']).ignore();
  }
}

export async function instanceNameTaken(db: Knex, accountId: string, name: string, exceptId: string | null): Promise<boolean> {
  const q = db('instances').where({ account_id: accountId }).whereRaw('lower(name) = lower(?)', [name]);
  if (exceptId) q.whereNot({ id: exceptId });
  return (await q.first('id')) !== undefined;
}

/** Channels that live keys of the instance still use, among those given. */
export async function channelsInUse(db: Knex, instanceId: string, channelIds: readonly string[]): Promise<string[]> {
  const rows: { channel_id: string }[] = await db('api_keys')
    .where({ instance_id: instanceId })
    .whereNull('deleted_at').whereNull('revoked_at')
    .whereIn('channel_id', channelIds)
    .distinct('channel_id');
  return rows.map((r) => r.channel_id);
}

export async function lockInstance(db: Knex, accountId: string, id: string): Promise<InstanceRecord | null> {
  const row: InstanceRow | undefined = await db('instances').where({ id, account_id: accountId }).forUpdate().first();
  return row ? toRecord(row) : null;
}

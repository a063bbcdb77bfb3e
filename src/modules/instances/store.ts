import { byIds, namesByIds, qb, type Db } from '../../db/db';
import { ALL_ACCOUNTS, type Tenant } from '../../db/tenant';
import type { Cloud } from '../../generated/graphql';
import type { InstanceRecord } from './model';

export interface InstanceRow {
  id: string; account_id: string; name: string; cloud: Cloud; url: string | null; created_at: Date | string; updated_at: Date | string;
}

/** An instance row (from a table, or from JSON with its timestamps as text). */
export const toInstanceRecord = (r: InstanceRow): InstanceRecord => ({
  id: r.id, accountId: r.account_id, name: r.name, cloud: r.cloud, url: r.url, createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at),
});

export async function listInstances(db: Db, accountId: string, cloud: Cloud | null): Promise<InstanceRecord[]> {
  const q = qb('instances').where({ account_id: accountId }).orderByRaw('lower(name), id');
  if (cloud) q.where({ cloud });
  return (await db.rows<InstanceRow>(q)).map(toInstanceRecord);
}

/** Instances by ID, of the tenant's account. */
export async function instancesByIds(db: Db, tenant: Tenant, ids: readonly string[]): Promise<InstanceRecord[]> {
  return (await db.rows<InstanceRow>(byIds('instances', tenant, ids))).map(toInstanceRecord);
}

/** Channel IDs available on each of the account's instances given. */
export async function channelIdsOfInstances(db: Db, tenant: Tenant, instanceIds: readonly string[]): Promise<{ instanceId: string; channelId: string }[]> {
  const q = qb('instance_channels as ic')
    .join('channels as c', 'c.id', 'ic.channel_id')
    .whereRaw('ic.instance_id = any(?::text[])', [[...instanceIds]])
    .orderByRaw('lower(c.name), c.id')
    .select('ic.instance_id', 'ic.channel_id');
  if (tenant !== ALL_ACCOUNTS) q.where('ic.account_id', tenant);
  const rows = await db.rows<{ instance_id: string; channel_id: string }>(q);
  return rows.map((r) => ({ instanceId: r.instance_id, channelId: r.channel_id }));
}

export async function insertInstance(db: Db, r: InstanceRecord): Promise<void> {
  await db.execute(qb('instances').insert({
    id: r.id, account_id: r.accountId, name: r.name, cloud: r.cloud, url: r.url, created_at: r.createdAt, updated_at: r.updatedAt,
  }));
}

export async function updateInstanceRow(db: Db, r: InstanceRecord): Promise<void> {
  await db.execute(qb('instances').where({ id: r.id, account_id: r.accountId }).update({ name: r.name, url: r.url, updated_at: r.updatedAt }));
}

/** Replaces the set of channels available on an instance. */
export async function setInstanceChannels(db: Db, accountId: string, instanceId: string, channelIds: readonly string[]): Promise<void> {
  await db.execute(qb('instance_channels').where({ account_id: accountId, instance_id: instanceId })
    .whereRaw('not (channel_id = any(?::text[]))', [[...channelIds]]).delete());
  if (channelIds.length > 0) {
    await db.execute(qb.raw(
      `insert into instance_channels (account_id, instance_id, channel_id) select ?, ?, c from unnest(?::text[]) as c
       on conflict (instance_id, channel_id) do nothing`,
      [accountId, instanceId, [...channelIds]],
    ));
  }
}

export async function instanceNameTaken(db: Db, accountId: string, name: string, exceptId: string | null): Promise<boolean> {
  const q = qb('instances').where({ account_id: accountId }).whereRaw('lower(name) = lower(?)', [name]);
  if (exceptId) q.whereNot({ id: exceptId });
  return (await db.first(q.first('id'))) !== undefined;
}

export async function lockInstance(db: Db, accountId: string, id: string): Promise<InstanceRecord | null> {
  const row = await db.first<InstanceRow>(qb('instances').where({ id, account_id: accountId }).forUpdate().first());
  return row ? toInstanceRecord(row) : null;
}

/** Names of instances by ID (usage labels). */
export const instanceNames = (db: Db, accountId: string, ids: readonly string[]): Promise<Map<string, string>> => namesByIds(db, 'instances', accountId, ids);

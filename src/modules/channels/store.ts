import { byIds, namesByIds, qb, type Db } from '../../db/db';
import type { Tenant } from '../../db/tenant';
import type { ChannelRecord } from './model';

export interface ChannelRow { id: string; account_id: string; name: string; created_at: Date | string }

/** A channel row (from a table, or from JSON with its timestamps as text). */
export const toChannelRecord = (r: ChannelRow): ChannelRecord => ({
  id: r.id, accountId: r.account_id, name: r.name, createdAt: new Date(r.created_at),
});

export async function listChannels(db: Db, accountId: string): Promise<ChannelRecord[]> {
  const rows = await db.rows<ChannelRow>(qb('channels').where({ account_id: accountId }).orderByRaw('lower(name), id'));
  return rows.map(toChannelRecord);
}

/** Channels by ID, of the tenant's account. */
export async function channelsByIds(db: Db, tenant: Tenant, ids: readonly string[]): Promise<ChannelRecord[]> {
  return (await db.rows<ChannelRow>(byIds('channels', tenant, ids))).map(toChannelRecord);
}

export async function channelNameTaken(db: Db, accountId: string, name: string): Promise<boolean> {
  return (await db.first(qb('channels').where({ account_id: accountId }).whereRaw('lower(name) = lower(?)', [name]).first('id'))) !== undefined;
}

export async function insertChannel(db: Db, record: ChannelRecord): Promise<void> {
  await db.execute(qb('channels').insert({ id: record.id, account_id: record.accountId, name: record.name, created_at: record.createdAt }));
}

/** Names of channels by ID (usage labels). */
export const channelNames = (db: Db, accountId: string, ids: readonly string[]): Promise<Map<string, string>> => namesByIds(db, 'channels', accountId, ids);

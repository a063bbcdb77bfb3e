import type { Knex } from 'knex';
import type { ChannelRecord } from './model';

interface ChannelRow { id: string; account_id: string; name: string; created_at: Date }

const toRecord = (r: ChannelRow): ChannelRecord => ({ id: r.id, accountId: r.account_id, name: r.name, createdAt: r.created_at });

export async function listChannels(db: Knex, accountId: string): Promise<ChannelRecord[]> {
  const rows: ChannelRow[] = await db('channels').where({ account_id: accountId }).orderByRaw('lower(name), id');
  return rows.map(toRecord);
}

/** Channels by ID; with an account, only that account's. */
export async function channelsByIds(db: Knex, accountId: string | null, ids: readonly string[]): Promise<ChannelRecord[]> {
  const q = db<ChannelRow>('channels').whereIn('id', ids);
  if (accountId !== null) q.where({ account_id: accountId });
  return (await q).map(toRecord);
}

export async function insertChannel(db: Knex, record: ChannelRecord): Promise<void> {
  await db('channels').insert({ id: record.id, account_id: record.accountId, name: record.name, created_at: record.createdAt });
}
